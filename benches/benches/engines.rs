//! Flag evaluation, side by side: Switchyard's engine, LaunchDarkly's evaluation crate and
//! Unleash's Yggdrasil, on equivalent flags and the same context (`../shared/anchors.md`).
//! Prints the median nanoseconds per evaluation and our ratio to each anchor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: fail loudly

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use launchdarkly_server_sdk_evaluation as ld;
use serde_json::{Value, json};
use switchyard_engine as sy;
use unleash_yggdrasil as unleash;

#[path = "../../crates/engine/tests/workload/mod.rs"]
mod workload;

const WORKLOADS: [(&str, &str); 3] = [
    ("plain", "(a) plain flag"),
    ("rules", "(b) 5 rules x 3 clauses + segment + 50/50"),
    ("targets", "(c) 10,000-key target list"),
];

fn switchyard_data() -> sy::Dataset {
    let bool_flag = |key: &str| {
        json!({"key": key, "kind": "boolean", "salt": "s", "on": true,
               "variations": [{"value": false}, {"value": true}], "fallthrough": {"variation": 1}})
    };
    let mut rules_flag = bool_flag("rules");
    rules_flag["rules"] = json!(workload::rules());
    rules_flag["fallthrough"] = workload::fifty_fifty();
    let mut targets_flag = bool_flag("targets");
    targets_flag["targets"] = json!([{"variation": 1, "values": target_keys()}]);
    targets_flag["fallthrough"] = json!({"variation": 0});
    serde_json::from_value(json!({
        "flags": [bool_flag("plain"), rules_flag, targets_flag],
        "segments": [{"key": "beta", "rules": workload::beta_rules()}]
    }))
    .unwrap()
}

fn target_keys() -> Vec<String> {
    (0..10_000).map(|i| format!("user-{i}")).collect()
}

struct LdStore {
    flags: HashMap<String, ld::Flag>,
    segments: HashMap<String, ld::Segment>,
}

impl ld::Store for LdStore {
    fn flag(&self, key: &str) -> Option<ld::Flag> {
        self.flags.get(key).cloned()
    }
    fn segment(&self, key: &str) -> Option<ld::Segment> {
        self.segments.get(key).cloned()
    }
}

fn launchdarkly_store() -> LdStore {
    // LaunchDarkly's Flag needs its full field set to deserialize.
    let flag = |key: &str, extra: Value| {
        let mut f = json!({"key": key, "version": 1, "on": true, "salt": "s", "variations": [false, true],
            "offVariation": 0, "fallthrough": {"variation": 1}, "targets": [], "contextTargets": [],
            "rules": [], "prerequisites": [], "trackEvents": false, "trackEventsFallthrough": false,
            "clientSide": false, "deleted": false});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        (
            key.to_owned(),
            serde_json::from_value::<ld::Flag>(f).unwrap(),
        )
    };
    let clause = |attribute: &str, op: &str, values: Value| json!({"attribute": attribute, "op": op, "values": values, "negate": false});
    let mut rules: Vec<Value> = (0..5)
        .map(|i| {
            json!({"id": format!("r{i}"), "variation": 1, "trackEvents": false, "clauses": [
                clause("country", "in", json!(["DE", "FR", format!("X{i}")])),
                clause("appVersion", "semVerGreaterThan", json!(["9.1.0"])),
                clause("age", "greaterThan", json!([200]))
            ]})
        })
        .collect();
    rules.push(json!({"id": "beta", "variation": 1, "trackEvents": false,
                      "clauses": [clause("", "segmentMatch", json!(["beta"]))]}));
    let flags = HashMap::from([
        flag("plain", json!({})),
        flag(
            "rules",
            json!({"rules": rules, "fallthrough": {"rollout": {"variations": [
            {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}}),
        ),
        flag(
            "targets",
            json!({"targets": [{"values": target_keys(), "variation": 1}],
                               "fallthrough": {"variation": 0}}),
        ),
    ]);
    let segment: ld::Segment = serde_json::from_value(json!({"key": "beta", "version": 1, "salt": "b",
        "included": [], "excluded": [], "includedContexts": [], "excludedContexts": [], "deleted": false,
        "rules": [{"id": "e", "clauses": [clause("email", "endsWith", json!(["@beta.example"]))]}]}))
    .unwrap();
    LdStore {
        flags,
        segments: HashMap::from([("beta".to_owned(), segment)]),
    }
}

fn unleash_engine() -> unleash::EngineState {
    let constraint = |name: &str, op: &str, values: Value| json!({"contextName": name, "operator": op, "values": values, "value": values[0]});
    let flexible = |rollout: &str, constraints: Value, segments: Value| {
        json!({"name": "flexibleRollout", "constraints": constraints, "segments": segments,
               "parameters": {"rollout": rollout, "stickiness": "default", "groupId": "rules"}})
    };
    let mut strategies: Vec<Value> = (0..5)
        .map(|i| {
            flexible(
                "100",
                json!([
                    constraint("country", "IN", json!(["DE", "FR", format!("X{i}")])),
                    constraint("appVersion", "SEMVER_GT", json!(["9.1.0"])),
                    constraint("age", "NUM_GT", json!(["200"]))
                ]),
                json!([]),
            )
        })
        .collect();
    strategies.push(flexible("100", json!([]), json!([1])));
    strategies.push(flexible("50", json!([]), json!([])));
    let features = json!({"version": 2, "features": [
        {"name": "plain", "enabled": true, "strategies": [{"name": "default", "parameters": {}}]},
        {"name": "rules", "enabled": true, "strategies": strategies},
        {"name": "targets", "enabled": true, "strategies": [
            {"name": "userWithId", "parameters": {"userIds": target_keys().join(",")}}]}
    ], "segments": [{"id": 1, "constraints": [constraint("email", "STR_ENDS_WITH", json!(["@beta.example"]))]}]});
    let engine = unleash::EngineState::default();
    let warnings = engine.take_state(unleash::UpdateMessage::FullResponse(
        serde_json::from_value(features).unwrap(),
    ));
    assert!(
        warnings.as_ref().is_none_or(Vec::is_empty),
        "Unleash rejected the features: {warnings:?}"
    );
    engine
}

/// Median nanoseconds per call of each engine, with samples of all engines interleaved so that
/// noise on this shared machine hits them alike.
fn measure(engines: &mut [(&str, &mut dyn FnMut())]) -> Vec<f64> {
    const SAMPLES: usize = 31;
    // Calibrate: iterations per sample so that one sample takes about 10 ms.
    let per_sample: Vec<u64> = engines
        .iter_mut()
        .map(|(_, run)| {
            let mut n = 1u64;
            loop {
                let start = Instant::now();
                (0..n).for_each(|_| run());
                if start.elapsed().as_millis() >= 10 {
                    return n;
                }
                n *= 2;
            }
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(SAMPLES); engines.len()];
    for _ in 0..SAMPLES {
        for (i, (_, run)) in engines.iter_mut().enumerate() {
            let start = Instant::now();
            (0..per_sample[i]).for_each(|_| run());
            samples[i].push(start.elapsed().as_nanos() as f64 / per_sample[i] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[SAMPLES / 2]
        })
        .collect()
}

fn main() {
    let snapshot = sy::Snapshot::compile(&switchyard_data());
    assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
    let attributes =
        json!({"country": "US", "appVersion": "2.0.0", "age": 30, "email": "a@corp.example"});
    let mut native = attributes.clone();
    native["key"] = json!("user-abc");
    let sy_context = sy::Context::from_json(&native).unwrap();
    let sy_env = sy::Env::default();
    let store = launchdarkly_store();
    native["kind"] = json!("user");
    let ld_context: ld::Context = serde_json::from_value(native).unwrap();
    if let Ok(profile) = std::env::var("ENGINES_PROFILE") {
        // `ENGINES_PROFILE=rules:100000`: only our engine on one workload, for
        // `valgrind --tool=callgrind`; two counts give the instructions per evaluation.
        let (key, count) = profile
            .split_once(':')
            .expect("ENGINES_PROFILE=workload:count");
        for _ in 0..count.parse::<u64>().expect("a count") {
            black_box(snapshot.evaluate(black_box(key), &sy_context, &sy_env));
        }
        return;
    }
    let yggdrasil = unleash_engine();
    let mut properties: HashMap<String, String> = HashMap::new();
    for (name, value) in attributes.as_object().unwrap() {
        properties.insert(
            name.clone(),
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        );
    }
    let unleash_context = unleash::Context {
        user_id: Some("user-abc".into()),
        properties: Some(properties),
        ..Default::default()
    };

    println!("Flag evaluation, median ns per evaluation of 31 interleaved samples");
    println!(
        "{}, {} CPUs",
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<44} {:>10} {:>12} {:>10} {:>8} {:>8} {:>14}",
        "workload",
        "switchyard",
        "launchdarkly",
        "unleash",
        "LD/ours",
        "Unl/ours",
        "best anchor/ours"
    );
    for (key, label) in WORKLOADS {
        // Equal work: every engine takes the path the workload describes.
        let ours = snapshot.evaluate(key, &sy_context, &sy_env);
        assert_eq!(ours.reason.kind_name(), "FALLTHROUGH", "{key}: {ours:?}");
        assert_eq!(
            ours.reason.rollout().is_some(),
            key == "rules",
            "{key}: {ours:?}"
        );
        let theirs = ld::evaluate(&store, &store.flags[key], &ld_context, None);
        assert!(
            matches!(theirs.reason, ld::Reason::Fallthrough { .. }),
            "{key}: {theirs:?}"
        );
        let enabled = yggdrasil.is_enabled(key, &unleash_context, &None);
        assert!(
            key == "rules" || enabled == (key == "plain"),
            "{key}: Unleash said {enabled}"
        );

        let ld_flag = &store.flags[key];
        let results = measure(&mut [
            ("switchyard", &mut || {
                black_box(snapshot.evaluate(black_box(key), &sy_context, &sy_env));
            }),
            ("launchdarkly", &mut || {
                // The SDK looks the flag up by key as well; this keeps the work comparable.
                let flag = store.flags.get(black_box(key)).unwrap_or(ld_flag);
                black_box(ld::evaluate(&store, flag, &ld_context, None));
            }),
            ("unleash", &mut || {
                black_box(yggdrasil.is_enabled(black_box(key), &unleash_context, &None));
            }),
        ]);
        let (ours, ld_ns, ygg_ns) = (results[0], results[1], results[2]);
        println!(
            "{label:<44} {ours:>10.1} {ld_ns:>12.1} {ygg_ns:>10.1} {:>7.1}x {:>7.1}x {:>13.1}x",
            ld_ns / ours,
            ygg_ns / ours,
            ld_ns.min(ygg_ns) / ours
        );
    }
}
