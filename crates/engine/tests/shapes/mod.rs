//! Random inputs for the engine's property tests and the fuzz targets (`fuzz/` includes this file
//! by path): JSON shaped like datasets and contexts of every dialect, drawn from small pools of
//! keys, attributes and values so that rules, targets, segments and prerequisites really match,
//! with arbitrary JSON mixed in wherever a value may go. Datasets go through `Dataset`
//! deserialization, so shapes it refuses are generated too and simply skipped by callers.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::{BoxedStrategy, Just, Strategy, any, prop_oneof};
use proptest::{collection, option};
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &["a", "b", "user-1", "user-2", "", "é", "x:y"];
const KINDS: &[&str] = &["user", "org", "device", "multi", "kind"];
const ATTRIBUTES: &[&str] = &[
    "key",
    "email",
    "country",
    "age",
    "version",
    "signup",
    "ip",
    "tags",
    "/address/city",
    "address",
    "userId",
    "sessionId",
    "currentTime",
    "remoteAddress",
    "anonymous",
    "name",
    "",
    "/",
    "/tags/0",
    "~1",
    "a.b",
];
const OPERATORS: &[&str] = &[
    "in",
    "starts_with",
    "ends_with",
    "contains",
    "matches",
    "lt",
    "lte",
    "gt",
    "gte",
    "before",
    "after",
    "semver_eq",
    "semver_lt",
    "semver_lte",
    "semver_gt",
    "semver_gte",
    "in_cidr",
    "exists",
    "segment_match",
    "equals",
    "unknown_op",
];
const DIALECTS: &[&str] = &["native", "launchdarkly", "unleash"];
const BUCKET_BY: &[&str] = &[
    "key",
    "email",
    "age",
    "default",
    "random",
    "userId",
    "sessionId",
    "/address/city",
];
/// Strings that parse as something (versions, dates, CIDRs, regexes) and some that nearly do.
const TEXTS: &[&str] = &[
    "1.2.3",
    "1.2.3-rc.1",
    "2",
    "2.0",
    "v1.0.0",
    "01.2.3",
    "1.2.3+build",
    "2020-01-01T00:00:00Z",
    "2020-02-30T00:00:00Z",
    "1999-12-31T23:59:60.5+01:00",
    "10.0.0.0/8",
    "192.168.0.1",
    "2001:db8::/32",
    "::1",
    "^a.*",
    "(",
    "[a-z]+",
    "a@b.example",
    "DE",
    "de",
    "",
    "é",
    "😀",
    "a:b",
    "9223372036854775808",
    "-0",
    "1e308",
    "NaN",
];

fn pick(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(pool)
        .prop_map(str::to_owned)
        .boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![6 => pick(TEXTS), 3 => pick(KEYS), 1 => any::<String>()].boxed()
}

/// Any JSON value (depth-bounded), biased towards the pools.
pub fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-200i64..200).prop_map(Value::from),
        // Short decimals: serde_json's default float parsing does not round-trip every f64
        // (subnormals come back changed), and values go through JSON text on the wire.
        (any::<i32>(), 0i32..6).prop_map(|(m, e)| json!(f64::from(m) / 10f64.powi(e))),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            collection::vec(
                (
                    prop_oneof![pick(ATTRIBUTES), pick(KINDS), any::<String>()],
                    inner
                ),
                0..4
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A variation index: mostly one that exists (flags have at least two variations mostly).
fn small_index() -> BoxedStrategy<Value> {
    prop_oneof![
        30 => (0u64..2).prop_map(Value::from),
        2 => (0u64..4).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
    ]
    .boxed()
}

/// A weight in 0.001 % units: mostly valid, sometimes over 100 %.
fn weight() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => Just(json!(0)),
        3 => Just(json!(100_000)),
        20 => (0u32..=100_000).prop_map(Value::from),
        1 => any::<u32>().prop_map(Value::from),
    ]
    .boxed()
}

/// Clause values that suit the operator (so most clauses compile), sometimes anything.
fn values_for(op: &str) -> BoxedStrategy<Vec<Value>> {
    let strings = |pool: &'static [&'static str]| {
        collection::vec(pick(pool).prop_map(Value::String), 1..4).boxed()
    };
    let suitable = match op {
        "matches" => strings(&["^a", "b$", "[0-9]+", "(?i)DE", "é.*"]),
        "lt" | "lte" | "gt" | "gte" => {
            collection::vec((-50i64..200).prop_map(Value::from), 1..3).boxed()
        }
        "before" | "after" => prop_oneof![
            strings(&[
                "2020-01-01T00:00:00Z",
                "1999-12-31T23:59:60.5+01:00",
                "2030-06-01t12:00:00.123z"
            ]),
            collection::vec((0i64..4_102_444_800_000).prop_map(Value::from), 1..3).boxed(),
        ]
        .boxed(),
        "semver_eq" | "semver_lt" | "semver_lte" | "semver_gt" | "semver_gte" => {
            strings(&["1.2.3", "1.2.3-rc.1", "2.0.0", "0.0.1+b", "10.20.30"])
        }
        "in_cidr" => strings(&["10.0.0.0/8", "192.168.0.1", "2001:db8::/32", "::1/128"]),
        "exists" => Just(Vec::new()).boxed(),
        "segment_match" => strings(KEYS),
        _ => collection::vec(
            prop_oneof![3 => text().prop_map(Value::String), 1 => (-5i64..5).prop_map(Value::from)],
            0..4,
        )
        .boxed(),
    };
    prop_oneof![12 => suitable, 1 => collection::vec(json_value(), 0..3)].boxed()
}

fn clause() -> BoxedStrategy<Value> {
    (
        option::of(pick(KINDS)),
        pick(ATTRIBUTES),
        pick(OPERATORS).prop_flat_map(|op| {
            let values = values_for(&op);
            (Just(op), values)
        }),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(kind, attribute, (op, values), negate, case_insensitive)| {
                let mut clause = json!({"attribute": attribute, "op": op, "values": values,
                                    "negate": negate, "case_insensitive": case_insensitive});
                if let Some(kind) = kind {
                    clause["kind"] = json!(kind);
                }
                clause
            },
        )
        .boxed()
}

fn percentage() -> BoxedStrategy<Value> {
    // At most 100 suits every dialect (Unleash counts percent, the others 0.001 %).
    let weight = prop_oneof![10 => (0u32..=100).prop_map(Value::from), 1 => weight()];
    (weight, pick(KINDS), option::of(pick(BUCKET_BY)), option::of(pick(KEYS)))
        .prop_map(|(weight, kind, bucket_by, seed)| {
            json!({"percentage": {"weight": weight, "context_kind": kind, "bucket_by": bucket_by, "seed": seed}})
        })
        .boxed()
}

pub fn condition() -> BoxedStrategy<Value> {
    prop_oneof![4 => clause(), 1 => percentage()]
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                collection::vec(inner.clone(), 0..3).prop_map(|c| json!({"all": c})),
                collection::vec(inner.clone(), 0..3).prop_map(|c| json!({"any": c})),
                inner.prop_map(|c| json!({"not": c})),
            ]
        })
        .boxed()
}

fn rollout() -> BoxedStrategy<Value> {
    let slices = prop_oneof![
        // Two slices summing to 100 % (native and LaunchDarkly; relative weights for Unleash).
        8 => (0u32..=100_000, any::<bool>()).prop_map(|(w, untracked)| {
            vec![json!({"variation": 0, "weight": w}),
                 json!({"variation": 1, "weight": 100_000 - w, "untracked": untracked})]
        }),
        1 => collection::vec((small_index(), weight(), any::<bool>()), 0..4).prop_map(|slices| {
            slices
                .into_iter()
                .map(|(variation, weight, untracked)| json!({"variation": variation, "weight": weight, "untracked": untracked}))
                .collect()
        }),
    ];
    (
        slices,
        pick(KINDS),
        option::of(pick(BUCKET_BY)),
        option::of(pick(KEYS)),
        any::<bool>(),
    )
        .prop_map(|(variations, kind, bucket_by, seed, experiment)| {
            json!({"rollout": {"variations": variations, "context_kind": kind,
                               "bucket_by": bucket_by, "seed": seed, "experiment": experiment}})
        })
        .boxed()
}

/// `{"variation"}`, `{"rollout"}` or `{"release"}` over one of the first two (a release on a
/// release is refused by the compiler, and generated now and then).
pub fn serve() -> BoxedStrategy<Value> {
    let plain =
        prop_oneof![3 => small_index().prop_map(|v| json!({"variation": v})), 2 => rollout()]
            .boxed();
    let release = |previous: BoxedStrategy<Value>| {
        (small_index(), weight(), pick(KEYS), pick(KINDS), option::of(pick(BUCKET_BY)), option::of(condition()), previous)
            .prop_map(|(variation, weight, seed, kind, bucket_by, audience, previous)| {
                json!({"release": {"stage": format!("r.{seed}"), "variation": variation, "weight": weight,
                                   "seed": seed, "context_kind": kind, "bucket_by": bucket_by,
                                   "audience": audience, "previous": previous}})
            })
            .boxed()
    };
    prop_oneof![8 => plain.clone(), 3 => release(plain.clone()), 1 => release(release(plain))]
        .boxed()
}

fn flag() -> BoxedStrategy<Value> {
    let kind_and_values = prop_oneof![
        Just(("boolean", vec![json!(false), json!(true)])),
        collection::vec(any::<bool>().prop_map(Value::Bool), 0..4).prop_map(|v| ("boolean", v)),
        collection::vec(text().prop_map(Value::String), 2..4).prop_map(|v| ("string", v)),
        collection::vec((-5i64..5).prop_map(Value::from), 2..4).prop_map(|v| ("number", v)),
        collection::vec(json_value(), 1..4).prop_map(|v| ("json", v)),
    ];
    (
        (pick(KEYS), pick(DIALECTS), kind_and_values, any::<bool>(), option::of(small_index())),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => collection::vec((pick(KEYS), collection::vec(small_index(), 1..3)), 1..3),
        ],
        collection::vec((pick(KINDS), small_index(), collection::vec(pick(KEYS), 0..4)), 0..3),
        collection::vec((condition(), serve()), 0..4),
        serve(),
    )
        .prop_map(|((key, dialect, (kind, values), on, off), prerequisites, targets, rules, fallthrough)| {
            let variations: Vec<_> = values.into_iter().map(|value| json!({"value": value})).collect();
            let prerequisites: Vec<_> = prerequisites
                .into_iter()
                .map(|(key, variations)| json!({"key": key, "variations": variations}))
                .collect();
            let targets: Vec<_> = targets
                .into_iter()
                .map(|(kind, variation, values)| json!({"kind": kind, "variation": variation, "values": values}))
                .collect();
            let rules: Vec<_> = rules
                .into_iter()
                .enumerate()
                .map(|(i, (condition, serve))| json!({"id": format!("r{i}"), "condition": condition, "serve": serve}))
                .collect();
            json!({"key": key, "kind": kind, "dialect": dialect, "salt": "s", "variations": variations,
                   "on": on, "off_variation": off, "prerequisites": prerequisites, "targets": targets,
                   "rules": rules, "fallthrough": fallthrough})
        })
        .boxed()
}

fn segment() -> BoxedStrategy<Value> {
    (
        pick(KEYS),
        pick(DIALECTS),
        collection::vec((pick(KINDS), collection::vec(pick(KEYS), 0..3)), 0..2),
        collection::vec((pick(KINDS), collection::vec(pick(KEYS), 0..3)), 0..2),
        collection::vec(condition(), 0..3),
    )
        .prop_map(|(key, dialect, included, excluded, rules)| {
            let lists = |lists: Vec<(String, Vec<String>)>| -> Vec<Value> {
                lists
                    .into_iter()
                    .map(|(kind, values)| json!({"kind": kind, "values": values}))
                    .collect()
            };
            let rules: Vec<_> = rules
                .into_iter()
                .map(|condition| json!({"condition": condition}))
                .collect();
            json!({"key": key, "dialect": dialect, "salt": "t", "included": lists(included),
                   "excluded": lists(excluded), "rules": rules})
        })
        .boxed()
}

/// A dataset document: flags and segments of every dialect (keys may repeat: the compiler must
/// cope with duplicates and dangling references too).
pub fn dataset() -> BoxedStrategy<Value> {
    (
        collection::vec(flag(), 0..5),
        collection::vec(segment(), 0..3),
    )
        .prop_map(|(flags, segments)| json!({"flags": flags, "segments": segments}))
        .boxed()
}

fn single_context() -> BoxedStrategy<Map<String, Value>> {
    (
        prop_oneof![4 => pick(KEYS).prop_map(Value::String), 1 => json_value()],
        collection::vec(
            (
                pick(ATTRIBUTES),
                prop_oneof![3 => text().prop_map(Value::String), 2 => json_value()],
            ),
            0..6,
        ),
    )
        .prop_map(|(key, attributes)| {
            let mut object: Map<String, Value> = attributes.into_iter().collect();
            object.insert("key".into(), key);
            object
        })
        .boxed()
}

/// A context document: a plain user, a single context of some kind, a multi-kind context, or any
/// JSON value at all.
pub fn context() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => single_context().prop_map(Value::Object),
        3 => (pick(KINDS), single_context()).prop_map(|(kind, mut object)| {
            object.insert("kind".into(), Value::String(kind));
            Value::Object(object)
        }),
        3 => collection::vec((pick(KINDS), single_context()), 0..3).prop_map(|parts| {
            let mut object: Map<String, Value> =
                parts.into_iter().map(|(kind, body)| (kind, Value::Object(body))).collect();
            object.insert("kind".into(), json!("multi"));
            Value::Object(object)
        }),
        1 => json_value(),
    ]
    .boxed()
}

/// Evaluation environment: the time (around the pooled dates) and Unleash's random number.
pub fn env() -> BoxedStrategy<(i64, u32)> {
    (
        prop_oneof![
            Just(1_577_836_800_000i64),
            any::<i64>(),
            0i64..4_102_444_800_000
        ],
        any::<u32>(),
    )
        .boxed()
}
