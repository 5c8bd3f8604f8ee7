//! Evaluation does no heap allocation on generated datasets of every dialect (native,
//! LaunchDarkly, Unleash, release layers, segments, prerequisites) and generated contexts: the
//! hand-written `no_alloc.rs` covers each native path once, this covers the shapes nobody wrote
//! down. Its own test binary, for its counting global allocator.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shapes;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::{ProptestConfig, prop_assert_eq, proptest};
use switchyard_engine::{Context, Dataset, Env, Snapshot, ValueType};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

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
