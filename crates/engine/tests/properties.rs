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

// Properties over generated inputs (proptest): the shapes live in `shapes/`, shared with `fuzz/`.

mod shapes;

use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};
use std::collections::BTreeMap;
use switchyard_engine::wire::FlagData;
use switchyard_engine::{semver, time};

/// A generated dataset document as the compiler takes it, or `None` when deserialization refuses
/// it (as a server or SDK would).
fn dataset_of(document: &serde_json::Value) -> Option<Dataset> {
    let mut data: Dataset = serde_json::from_value(document.clone()).ok()?;
    data.normalize();
    Some(data)
}

fn flag_data(data: &Dataset, revision: i64) -> FlagData {
    FlagData {
        format: switchyard_engine::wire::FORMAT,
        revision,
        flags: data
            .flags
            .iter()
            .map(|f| (f.key.clone(), f.clone()))
            .collect(),
        segments: data
            .segments
            .iter()
            .map(|s| (s.key.clone(), s.clone()))
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any dataset of any dialect compiles and every flag evaluates for any context without a
    /// panic, and the same input gives the same answer (across evaluations and recompiles).
    #[test]
    fn compile_and_evaluate_are_total_and_deterministic(
        document in shapes::dataset(),
        contexts in proptest::collection::vec(shapes::context(), 1..4),
        (now_ms, random) in shapes::env(),
    ) {
        let Some(data) = dataset_of(&document) else { return Ok(()) };
        let first = Snapshot::compile(&data);
        let second = Snapshot::compile(&data);
        prop_assert_eq!(first.problems(), second.problems());
        let env = Env { now_ms, random };
        let keys: Vec<&str> = data.flags.iter().map(|f| f.key.as_str()).chain(["missing"]).collect();
        for context in contexts.iter().filter_map(|c| Context::from_json(c).ok()) {
            for key in &keys {
                let answer = first.evaluate(key, &context, &env);
                prop_assert_eq!(answer, first.evaluate(key, &context, &env));
                prop_assert_eq!(answer, second.evaluate(key, &context, &env));
                // A flag that does not read the environment answers the same without it.
                if first.flag(key).is_some_and(|f| !f.reads_env()) {
                    prop_assert_eq!(answer, first.evaluate(key, &context, &Env::default()));
                }
            }
        }
    }

    /// `apply(diff(a, b), a) == b`, and patches compose: `diff(a, b).then(diff(b, c))` takes `a`
    /// to `c`.
    #[test]
    fn wire_patches_turn_one_snapshot_into_the_next(
        a in shapes::dataset(),
        b in shapes::dataset(),
        c in shapes::dataset(),
    ) {
        let (Some(a), Some(b), Some(c)) = (dataset_of(&a), dataset_of(&b), dataset_of(&c)) else {
            return Ok(());
        };
        let (a, b, c) = (flag_data(&a, 1), flag_data(&b, 2), flag_data(&c, 3));
        let mut patched = a.clone();
        patched.apply(a.diff(&b));
        prop_assert_eq!(&patched, &b);
        prop_assert!(a.diff(&a).is_empty());
        let mut composed = a.clone();
        composed.apply(a.diff(&b).then(&b.diff(&c)));
        prop_assert_eq!(&composed, &c);
    }

    /// Patches survive the wire: a patch read back from its JSON is the same patch.
    #[test]
    fn wire_patches_round_trip_through_json(a in shapes::dataset(), b in shapes::dataset()) {
        let (Some(a), Some(b)) = (dataset_of(&a), dataset_of(&b)) else { return Ok(()) };
        let patch = flag_data(&a, 1).diff(&flag_data(&b, 2));
        let text = serde_json::to_string(&patch).unwrap();
        let read: switchyard_engine::wire::Patch = serde_json::from_str(&text).unwrap();
        // Values go through JSON text both ways, so compare them as JSON.
        prop_assert_eq!(serde_json::to_value(&read).unwrap(), serde_json::to_value(&patch).unwrap());
    }

    /// Context parsing never panics, and whatever it accepts has a key for every part and distinct kinds.
    #[test]
    fn contexts_parse_without_panicking(document in shapes::context()) {
        if let Ok(context) = Context::from_json(&document) {
            let kinds: std::collections::BTreeSet<&str> = context.parts().iter().map(|p| p.kind()).collect();
            prop_assert_eq!(kinds.len(), context.parts().len());
        }
        let _ = Context::from_openfeature(&document);
    }

    /// Strict semver agrees with the `semver` crate (the grammar its docs promise), on arbitrary
    /// strings and on near-versions; lenient accepts everything strict does, with the same value.
    #[test]
    fn semver_agrees_with_the_semver_crate(
        text in proptest::prop_oneof![
            any::<String>(),
            "(0|[1-9][0-9]{0,2}|0[0-9])(\\.[0-9]{1,3}){0,3}(-[0-9A-Za-z.-]{0,6})?(\\+[0-9A-Za-z.-]{0,6})?",
            "v?[0-9]{1,20}\\.[0-9]{1,20}\\.[0-9]{1,20}",
        ],
        other in "(0|[1-9])\\.(0|[1-9])\\.(0|[1-9])(-(0|[1-9]|[a-z]{1,2})(\\.(0|[1-9]|[a-z]{1,2})){0,2})?",
    ) {
        let ours = semver::parse(&text, false);
        let reference = ::semver::Version::parse(&text).ok();
        prop_assert_eq!(ours.is_some(), reference.is_some(), "{:?}", text);
        if let (Some(ours), Some(reference)) = (ours, &reference) {
            prop_assert_eq!((ours.major, ours.minor, ours.patch), (reference.major, reference.minor, reference.patch));
            prop_assert_eq!(ours.pre(), reference.pre.as_str());
            let lenient = semver::parse(&text, true);
            prop_assert!(lenient.is_some_and(|l| l == ours));
            // Ordering agrees with the crate's precedence.
            let theirs_other = ::semver::Version::parse(&other).unwrap();
            let ours_other = semver::parse(&other, false).unwrap();
            prop_assert_eq!(ours.cmp(&ours_other), reference.cmp_precedence(&theirs_other));
        }
        let _ = semver::parse(&text, true);
    }

    /// RFC 3339 parsing agrees with chrono's `parse_from_rfc3339` (the grammar its docs promise),
    /// to the nanosecond, on arbitrary strings and near-timestamps.
    #[test]
    fn rfc3339_agrees_with_chrono(
        text in proptest::prop_oneof![
            any::<String>(),
            "[0-9]{4}-[0-9]{2}-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,12})?([Zz]|[+−-][0-2][0-9]:[0-6][0-9])",
            "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,4})?Z",
        ],
    ) {
        let ours = time::parse_rfc3339(&text).map(|t| (t.unix_secs(), t.subsec_nanos()));
        let reference = chrono::DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|t| (t.timestamp(), t.timestamp_subsec_nanos()));
        prop_assert_eq!(ours, reference, "{:?}", text);
    }

    /// Formatting and parsing milliseconds round-trips (whole seconds, years 0000–9999).
    #[test]
    fn rfc3339_formatting_round_trips(seconds in -62_167_219_200i64..253_402_300_799) {
        let ms = seconds * 1000;
        prop_assert_eq!(time::parse_rfc3339_ms(&time::format_rfc3339_ms(ms)), Some(ms));
    }
}

#[test]
fn shapes_reach_every_dialect_and_compile_cleanly_often() {
    // The generator is only useful if most documents deserialize and all dialects occur.
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut dialects = BTreeMap::new();
    let mut reasons = BTreeMap::new();
    let mut accepted = 0;
    for _ in 0..300 {
        let document = shapes::dataset().new_tree(&mut runner).unwrap().current();
        let Some(data) = dataset_of(&document) else {
            continue;
        };
        accepted += 1;
        let snapshot = Snapshot::compile(&data);
        for flag in &data.flags {
            *dialects.entry(format!("{:?}", flag.dialect)).or_insert(0) += 1;
            for _ in 0..3 {
                let context = shapes::context().new_tree(&mut runner).unwrap().current();
                if let Ok(context) = Context::from_json(&context) {
                    let reason = snapshot
                        .evaluate(&flag.key, &context, &Env::default())
                        .reason;
                    *reasons.entry(reason.kind_name()).or_insert(0) += 1;
                }
            }
        }
    }
    assert!(
        accepted > 150,
        "only {accepted} of 300 generated datasets deserialized"
    );
    assert_eq!(dialects.len(), 3, "{dialects:?}");
    // Evaluation gets past the errors: every outcome occurs, and errors are not the rule.
    let errors = reasons.get("ERROR").copied().unwrap_or(0);
    assert!(errors * 2 < reasons.values().sum::<usize>(), "{reasons:?}");
    for kind in [
        "OFF",
        "TARGET_MATCH",
        "RULE_MATCH",
        "FALLTHROUGH",
        "PREREQUISITE_FAILED",
        "ERROR",
    ] {
        assert!(reasons.contains_key(kind), "no {kind} among {reasons:?}");
    }
}
