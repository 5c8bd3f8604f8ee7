//! Properties of native bucketing over many generated inputs: uniform (chi-square over 100k
//! keys), sticky (same context, same answer, across recompiles) and monotone (raising a
//! variation's weight never moves a context out of it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use switchyard_engine::hash::native_bucket;
use switchyard_engine::{Context, Dataset, Env, Snapshot};

fn split(weights: &[u32]) -> Snapshot {
    let variations: Vec<_> = (0..weights.len()).map(|i| json!({"value": i})).collect();
    let slices: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"variation": i, "weight": w}))
        .collect();
    let data: Dataset = serde_json::from_value(json!({"flags": [{
        "key": "ramp", "kind": "number", "salt": "9f1c", "on": true, "variations": variations,
        "fallthrough": {"rollout": {"variations": slices}}
    }]}))
    .unwrap();
    let snapshot = Snapshot::compile(&data);
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    snapshot
}

fn served(snapshot: &Snapshot, context: &Context) -> usize {
    snapshot
        .evaluate("ramp", context, &Env::default())
        .variation_index
        .unwrap()
}

fn users(n: usize) -> Vec<Context> {
    (0..n)
        .map(|i| Context::from_json(&json!({"key": format!("user-{i}")})).unwrap())
        .collect()
}

#[test]
fn buckets_are_uniform() {
    const KEYS: usize = 100_000;
    const BINS: usize = 100;
    let mut counts = [0u32; BINS];
    for i in 0..KEYS {
        let bucket = native_bucket("ramp.9f1c", &format!("user-{i}"));
        assert!(bucket < 100_000);
        counts[bucket as usize * BINS / 100_000] += 1;
    }
    let expected = (KEYS / BINS) as f64;
    let chi_square: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    // 99 degrees of freedom: P(chi² > 148.23) = 0.001 for a uniform hash.
    assert!(
        chi_square < 148.23,
        "chi-square {chi_square:.1} over {BINS} bins"
    );
}

#[test]
fn assignment_is_sticky() {
    let first = split(&[33_333, 33_333, 33_334]);
    let again = split(&[33_333, 33_333, 33_334]);
    for context in users(5_000) {
        let answer = served(&first, &context);
        assert_eq!(served(&first, &context), answer);
        assert_eq!(served(&again, &context), answer);
        // Other attributes do not move a context: only the bucketing attribute counts.
        let key = context.part("user").unwrap().key().to_owned();
        let richer = Context::from_json(&json!({"key": key, "plan": "gold"})).unwrap();
        assert_eq!(served(&first, &richer), answer);
    }
}

#[test]
fn ramps_are_monotone() {
    let contexts = users(20_000);
    // Two-way splits where variation 1 grows from the end of the range or from the start.
    let ramp = [0, 1, 1_000, 5_000, 25_000, 50_000, 99_999, 100_000];
    for growing_first in [false, true] {
        let mut treated = vec![false; contexts.len()];
        for &w in &ramp {
            let weights = if growing_first {
                [w, 100_000 - w]
            } else {
                [100_000 - w, w]
            };
            let target = usize::from(!growing_first);
            let snapshot = split(&weights);
            let mut count = 0;
            for (i, context) in contexts.iter().enumerate() {
                let now = served(&snapshot, context) == target;
                assert!(
                    !treated[i] || now,
                    "context {i} left the growing side at weight {w}"
                );
                treated[i] = now;
                count += usize::from(now);
            }
            // The share tracks the weight (binomial tolerance, 20k contexts).
            let share = count as f64 / contexts.len() as f64;
            assert!(
                (share - w as f64 / 100_000.0).abs() < 0.015,
                "share {share} at weight {w}"
            );
        }
    }
    // A middle variation growing at the expense of its neighbour keeps everyone it had.
    let mut had = vec![false; contexts.len()];
    for w in [0, 10_000, 30_000, 60_000] {
        let snapshot = split(&[20_000, w, 80_000 - w]);
        for (i, context) in contexts.iter().enumerate() {
            let now = served(&snapshot, context) == 1;
            assert!(!had[i] || now, "context {i} left variation 1 at weight {w}");
            had[i] = now;
        }
    }
}
