//! Bucketing hashes: Switchyard's native MurmurHash3 bucketing, Unleash's normalised MurmurHash3 and
//! LaunchDarkly's SHA-1 bucketing, reproduced bit for bit. Nothing here allocates: every function used
//! while evaluating streams its input pieces into the hash instead of building a concatenated string.
//!
//! # Native (Switchyard)
//!
//! `hash = murmur3_x86_32("{prefix}.{value}", seed 0)` read as unsigned, and
//! `bucket = (hash as u64 * 100_000) >> 32`, in `0..=99_999` ([`native_bucket`]). The prefix is the
//! rollout's seed if it has one, else `"{flag_key}.{flag_salt}"`. Integers are bucketed by their decimal
//! digits ([`format_i64`]).
//!
//! # Unleash
//!
//! `hash = murmur3_x86_32("{group_id}:{value}", seed)` read as unsigned ([`unleash_hash`]).
//! Rollouts: seed 0, `normalized = hash % 100 + 1` (1..=100), enabled when `normalized <= percentage`.
//! Variants: seed [`UNLEASH_VARIANT_SEED`], `target = hash % total_weight + 1`, the first variant whose
//! running weight total is `>= target` wins. [`unleash_normalized`] computes `hash % modulus + 1`.
//!
//! # LaunchDarkly
//!
//! As `launchdarkly-server-sdk-evaluation` 2.2.1 does it (`Context::_bucket`, `BucketPrefix::write_hash`,
//! `VariationOrRollout::variation`, `SegmentRule::matches`):
//!
//! * Hashed bytes: without a rollout seed `"{flag_key}.{salt}.{value}"`; with a seed (an `i64`)
//!   `"{seed}.{value}"` where the seed is written in decimal (`i64::to_string`, so possibly negative),
//!   and the flag key and salt are not used at all. Segment rules always use
//!   `"{segment_key}.{segment_salt}.{value}"`. So the prefix handed to [`launchdarkly_bucket`] is
//!   `"{flag_key}.{salt}"` or the seed's decimal digits ([`format_i64`]).
//! * `value`: a string attribute as is; a number only if it is an integer (`|f| <= 2^53 - 1` and
//!   `f as i64 as f64 == f`), as its decimal digits ([`launchdarkly_bucketable_int`]); anything else, a
//!   missing attribute or a missing context kind gives bucket `0.0` (not the end of the range!).
//!   Experiments always bucket by `key`, whatever `bucketBy` says.
//! * SHA-1 of those bytes, the first 15 hex digits (= the top 60 bits of the digest) as an integer
//!   `n`, then `bucket = n as f32 / (0x0FFF_FFFF_FFFF_FFFF_i64 as f32)` — the division is in **f32**.
//!   `0x0FFF_FFFF_FFFF_FFFF as f32` rounds to exactly `2^60`, and `n as f32` rounds to 24 bits of
//!   mantissa, so the bucket can be exactly `1.0` for the top ~2^-25 of the hash space.
//! * Rollouts: weights are `f32` (JSON numbers, nominally integers 0..=100000). LaunchDarkly runs
//!   `let mut sum: f32 = 0.0; for wv in variations { sum += wv.weight / 100_000.0; if bucket < sum
//!   { return wv } }` and, when nothing matched (bucket 1.0, or weights summing to less than 100000),
//!   serves the **last** weighted variation ([`launchdarkly_rollout_index`]). All of it is f32
//!   arithmetic, accumulated in order; replicate it as is, rounding included.
//! * Segment rule rollouts: `weight: Option<f32>`; when present and `>= 0.0` the rule matches only if
//!   `bucket < weight / 100_000.0` (f32), otherwise (absent or negative) the rule matches
//!   ([`launchdarkly_segment_weight_matches`]).

use std::cmp::Ordering;

/// The MurmurHash3 seed Unleash uses to pick variants (`VARIANT_NORMALIZATION_SEED`).
pub const UNLEASH_VARIANT_SEED: u32 = 86_028_157;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline]
fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

#[inline]
fn mix_h(mut h: u32, k: u32) -> u32 {
    h ^= mix_k(k);
    h = h.rotate_left(13);
    h.wrapping_mul(5).wrapping_add(0xe654_6b64)
}

/// MurmurHash3 x86 32-bit of the concatenation of `parts`, streamed (no concatenation buffer).
/// Identical to hashing the concatenated bytes with the reference implementation.
pub fn murmur3_x86_32(parts: &[&[u8]], seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finish()
}

/// Streaming MurmurHash3 x86 32-bit. `Copy`, so a state that has absorbed a fixed prefix (a
/// rollout's seed) is computed once and each evaluation only hashes the context's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Murmur3 {
    h: u32,
    /// Bytes carried over from the end of one update into the next block.
    pending: [u8; 4],
    pending_len: usize,
    total_len: u32,
}

impl Murmur3 {
    pub fn new(seed: u32) -> Murmur3 {
        Murmur3 {
            h: seed,
            pending: [0; 4],
            pending_len: 0,
            total_len: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.total_len = self.total_len.wrapping_add(bytes.len() as u32);
        let mut rest = bytes;
        if self.pending_len > 0 {
            while self.pending_len < 4 {
                let Some((&b, tail)) = rest.split_first() else {
                    return;
                };
                self.pending[self.pending_len] = b;
                self.pending_len += 1;
                rest = tail;
            }
            self.h = mix_h(self.h, u32::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let mut blocks = rest.chunks_exact(4);
        for block in &mut blocks {
            self.h = mix_h(
                self.h,
                u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
            );
        }
        for &b in blocks.remainder() {
            self.pending[self.pending_len] = b;
            self.pending_len += 1;
        }
    }

    pub fn finish(&self) -> u32 {
        let mut h = self.h;
        if self.pending_len > 0 {
            let mut k: u32 = 0;
            for (i, &b) in self.pending[..self.pending_len].iter().enumerate() {
                k |= u32::from(b) << (8 * i);
            }
            h ^= mix_k(k);
        }
        h ^= self.total_len;
        fmix32(h)
    }

    /// The hash of everything absorbed so far followed by `bytes`, leaving `self` as it was.
    /// [`Murmur3::update`] then [`Murmur3::finish`] in one pass, the tail kept in a register
    /// rather than the pending bytes (a rollout hashes each context key this way).
    #[inline]
    pub fn finish_with(&self, bytes: &[u8]) -> u32 {
        let mut h = self.h;
        let mut rest = bytes;
        let mut tail: u32 = 0;
        let mut tail_len = self.pending_len.min(3);
        for (i, &b) in self.pending[..tail_len].iter().enumerate() {
            tail |= u32::from(b) << (8 * i);
        }
        if tail_len > 0 {
            while tail_len < 4 {
                let Some((&b, more)) = rest.split_first() else {
                    break;
                };
                tail |= u32::from(b) << (8 * tail_len);
                tail_len += 1;
                rest = more;
            }
            if tail_len == 4 {
                h = mix_h(h, tail);
                (tail, tail_len) = (0, 0);
            }
        }
        if tail_len == 0 {
            let mut blocks = rest.chunks_exact(4);
            for block in &mut blocks {
                h = mix_h(
                    h,
                    u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
                );
            }
            for (i, &b) in blocks.remainder().iter().enumerate() {
                tail |= u32::from(b) << (8 * i);
            }
            tail_len = blocks.remainder().len();
        }
        if tail_len > 0 {
            h ^= mix_k(tail);
        }
        h ^= self.total_len.wrapping_add(bytes.len() as u32);
        fmix32(h)
    }
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Native bucket of `value` under `prefix`: `(murmur3("{prefix}.{value}", 0) as u64 * 100000) >> 32`,
/// a number in `0..=99_999`.
pub fn native_bucket(prefix: &str, value: &str) -> u32 {
    native_bucket_of_hash(murmur3_x86_32(
        &[prefix.as_bytes(), b".", value.as_bytes()],
        0,
    ))
}

/// Maps a 32-bit hash onto `0..=99_999` the native way: `(hash * 100000) >> 32` in 64 bits.
#[inline]
pub fn native_bucket_of_hash(hash: u32) -> u32 {
    // (2^32 - 1) * 100000 >> 32 = 99999, so the result always fits.
    ((u64::from(hash) * 100_000) >> 32) as u32
}

/// Unleash's hash: MurmurHash3 x86 32-bit of `"{group_id}:{value}"` with `seed`, read as unsigned.
pub fn unleash_hash(group_id: &str, value: &str, seed: u32) -> u32 {
    murmur3_x86_32(&[group_id.as_bytes(), b":", value.as_bytes()], seed)
}

/// Unleash's normalised value: `unleash_hash(group_id, value, seed) % modulus + 1`, in `1..=modulus`.
/// Rollouts use `modulus` 100 and seed 0; variants the total weight and [`UNLEASH_VARIANT_SEED`].
/// Returns `None` when `modulus` is 0 (Unleash has no variant to pick then).
pub fn unleash_normalized(group_id: &str, value: &str, modulus: u32, seed: u32) -> Option<u32> {
    let hash = unleash_hash(group_id, value, seed);
    hash.checked_rem(modulus).map(|r| r + 1)
}

/// LaunchDarkly's bucket of `value` under `prefix`: SHA-1 of `"{prefix}.{value}"`, first 15 hex digits
/// as an integer, divided in f32 by `0x0FFF_FFFF_FFFF_FFFF as f32` (exactly as
/// `launchdarkly-server-sdk-evaluation` 2.2.1 computes it; see the module docs).
///
/// `prefix` is `"{flag_key}.{salt}"` (or `"{segment_key}.{salt}"`) when the rollout has no seed, and the
/// seed's decimal digits (see [`format_i64`]) when it has one. The result is in `0.0..=1.0`; 1.0 is
/// reachable because of the f32 rounding.
pub fn launchdarkly_bucket(prefix: &str, value: &str) -> f32 {
    launchdarkly_bucket_parts(&[prefix.as_bytes(), b".", value.as_bytes()])
}

/// [`launchdarkly_bucket`] over the concatenation of `parts`, for callers that keep the flag key and
/// salt apart: `&[key, b".", salt, b".", value]`.
pub fn launchdarkly_bucket_parts(parts: &[&[u8]]) -> f32 {
    let mut sha = sha1_smol::Sha1::new();
    for part in parts {
        sha.update(part);
    }
    launchdarkly_bucket_of(&sha)
}

/// [`launchdarkly_bucket`] from a SHA-1 state that has absorbed `"{prefix}."` (computed once per
/// rollout) followed by `value`.
#[inline]
pub fn launchdarkly_bucket_from(prefixed: &sha1_smol::Sha1, value: &str) -> f32 {
    let mut sha = prefixed.clone();
    sha.update(value.as_bytes());
    launchdarkly_bucket_of(&sha)
}

fn launchdarkly_bucket_of(sha: &sha1_smol::Sha1) -> f32 {
    let digest = sha.digest().bytes();
    let first8 = [
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ];
    // The first 15 hex digits are the top 60 bits of the first 8 bytes.
    let numhash = (u64::from_be_bytes(first8) >> 4) as i64;
    // LaunchDarkly: `numhash as f32 / BUCKET_SCALE` with `BUCKET_SCALE = 0x0FFF_FFFF_FFFF_FFFF_i64 as f32`.
    const BUCKET_SCALE: f32 = 0x0FFF_FFFF_FFFF_FFFF_i64 as f32;
    numhash as f32 / BUCKET_SCALE
}

/// The integer LaunchDarkly buckets a numeric attribute by, or `None` when the number is not bucketable
/// (fractional, NaN, infinite, or beyond ±(2^53 - 1)): callers then bucket at `0.0`.
/// Format the result with [`format_i64`].
pub fn launchdarkly_bucketable_int(f: f64) -> Option<i64> {
    // `util::f64_to_i64_safe` then `i as f64 == f` in `AttributeValue::as_bucketable`.
    const FLOAT_TO_INT_MAX: f64 = 9_007_199_254_740_991.0;
    if f.abs() <= FLOAT_TO_INT_MAX {
        let i = f as i64;
        #[allow(clippy::float_cmp)]
        if i as f64 == f {
            return Some(i);
        }
    }
    None
}

/// Which weighted variation LaunchDarkly serves for `bucket`: the index of the first variation whose
/// running f32 total of `weight / 100_000.0` exceeds the bucket, else the last index (LaunchDarkly pins
/// buckets beyond the last boundary to the last variation). `None` only for an empty list.
pub fn launchdarkly_rollout_index(
    bucket: f32,
    weights: impl IntoIterator<Item = f32>,
) -> Option<usize> {
    let mut sum: f32 = 0.0;
    let mut last = None;
    for (i, weight) in weights.into_iter().enumerate() {
        sum += weight / 100_000.0;
        if bucket.partial_cmp(&sum) == Some(Ordering::Less) {
            return Some(i);
        }
        last = Some(i);
    }
    last
}

/// LaunchDarkly's segment-rule rollout check: with a weight `>= 0.0` the rule matches only when
/// `bucket < weight / 100_000.0` (f32); with no weight or a negative one it matches.
pub fn launchdarkly_segment_weight_matches(bucket: f32, weight: Option<f32>) -> bool {
    match weight {
        Some(w) if w >= 0.0 => bucket < w / 100_000.0,
        _ => true,
    }
}

/// Writes the decimal digits of `v` (with a leading `-` when negative) at the end of `buf` and returns
/// them. 20 bytes hold every `i64`, `i64::MIN` included. Used to bucket integer attributes and
/// LaunchDarkly's numeric seeds without allocating.
pub fn format_i64(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    // Only ASCII digits and '-' were written, so this never fails.
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

#[cfg(test)]
mod tests;
