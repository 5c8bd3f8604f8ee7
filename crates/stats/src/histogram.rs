//! Mergeable histograms with relative accuracy: DDSketch's logarithmic mapping (Masson, Rim &
//! Lee, "DDSketch: a fast and fully-mergeable quantile sketch with relative-error guarantees",
//! VLDB 2019), without its bucket collapsing, so nothing is ever approximated beyond the bucket
//! width.
//!
//! A positive value `v` falls in bucket `i = ⌈ln v / ln γ⌉`, which covers `(γ^(i−1), γ^i]`, with
//! `γ = (1 + α) / (1 − α)` and α = [`RELATIVE_ACCURACY`] (1 %). Every value of a bucket is within
//! α of the bucket's representative `2γ^i / (γ + 1)`. Zero has a bucket of its own and negative
//! values are mirrored. Each bucket is a *key* (an `i32`, ordered as the values are):
//! - `0`: zero (and −0);
//! - `i + KEY_OFFSET` (≥ 1) for a positive value in bucket `i`;
//! - `−(i + KEY_OFFSET)` for a negative value whose magnitude is in bucket `i`.
//!
//! The keys are a storage format (the store keeps `(key, count)` pairs): the mapping and α must
//! never change, or stored histograms would be read with the wrong widths.
//!
//! A histogram is its bucket counts, so merging adds counts: `merge(h(a), h(b)) = h(a ++ b)`
//! exactly, in any order, which is what lets each batch of events add its own rows.

use std::collections::BTreeMap;

use crate::StatsError;

/// α: every quantile is within this relative error of the sample's own (see
/// [`Histogram::quantile`]).
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// γ = (1 + α) / (1 − α): the ratio of a bucket's upper bound to its lower bound.
const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);

/// Added to a bucket index so every finite non-zero magnitude has a key ≥ 1: the smallest
/// subnormal's index is about −37,220, `f64::MAX`'s about 35,490.
const KEY_OFFSET: i64 = 40_000;

fn ln_gamma() -> f64 {
    GAMMA.ln()
}

/// The key of the bucket `value` falls in; `None` for NaN and infinities.
pub fn bucket_of(value: f64) -> Option<i32> {
    if !value.is_finite() {
        return None;
    }
    if value == 0.0 {
        return Some(0);
    }
    let index = (value.abs().ln() / ln_gamma()).ceil() as i64;
    // In range for every finite value (see KEY_OFFSET); the clamp only keeps the cast total.
    let key = (index + KEY_OFFSET).clamp(1, i64::from(i32::MAX)) as i32;
    Some(if value < 0.0 { -key } else { key })
}

/// The representative value of bucket `key`: within α of every value in it. Total: a key no
/// finite value maps to still gives a finite number (clamped to ±`f64::MAX`).
pub fn bucket_value(key: i32) -> f64 {
    if key == 0 {
        return 0.0;
    }
    let index = i64::from(key.unsigned_abs()) - KEY_OFFSET;
    let magnitude = (index as f64 * ln_gamma()).exp() * (2.0 / (GAMMA + 1.0));
    let magnitude = if magnitude.is_finite() {
        magnitude
    } else {
        f64::MAX
    };
    if key < 0 { -magnitude } else { magnitude }
}

/// Counts per bucket of a metric's values. Equal histograms have equal buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// key → count, never 0.
    buckets: BTreeMap<i32, u64>,
    /// Σ counts (saturating).
    count: u64,
}

impl Histogram {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a histogram from stored `(key, count)` pairs; repeated keys add up.
    pub fn from_buckets(buckets: impl IntoIterator<Item = (i32, u64)>) -> Self {
        let mut histogram = Self::new();
        for (key, count) in buckets {
            histogram.add_to_bucket(key, count);
        }
        histogram
    }

    /// Counts `value`. NaN and infinities are refused and change nothing.
    pub fn add(&mut self, value: f64) -> Result<(), StatsError> {
        let key = bucket_of(value).ok_or(StatsError::InvalidParameter {
            name: "value",
            expected: "finite",
            value,
        })?;
        self.add_to_bucket(key, 1);
        Ok(())
    }

    /// Adds `count` values to bucket `key`.
    pub fn add_to_bucket(&mut self, key: i32, count: u64) {
        if count == 0 {
            return;
        }
        let slot = self.buckets.entry(key).or_insert(0);
        *slot = slot.saturating_add(count);
        self.count = self.count.saturating_add(count);
    }

    /// Adds `other`'s counts to this one's: the histogram of both samples together.
    pub fn merge(&mut self, other: &Histogram) {
        for (&key, &count) in &other.buckets {
            self.add_to_bucket(key, count);
        }
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `(key, count)` for every non-empty bucket, in the order of the values.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.buckets.iter().map(|(&key, &count)| (key, count))
    }

    /// The `q`-quantile, `q` in [0, 1]: the representative of the bucket that holds the sample's
    /// order statistic of (0-based) rank `⌊q (n − 1)⌋`. **Error bound:** if that order
    /// statistic is `x`, the answer `x̂` has `|x̂ − x| ≤ α |x|` (so 0 exactly for 0, and the sign
    /// is always right); floating-point rounding of `ln` at a bucket's edge can add a few
    /// units in the last place to α.
    pub fn quantile(&self, q: f64) -> Result<f64, StatsError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(StatsError::InvalidParameter {
                name: "q",
                expected: "in [0, 1]",
                value: q,
            });
        }
        if self.count == 0 {
            return Err(StatsError::InsufficientData(
                "an empty histogram has no quantiles",
            ));
        }
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        let mut below = 0u64;
        for (&key, &count) in &self.buckets {
            below = below.saturating_add(count);
            if below > rank {
                return Ok(bucket_value(key));
            }
        }
        // Only reachable when the saturated total exceeds the true sum: the largest bucket.
        Ok(self
            .buckets
            .keys()
            .next_back()
            .map_or(0.0, |&key| bucket_value(key)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn empty_and_out_of_range_are_errors_not_panics() {
        let empty = Histogram::new();
        assert!(matches!(
            empty.quantile(0.5),
            Err(StatsError::InsufficientData(_))
        ));
        let mut h = Histogram::new();
        h.add(1.0).unwrap();
        for q in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            assert!(h.quantile(q).is_err(), "{q}");
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(h.add(v).is_err());
        }
        assert_eq!(h.count(), 1, "refused values change nothing");
    }

    #[test]
    fn zero_has_its_own_bucket_and_signs_are_kept() {
        let mut h = Histogram::new();
        for v in [0.0, -0.0, -5.0, 5.0, 0.0] {
            h.add(v).unwrap();
        }
        assert_eq!(h.quantile(0.5).unwrap(), 0.0);
        let low = h.quantile(0.0).unwrap();
        let high = h.quantile(1.0).unwrap();
        assert!(
            (low + 5.0).abs() <= 0.05 && (high - 5.0).abs() <= 0.05,
            "{low} {high}"
        );
        assert_eq!(bucket_of(-5.0), bucket_of(5.0).map(|k| -k));
    }

    #[test]
    fn every_finite_value_is_within_alpha_of_its_bucket() {
        let values = [
            f64::MIN_POSITIVE,
            5e-324,
            1e-9,
            0.001,
            0.5,
            1.0,
            GAMMA,
            1.5,
            250.0,
            1e12,
            f64::MAX,
        ];
        for v in values {
            for v in [v, -v] {
                let key = bucket_of(v).unwrap();
                assert!(key != 0);
                let back = bucket_value(key);
                assert!(
                    (back - v).abs() <= RELATIVE_ACCURACY * v.abs() * (1.0 + 1e-9),
                    "{v} → {key} → {back}"
                );
            }
        }
    }

    #[test]
    fn keys_are_ordered_as_values_and_any_key_reads_back_finite() {
        let mut previous = i32::MIN;
        let mut v = -1e300;
        while v < 1e300 {
            let key = bucket_of(v).unwrap();
            assert!(key >= previous, "{v}");
            previous = key;
            v = if v < -1e-300 {
                v / 1.7
            } else if v < 1e-300 {
                1e-300
            } else {
                v * 1.7
            };
        }
        for key in [i32::MIN, -1, 1, i32::MAX, 0] {
            assert!(bucket_value(key).is_finite(), "{key}");
        }
        let odd = Histogram::from_buckets([(i32::MIN, u64::MAX), (i32::MAX, u64::MAX)]);
        assert_eq!(odd.count(), u64::MAX);
        assert!(odd.quantile(1.0).unwrap().is_finite());
    }

    #[test]
    fn rebuilt_from_its_buckets_it_is_equal() {
        let mut h = Histogram::new();
        for v in [3.0, 3.01, 400.0, -2.0, 0.0, 3.0] {
            h.add(v).unwrap();
        }
        assert_eq!(Histogram::from_buckets(h.buckets()), h);
        assert_eq!(Histogram::from_buckets([(5, 0)]), Histogram::new());
    }
}
