//! Evaluation does no heap allocation on generated datasets of every dialect (native,
//! LaunchDarkly, Unleash, release layers, segments, prerequisites) and generated contexts: the
//! hand-written `no_alloc.rs` covers each native path once, this covers the shapes nobody wrote
//! down. Its own test binary, for its counting global allocator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shapes;

use switchyard_testkit::alloc::{Counting, allocations};

use proptest::prelude::{ProptestConfig, prop_assert_eq, proptest};
use switchyard_engine::{Context, Dataset, Env, Snapshot, ValueType};

#[global_allocator]
static GLOBAL: Counting = Counting;

const TYPES: [ValueType; 6] = [
    ValueType::Bool,
    ValueType::Int,
    ValueType::Double,
    ValueType::String,
    ValueType::Json,
    ValueType::Any,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn evaluating_generated_flags_does_not_allocate(
        document in shapes::dataset(),
        contexts in proptest::collection::vec(shapes::context(), 1..4),
        (now_ms, random) in shapes::env(),
    ) {
        let Ok(mut data) = serde_json::from_value::<Dataset>(document) else { return Ok(()) };
        data.normalize();
        let snapshot = Snapshot::compile(&data);
        let contexts: Vec<Context> = contexts.iter().filter_map(|c| Context::from_json(c).ok()).collect();
        let keys: Vec<&str> = data.flags.iter().map(|f| f.key.as_str()).chain(["missing"]).collect();
        let env = Env { now_ms, random };
        let evaluate_all = || {
            let mut served = 0usize;
            for context in &contexts {
                for key in &keys {
                    for value_type in TYPES {
                        let e = snapshot.evaluate_typed(key, context, &env, value_type);
                        served = served.wrapping_mul(31).wrapping_add(e.variation_index.unwrap_or(7));
                    }
                }
            }
            served
        };
        let expected = evaluate_all(); // warms up lazily-initialised regex caches
        let before = allocations();
        let again = std::hint::black_box(evaluate_all());
        let allocated = allocations() - before;
        prop_assert_eq!(again, expected);
        prop_assert_eq!(allocated, 0, "evaluation allocated {} times", allocated);
    }
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    std::hint::black_box(Context::from_json(&serde_json::json!({"key": "x"})).unwrap());
    assert!(
        allocations() > before,
        "the counting allocator is not counting"
    );
}
