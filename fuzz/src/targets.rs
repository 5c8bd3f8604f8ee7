//! The targets: what each one generates and which invariants it checks besides "no panic".

use std::time::{Duration, Instant};

use proptest::collection;
use proptest::prelude::{BoxedStrategy, Just, Strategy, any, prop_oneof};
use serde_json::Value;
use switchyard_engine::{Context, Dataset, Env, Snapshot, ValueType, semver, time};
use switchyard_sdk::sse::EventParser;

use crate::{Report, run, shapes};

pub(crate) const NAMES: &[&str] = &[
    "dataset", "context", "sse", "semver", "time", "glob", "strict",
];

pub(crate) fn run_target(name: &str, budget: Duration, seed: u64) -> Option<Report> {
    Some(match name {
        "dataset" => run(budget, seed, dataset_input(), check_dataset),
        "context" => run(budget, seed, text_of(shapes::context()), |t: &String| {
            check_context(t)
        }),
        "sse" => run(budget, seed, sse_input(), check_sse),
        "semver" => run(budget, seed, semver_input(), |t: &String| check_semver(t)),
        "time" => run(budget, seed, time_input(), check_time),
        "glob" => run(budget, seed, glob_input(), check_glob),
        "strict" => run(budget, seed, strict_input(), check_strict),
        _ => return None,
    })
}

/// Byte-level edits: flip, insert, delete, or repeat a stretch.
fn mutate(text: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for &(at, op, byte) in edits {
        let at = at % (bytes.len() + 1);
        match op {
            0 if at < bytes.len() => bytes[at] ^= byte | 1,
            1 => bytes.insert(at, byte),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {
                let end = (at + usize::from(byte % 16)).min(bytes.len());
                let stretch = bytes[at..end].to_vec();
                bytes.splice(at..at, stretch);
            }
        }
    }
    bytes
}

fn edits() -> BoxedStrategy<Vec<(usize, u8, u8)>> {
    collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..5).boxed()
}

/// JSON text of a structured document: as generated, mutated at the byte level, or raw bytes.
fn text_of(document: BoxedStrategy<Value>) -> BoxedStrategy<String> {
    let text = document.prop_map(|d| d.to_string());
    prop_oneof![
        4 => text.clone(),
        4 => (text, edits()).prop_map(|(t, e)| String::from_utf8_lossy(&mutate(t.as_bytes(), &e)).into_owned()),
        1 => collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
    .boxed()
}

type DatasetInput = (String, Vec<Value>, (i64, u32));

fn dataset_input() -> BoxedStrategy<DatasetInput> {
    (
        text_of(shapes::dataset()),
        collection::vec(shapes::context(), 1..4),
        shapes::env(),
    )
        .boxed()
}

const TYPES: [ValueType; 6] = [
    ValueType::Bool,
    ValueType::Int,
    ValueType::Double,
    ValueType::String,
    ValueType::Json,
    ValueType::Any,
];

/// JSON → `Dataset` → compile → evaluate every flag for every context and type: no panic, and
/// the same answer from a second evaluation and a second compile.
fn check_dataset((text, contexts, (now_ms, random)): &DatasetInput) {
    let Ok(data) = Dataset::from_json(text) else {
        return;
    };
    let first = Snapshot::compile(&data);
    let second = Snapshot::compile(&data);
    assert_eq!(first.problems(), second.problems(), "problems differ");
    let env = Env {
        now_ms: *now_ms,
        random: *random,
    };
    let contexts: Vec<Context> = contexts
        .iter()
        .filter_map(|c| Context::from_json(c).ok())
        .collect();
    for flag in data.flags.iter().map(|f| f.key.as_str()).chain(["missing"]) {
        for context in &contexts {
            for value_type in TYPES {
                let answer = first.evaluate_typed(flag, context, &env, value_type);
                assert_eq!(
                    answer,
                    first.evaluate_typed(flag, context, &env, value_type)
                );
                assert_eq!(
                    answer,
                    second.evaluate_typed(flag, context, &env, value_type)
                );
            }
        }
    }
}

/// Context JSON (native and OpenFeature readings): no panic; accepted contexts have distinct kinds.
fn check_context(text: &str) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Ok(context) = Context::from_json(&value) {
        let mut kinds: Vec<&str> = context.parts().iter().map(|p| p.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), context.parts().len(), "duplicate kinds");
    }
    let _ = Context::from_openfeature(&value);
    for reference in ["/a/b", "a", "", "/", "/~1/~0", "~", "/0"] {
        let _ = switchyard_engine::context::attribute_path(reference);
        let _ = switchyard_engine::context::launchdarkly_attribute_path(reference);
    }
}

type SseInput = (Vec<u8>, Vec<usize>);

fn sse_input() -> BoxedStrategy<SseInput> {
    let byte = prop_oneof![
        1 => any::<u8>(),
        3 => proptest::sample::select(b"\n\r: dataeventid\xc3\xa9".to_vec()),
    ];
    (
        collection::vec(byte, 0..600),
        collection::vec(any::<usize>(), 0..10),
    )
        .boxed()
}

/// The stream in chunks gives the events of the whole stream at once.
fn check_sse((stream, cuts): &SseInput) {
    let whole = EventParser::default().feed(stream);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = EventParser::default();
    let mut chunked = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([stream.len()]) {
        chunked.extend(parser.feed(&stream[start..cut]));
        start = cut;
    }
    assert_eq!(chunked, whole, "chunking changed the events");
}

fn semver_input() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "(0|[1-9][0-9]{0,2}|0[0-9]|[0-9]{19,21})(\\.[0-9]{1,3}){0,3}(-[0-9A-Za-z.-]{0,8})?(\\+[0-9A-Za-z.-]{0,8})?",
        "v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}[ -~]{0,3}",
    ]
    .boxed()
}

/// Strict parsing agrees with the `semver` crate, precedence too; lenient accepts what strict does.
fn check_semver(text: &str) {
    let ours = semver::parse(text, false);
    let lenient = semver::parse(text, true);
    let reference = ::semver::Version::parse(text).ok();
    assert_eq!(
        ours.is_some(),
        reference.is_some(),
        "acceptance differs from the semver crate"
    );
    if let (Some(ours), Some(reference)) = (ours, reference) {
        assert_eq!(
            (ours.major, ours.minor, ours.patch, ours.pre()),
            (
                reference.major,
                reference.minor,
                reference.patch,
                reference.pre.as_str()
            )
        );
        assert!(
            lenient.is_some_and(|l| l == ours),
            "lenient reads it differently"
        );
        for other in ["1.2.3-rc.1", "1.2.3", "0.0.0-0", "1.2.3-rc.a.1"] {
            let theirs = ::semver::Version::parse(other).unwrap();
            let mine = semver::parse(other, false).unwrap();
            assert_eq!(
                ours.cmp(&mine),
                reference.cmp_precedence(&theirs),
                "order vs {other}"
            );
        }
    }
}

type TimeInput = (String, i64);

fn time_input() -> BoxedStrategy<TimeInput> {
    let text = prop_oneof![
        any::<String>(),
        "[0-9]{4}-[0-9]{2}-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,12})?([Zz]|[+−-][0-2][0-9]:[0-6][0-9])[ -~]{0,1}",
    ];
    (text, any::<i64>()).boxed()
}

/// RFC 3339 parsing agrees with chrono to the nanosecond; formatting round-trips in 0000–9999.
fn check_time((text, ms): &TimeInput) {
    let ours = time::parse_rfc3339(text).map(|t| (t.unix_secs(), t.subsec_nanos()));
    let reference = chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| (t.timestamp(), t.timestamp_subsec_nanos()));
    assert_eq!(ours, reference, "differs from chrono");
    let _ = time::parse_rfc3339_ms(text);
    let seconds = ms.rem_euclid(253_402_300_800 + 62_167_219_200) - 62_167_219_200;
    let whole = seconds * 1000;
    assert_eq!(
        time::parse_rfc3339_ms(&time::format_rfc3339_ms(whole)),
        Some(whole)
    );
}

type GlobInput = (String, String);

fn glob_input() -> BoxedStrategy<GlobInput> {
    prop_oneof![
        ("[ab:*/é]{0,24}", "[ab:/é]{0,64}"),
        ("(\\*\\*a|\\*a|a|:){0,20}b?", "[a:]{0,300}"),
        (any::<String>(), any::<String>()),
    ]
    .boxed()
}

/// Policy globs agree with their regex reading and never take long (the old matcher was
/// exponential in the number of wildcards).
fn check_glob((pattern, text): &GlobInput) {
    let started = Instant::now();
    let matched = switchyard_server::access::glob(pattern, text);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(250), "took {took:?}");
    let reference = switchyard_testkit::glob::glob_by_regex(pattern, text);
    assert_eq!(matched, reference, "differs from the regex reading");
}

/// `Flag`'s fields (its own and its flattened `Targeting`'s).
const FLAG_FIELDS: &[&str] = &[
    "key",
    "version",
    "kind",
    "variations",
    "salt",
    "dialect",
    "client_visible",
    "json_schema",
    "on",
    "off_variation",
    "prerequisites",
    "targets",
    "rules",
    "fallthrough",
];

type StrictInput = (Value, Option<(usize, String)>);

fn strict_input() -> BoxedStrategy<StrictInput> {
    let extra = proptest::option::of((
        any::<usize>(),
        prop_oneof![Just("clauses".to_owned()), "[a-z]{1,8}"],
    ));
    prop_oneof![
        4 => (shapes::dataset(), extra),
        1 => (shapes::json_value(), Just(None)),
    ]
    .boxed()
}

/// The strict-input walker never panics; a generated dataset has no unknown fields, and a field
/// added to one of its flags is reported at that flag.
fn check_strict((document, extra): &StrictInput) {
    let unknown = switchyard_engine::strict::unknown_fields::<Dataset>(document);
    let Some(flags) = document.get("flags").and_then(Value::as_array) else {
        return;
    };
    assert!(
        unknown.is_empty(),
        "generated dataset has unknown fields {unknown:?}"
    );
    let (Some((index, name)), false) = (extra, flags.is_empty()) else {
        return;
    };
    let index = index % flags.len();
    let mut document = document.clone();
    document["flags"][index][name.as_str()] = Value::from(1);
    // A known field's name (given a wrong value here) is the type's business, not the walker's.
    let known = FLAG_FIELDS.contains(&name.as_str());
    let unknown = switchyard_engine::strict::unknown_fields::<Dataset>(&document);
    if !known {
        assert!(
            unknown.contains(&format!("flags[{index}].{name}")),
            "added field `{name}` not reported: {unknown:?}"
        );
    }
}
