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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Plain, non-streaming reference implementation (the textbook algorithm over one slice).
    fn murmur_reference(data: &[u8], seed: u32) -> u32 {
        let mut h = seed;
        let mut chunks = data.chunks_exact(4);
        for c in &mut chunks {
            let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
            h ^= k;
            h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
        }
        let tail = chunks.remainder();
        let mut k: u32 = 0;
        if tail.len() >= 3 {
            k ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            k ^= u32::from(tail[1]) << 8;
        }
        if !tail.is_empty() {
            k ^= u32::from(tail[0]);
            k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
            h ^= k;
        }
        h ^= data.len() as u32;
        fmix32(h)
    }

    #[test]
    fn finish_with_equals_update_then_finish() {
        let data: Vec<u8> = (0u8..40)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for seed in [0, UNLEASH_VARIANT_SEED] {
            for prefix_len in 0..12 {
                let mut prefix = Murmur3::new(seed);
                prefix.update(&data[..prefix_len]);
                for value_len in 0..20 {
                    let value = &data[prefix_len..prefix_len + value_len];
                    let mut streamed = prefix;
                    streamed.update(value);
                    assert_eq!(
                        prefix.finish_with(value),
                        streamed.finish(),
                        "{prefix_len} + {value_len}"
                    );
                }
            }
        }
    }

    #[test]
    fn murmur3_known_answers() {
        // Widely published MurmurHash3_x86_32 vectors (SMHasher / Wikipedia).
        assert_eq!(murmur3_x86_32(&[b""], 0), 0);
        assert_eq!(murmur3_x86_32(&[], 0), 0);
        assert_eq!(murmur3_x86_32(&[b""], 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(&[b""], 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[b"\0\0\0\0"], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(&[b"aaaa"], 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_x86_32(&[b"abc"], 0), 0xb3dd_93fa);
        assert_eq!(
            murmur3_x86_32(&[b"Hello, world!"], 0x9747_b28c),
            0x2488_4cba
        );
        assert_eq!(
            murmur3_x86_32(
                &[b"The quick brown fox jumps over the lazy dog"],
                0x9747_b28c
            ),
            0x2fa8_26cd
        );
    }

    #[test]
    fn murmur3_streaming_equals_concatenation_for_every_split() {
        let data: Vec<u8> = (0u8..=40)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let want = murmur_reference(d, 42);
            assert_eq!(murmur3_x86_32(&[d], 42), want);
            for a in 0..=len {
                for b in a..=len {
                    let got = murmur3_x86_32(&[&d[..a], &d[a..b], &[], &d[b..]], 42);
                    assert_eq!(got, want, "len {len} split {a} {b}");
                }
            }
        }
    }

    #[test]
    fn native_vectors_from_product_md() {
        // shared/product.md, "Native bucketing".
        let cases: [(&str, &str, u32, u32); 6] = [
            ("new-checkout.f3a9c1", "user-1", 3_485_376_019, 81_150),
            ("new-checkout.f3a9c1", "user-2", 451_685_800, 10_516),
            ("new-checkout.f3a9c1", "42", 1_410_749_679, 32_846),
            ("new-checkout.f3a9c1", "Zoë", 4_237_996_573, 98_673),
            ("exp-2026-q4", "tenant-acme", 2_896_862_252, 67_447),
            ("release-7f2c", "user-1", 1_543_032_693, 35_926),
        ];
        for (prefix, value, hash, bucket) in cases {
            let h = murmur3_x86_32(&[prefix.as_bytes(), b".", value.as_bytes()], 0);
            assert_eq!(h, hash, "{prefix} {value}");
            let joined = format!("{prefix}.{value}");
            assert_eq!(murmur_reference(joined.as_bytes(), 0), hash);
            assert_eq!(native_bucket(prefix, value), bucket, "{prefix} {value}");
        }
    }

    #[test]
    fn native_bucket_range_ends() {
        assert_eq!(native_bucket_of_hash(0), 0);
        assert_eq!(native_bucket_of_hash(u32::MAX), 99_999);
    }

    #[test]
    fn unleash_vectors() {
        // Unleash/unleash-client-node src/test/strategy/util.test.ts and
        // Unleash/unleash-client-java src/test/java/io/getunleash/strategy/StrategyUtilsTest.java:
        // normalizedValue('123', 'gr1') = 73, normalizedValue('999', 'groupX') = 25,
        // with VARIANT_NORMALIZATION_SEED: 96 and 60.
        assert_eq!(unleash_normalized("gr1", "123", 100, 0), Some(73));
        assert_eq!(unleash_normalized("groupX", "999", 100, 0), Some(25));
        assert_eq!(
            unleash_normalized("gr1", "123", 100, UNLEASH_VARIANT_SEED),
            Some(96)
        );
        assert_eq!(
            unleash_normalized("groupX", "999", 100, UNLEASH_VARIANT_SEED),
            Some(60)
        );
        assert_eq!(unleash_hash("gr1", "123", 0) % 100 + 1, 73);
        assert_eq!(unleash_normalized("gr1", "123", 0, 0), None);
    }

    const LD_TOLERANCE: f32 = 0.000_000_1;

    fn assert_close(got: f32, want: f32) {
        assert!((got - want).abs() <= LD_TOLERANCE, "got {got}, want {want}");
    }

    #[test]
    fn launchdarkly_vectors() {
        // launchdarkly/rust-server-sdk-evaluation src/variation.rs, consistency_tests
        // (bucket_context_by_key, bucket_context_by_key_with_seed, bucket_context_by_int_attr).
        assert_close(
            launchdarkly_bucket("hashKey.saltyA", "userKeyA"),
            0.421_575_87,
        );
        assert_close(
            launchdarkly_bucket("hashKey.saltyA", "userKeyB"),
            0.670_848_5,
        );
        assert_close(
            launchdarkly_bucket("hashKey.saltyA", "userKeyC"),
            0.103_431_06,
        );
        assert_close(launchdarkly_bucket("61", "userKeyA"), 0.098_012_07);
        assert_close(launchdarkly_bucket("61", "userKeyB"), 0.144_837_77);
        assert_close(launchdarkly_bucket("61", "userKeyC"), 0.924_264_1);
        assert_close(launchdarkly_bucket("60", "userKeyA"), 0.700_881_6);
        let mut buf = [0u8; 20];
        assert_close(
            launchdarkly_bucket("hashKey.saltyA", format_i64(33_333, &mut buf)),
            0.547_714_23,
        );
        assert_close(launchdarkly_bucket("hashKey.saltyA", "99999"), 0.730_965_8);
        // segment.rs: segment key "test", salt "salty".
        assert_close(
            launchdarkly_bucket("segkey.salty", "userKeyA"),
            0.145_747_53,
        );
        assert_close(
            launchdarkly_bucket("segkey.salty", "userKeyZ"),
            0.456_792_15,
        );
        assert_eq!(
            launchdarkly_bucket_parts(&[b"hashKey", b".", b"saltyA", b".", b"userKeyA"]),
            launchdarkly_bucket("hashKey.saltyA", "userKeyA")
        );
    }

    /// The same computation the way LaunchDarkly writes it: hex-encode, take 15 digits, parse.
    fn ld_reference(input: &str) -> f32 {
        let hex = sha1_smol::Sha1::from(input).digest().to_string();
        let numhash = i64::from_str_radix(&hex[..15], 16).unwrap();
        numhash as f32 / (0x0FFF_FFFF_FFFF_FFFF_i64 as f32)
    }

    #[test]
    fn launchdarkly_bit_exact_against_hex_reference() {
        for i in 0..2000 {
            let value = format!("user-{i}");
            let got = launchdarkly_bucket("flag.salt", &value);
            let want = ld_reference(&format!("flag.salt.{value}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{value}");
        }
        assert_eq!(
            0x0FFF_FFFF_FFFF_FFFF_i64 as f32,
            1_152_921_504_606_846_976.0_f32
        );
    }

    #[test]
    fn launchdarkly_rollouts() {
        // variation_index_for_context: 60/40 → A: 0, B: 1, C: 0.
        let w = [60_000.0, 40_000.0];
        for (key, want) in [("userKeyA", 0), ("userKeyB", 1), ("userKeyC", 0)] {
            let b = launchdarkly_bucket("hashKey.saltyA", key);
            assert_eq!(launchdarkly_rollout_index(b, w), Some(want), "{key}");
        }
        // testing_experiment_bucketing / variation_index_for_context_in_experiment: 10/20/70.
        let w = [10_000.0, 20_000.0, 70_000.0];
        for (prefix, key, want) in [
            ("hashKey.saltyA", "userKeyA", 2),
            ("hashKey.saltyA", "userKeyB", 2),
            ("hashKey.saltyA", "userKeyC", 1),
            ("61", "userKeyA", 0),
            ("61", "userKeyB", 1),
            ("61", "userKeyC", 2),
        ] {
            let b = launchdarkly_bucket(prefix, key);
            assert_eq!(
                launchdarkly_rollout_index(b, w),
                Some(want),
                "{prefix} {key}"
            );
        }
        // Beyond the last boundary: pinned to the last variation.
        assert_eq!(launchdarkly_rollout_index(0.5, [5_000.0, 5_000.0]), Some(1));
        assert_eq!(
            launchdarkly_rollout_index(1.0, [50_000.0, 50_000.0]),
            Some(1)
        );
        assert_eq!(launchdarkly_rollout_index(0.0, []), None);
        assert_eq!(launchdarkly_rollout_index(0.0, [0.0, 100_000.0]), Some(1));
    }

    #[test]
    fn launchdarkly_segment_weights() {
        assert!(launchdarkly_segment_weight_matches(0.2, Some(30_000.0)));
        assert!(!launchdarkly_segment_weight_matches(0.3, Some(30_000.0)));
        assert!(launchdarkly_segment_weight_matches(0.9, None));
        assert!(launchdarkly_segment_weight_matches(0.9, Some(-1.0)));
        assert!(!launchdarkly_segment_weight_matches(0.0, Some(0.0)));
    }

    #[test]
    fn launchdarkly_bucketable_numbers() {
        assert_eq!(launchdarkly_bucketable_int(33_333.0), Some(33_333));
        assert_eq!(launchdarkly_bucketable_int(-7.0), Some(-7));
        assert_eq!(launchdarkly_bucketable_int(-0.0), Some(0));
        assert_eq!(launchdarkly_bucketable_int(999.999), None);
        assert_eq!(launchdarkly_bucketable_int(f64::NAN), None);
        assert_eq!(launchdarkly_bucketable_int(f64::INFINITY), None);
        assert_eq!(
            launchdarkly_bucketable_int(9_007_199_254_740_991.0),
            Some(9_007_199_254_740_991)
        );
        assert_eq!(launchdarkly_bucketable_int(9_007_199_254_740_992.0), None);
    }

    #[test]
    fn format_i64_cases() {
        let mut buf = [0u8; 20];
        for v in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            42,
            -42,
            1_234_567_890,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            9_007_199_254_740_991,
        ] {
            assert_eq!(format_i64(v, &mut buf), v.to_string());
        }
        assert_eq!(format_i64(i64::MIN, &mut buf), "-9223372036854775808");
        assert_eq!(format_i64(0, &mut buf), "0");
    }
}
