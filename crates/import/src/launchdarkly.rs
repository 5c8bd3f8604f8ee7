//! Import of LaunchDarkly server-SDK data (`{"flags":{key:flag}, "segments":{key:segment}}`) and
//! LaunchDarkly contexts, including legacy users without `kind`.
//!
//! Flags and segments keep LaunchDarkly's semantics through [`Dialect::LaunchDarkly`]: SHA-1
//! bucketing in `f32` (seeded rollouts hash `"{seed}.{value}"`), unbucketable values at bucket 0,
//! experiments bucketed by key, lenient semver, the `kind` attribute matching any of a context's
//! kinds. Variation keys are `"0"`, `"1"`, … by index. Unbounded ("big") segments need a
//! segment store that the engine does not have: they import as segments that match no one.

use serde_json::{Map, Value};
use switchyard_engine::context::{Context, ContextError, SingleContext};
use switchyard_engine::model::{
    Clause, Condition, Dataset, Dialect, Flag, FlagKind, KeyList, Operator, Percentage,
    Prerequisite, Rollout, Rule, Segment, SegmentRule, Serve, Target, Targeting, Variation,
    WeightedVariation,
};

use crate::ImportError;

/// Imports flags and segments; deleted ones (tombstones) are left out.
pub fn import(data: &Value) -> Result<Dataset, ImportError> {
    let entries = |field: &str| -> Result<Vec<(&String, &Value)>, ImportError> {
        match data.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(map
                .iter()
                .filter(|(_, v)| !v.get("deleted").and_then(Value::as_bool).unwrap_or(false))
                .collect()),
            Some(_) => Err(ImportError::new(
                field,
                "must be an object keyed by flag/segment key",
            )),
        }
    };
    let flags = entries("flags")?
        .into_iter()
        .map(|(key, flag)| import_flag(key, flag, &format!("flags.{key}")))
        .collect::<Result<_, _>>()?;
    let segments = entries("segments")?
        .into_iter()
        .map(|(key, segment)| import_segment(key, segment))
        .collect();
    Ok(Dataset { flags, segments })
}

/// Builds a context from a LaunchDarkly context, refusing what LaunchDarkly refuses: single- or
/// multi-kind (`_meta` is checked, then ignored), or a legacy user (no `kind`) whose built-in
/// attributes (`name`, `email`, `country`…) must be strings and whose `custom` attributes become
/// top-level attributes, overriding the built-ins except `key`, `kind`, `name`, `anonymous` and
/// `_meta` (as in LaunchDarkly). A legacy user's other top-level fields are ignored.
pub fn context(ld: &Value) -> Result<Context, ContextError> {
    let Value::Object(object) = ld else {
        return Err(ContextError::NotAnObject);
    };
    match object.get("kind") {
        None => legacy_user(object),
        Some(Value::String(kind)) if kind == "multi" => {
            let parts = object
                .iter()
                .filter(|(name, _)| name.as_str() != "kind")
                .map(|(kind, body)| single_kind(kind, body))
                .collect::<Result<Vec<_>, _>>()?;
            Context::multi(parts)
        }
        Some(Value::String(kind)) => Ok(Context::single(single_kind(kind, ld)?)),
        Some(other) => Err(ContextError::InvalidKind(other.to_string())),
    }
}

fn single_kind(kind: &str, body: &Value) -> Result<SingleContext, ContextError> {
    let valid_kind = !kind.is_empty()
        && kind != "kind"
        && kind != "multi"
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid_kind {
        return Err(ContextError::InvalidKind(kind.to_owned()));
    }
    let Value::Object(object) = body else {
        return Err(ContextError::NotAnObject);
    };
    let key = match object.get("key") {
        Some(Value::String(key)) if key.is_empty() => {
            return Err(ContextError::EmptyKey(kind.to_owned()));
        }
        Some(Value::String(key)) => key,
        _ => return Err(ContextError::MissingKey(kind.to_owned())),
    };
    let invalid = |attribute: &str, expected| ContextError::InvalidAttribute {
        kind: kind.to_owned(),
        attribute: attribute.to_owned(),
        expected,
    };
    let mut attributes = Map::new();
    for (name, value) in object {
        match (name.as_str(), value) {
            ("kind" | "key" | "", _) | (_, Value::Null) => {}
            ("name", Value::String(_)) | ("anonymous", Value::Bool(_)) => {
                attributes.insert(name.clone(), value.clone());
            }
            ("name", _) => return Err(invalid(name, "a string")),
            ("anonymous", _) => return Err(invalid(name, "a boolean")),
            ("_meta", Value::Object(meta)) => {
                if !matches!(
                    meta.get("secondary"),
                    None | Some(Value::Null | Value::String(_))
                ) {
                    return Err(invalid("_meta.secondary", "a string"));
                }
                if !optional_strings(meta.get("privateAttributes")) {
                    return Err(invalid("_meta.privateAttributes", "a list of strings"));
                }
            }
            ("_meta", _) => return Err(invalid(name, "an object")),
            _ => {
                attributes.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(SingleContext::new(kind, key, attributes))
}

/// LaunchDarkly's built-in attributes of a legacy user, each a string when present.
const LEGACY_STRINGS: [&str; 8] = [
    "name",
    "secondary",
    "firstName",
    "lastName",
    "avatar",
    "email",
    "country",
    "ip",
];

fn legacy_user(object: &Map<String, Value>) -> Result<Context, ContextError> {
    let invalid = |attribute: &str, expected| ContextError::InvalidAttribute {
        kind: "user".to_owned(),
        attribute: attribute.to_owned(),
        expected,
    };
    let Some(Value::String(key)) = object.get("key") else {
        return Err(ContextError::MissingKey("user".into()));
    };
    let mut attributes = Map::new();
    for name in LEGACY_STRINGS {
        match object.get(name) {
            None | Some(Value::Null) => {}
            // `secondary` only ever fed bucketing: it is no attribute.
            Some(Value::String(_)) if name == "secondary" => {}
            Some(value @ Value::String(_)) => {
                attributes.insert(name.to_owned(), value.clone());
            }
            Some(_) => return Err(invalid(name, "a string")),
        }
    }
    match object.get("anonymous") {
        None | Some(Value::Null) => {}
        Some(value @ Value::Bool(_)) => {
            attributes.insert("anonymous".to_owned(), value.clone());
        }
        Some(_) => return Err(invalid("anonymous", "a boolean")),
    }
    if !optional_strings(object.get("privateAttributeNames")) {
        return Err(invalid("privateAttributeNames", "a list of strings"));
    }
    match object.get("custom") {
        None | Some(Value::Null) => {}
        Some(Value::Object(custom)) => {
            for (name, value) in custom {
                match (name.as_str(), value) {
                    ("kind" | "key" | "name" | "anonymous" | "_meta" | "", _) => {}
                    (_, Value::Null) => {
                        attributes.remove(name);
                    }
                    _ => {
                        attributes.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        Some(_) => return Err(invalid("custom", "an object")),
    }
    Ok(Context::single(SingleContext::new("user", key, attributes)))
}

/// Absent, null, or a list of strings.
fn optional_strings(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        Some(_) => false,
    }
}

fn import_flag(key: &str, flag: &Value, path: &str) -> Result<Flag, ImportError> {
    let Some(Value::Array(values)) = flag.get("variations") else {
        return Err(ImportError::new(
            format!("{path}.variations"),
            "must be a list",
        ));
    };
    let variations: Vec<Variation> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Variation {
            key: i.to_string(),
            value: value.clone(),
            name: None,
            description: None,
            payload: None,
        })
        .collect();
    // A rule or fallthrough that serves nothing is malformed in LaunchDarkly; pointing it at a
    // variation that does not exist makes compilation mark the flag malformed the same way.
    let nothing = variations.len();
    let serve = |owner: &Value| -> Serve {
        if let Some(index) = owner.get("variation").and_then(Value::as_u64) {
            return Serve::Variation(usize::try_from(index).unwrap_or(nothing));
        }
        match owner.get("rollout") {
            Some(rollout) => Serve::Rollout(import_rollout(rollout)),
            None => Serve::Variation(nothing),
        }
    };
    let rules = array(flag, "rules")
        .iter()
        .map(|rule| Rule {
            id: str_field(rule, "id").unwrap_or_default().to_owned(),
            condition: Condition::All(array(rule, "clauses").iter().map(import_clause).collect()),
            serve: serve(rule),
        })
        .collect();
    Ok(Flag {
        key: key.to_owned(),
        version: flag.get("version").and_then(Value::as_u64).unwrap_or(0),
        kind: kind_of(values),
        variations,
        salt: str_field(flag, "salt").unwrap_or_default().to_owned(),
        dialect: Dialect::LaunchDarkly,
        client_visible: flag
            .get("clientSide")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || flag
                .pointer("/clientSideAvailability/usingEnvironmentId")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        json_schema: None,
        targeting: Targeting {
            on: flag.get("on").and_then(Value::as_bool).unwrap_or(false),
            // A negative off variation is malformed when served, as one out of range.
            off_variation: flag.get("offVariation").and_then(|v| {
                v.as_u64()
                    .map(|v| usize::try_from(v).unwrap_or(nothing))
                    .or_else(|| v.as_i64().map(|_| nothing))
            }),
            prerequisites: array(flag, "prerequisites")
                .iter()
                .map(|p| Prerequisite {
                    key: str_field(p, "key").unwrap_or_default().to_owned(),
                    variations: vec![index(p, "variation").unwrap_or(nothing)],
                })
                .collect(),
            targets: import_targets(flag),
            rules,
            fallthrough: flag
                .get("fallthrough")
                .map_or(Serve::Variation(nothing), serve),
        },
    })
}

/// LaunchDarkly checks `contextTargets` in order; an entry for the `user` kind without values
/// stands for the `targets` entry of the same variation. Without `contextTargets`, `targets`.
fn import_targets(flag: &Value) -> Vec<Target> {
    let user_targets = array(flag, "targets");
    let user_target = |t: &Value| Target {
        kind: "user".into(),
        variation: index(t, "variation").unwrap_or(usize::MAX),
        values: strings(t, "values"),
    };
    let context_targets = array(flag, "contextTargets");
    if context_targets.is_empty() {
        return user_targets.iter().map(user_target).collect();
    }
    context_targets
        .iter()
        .filter_map(|ct| {
            let kind = str_field(ct, "contextKind").unwrap_or("user");
            if kind == "user" && array(ct, "values").is_empty() {
                let variation = ct.get("variation");
                user_targets
                    .iter()
                    .find(|t| t.get("variation") == variation)
                    .map(user_target)
            } else {
                Some(Target {
                    kind: kind.to_owned(),
                    variation: index(ct, "variation").unwrap_or(usize::MAX),
                    values: strings(ct, "values"),
                })
            }
        })
        .collect()
}

fn import_rollout(rollout: &Value) -> Rollout {
    let experiment = str_field(rollout, "kind") == Some("experiment");
    let context_kind = str_field(rollout, "contextKind");
    Rollout {
        variations: array(rollout, "variations")
            .iter()
            .map(|wv| WeightedVariation {
                variation: index(wv, "variation").unwrap_or(usize::MAX),
                weight: wv
                    .get("weight")
                    .and_then(Value::as_f64)
                    .map_or(0, |w| w.clamp(0.0, 100_000.0) as u32),
                untracked: wv
                    .get("untracked")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect(),
        context_kind: context_kind.unwrap_or("user").to_owned(),
        // Experiments always bucket by key.
        bucket_by: str_field(rollout, "bucketBy")
            .filter(|_| !experiment)
            .map(|by| reference(by, context_kind.is_some())),
        seed: rollout
            .get("seed")
            .and_then(Value::as_i64)
            .map(|s| s.to_string()),
        experiment,
    }
}

fn import_clause(clause: &Value) -> Condition {
    let context_kind = str_field(clause, "contextKind");
    let op = match str_field(clause, "op").unwrap_or_default() {
        "in" => Operator::In,
        "endsWith" => Operator::EndsWith,
        "startsWith" => Operator::StartsWith,
        "matches" => Operator::Matches,
        "contains" => Operator::Contains,
        "lessThan" => Operator::Lt,
        "lessThanOrEqual" => Operator::Lte,
        "greaterThan" => Operator::Gt,
        "greaterThanOrEqual" => Operator::Gte,
        "before" => Operator::Before,
        "after" => Operator::After,
        "semVerEqual" => Operator::SemverEq,
        "semVerLessThan" => Operator::SemverLt,
        "semVerGreaterThan" => Operator::SemverGt,
        "segmentMatch" => Operator::SegmentMatch,
        other => Operator::Unknown(other.to_owned()),
    };
    Condition::Clause(Clause {
        kind: context_kind.unwrap_or("user").to_owned(),
        attribute: reference(
            str_field(clause, "attribute").unwrap_or_default(),
            context_kind.is_some(),
        ),
        op,
        values: array(clause, "values").to_vec(),
        negate: clause
            .get("negate")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        case_insensitive: false,
    })
}

/// A LaunchDarkly attribute as a native reference. With a context kind it is already a reference
/// (`/a/b` or a plain name); without one (older data) it is always a literal attribute name.
fn reference(attribute: &str, is_reference: bool) -> String {
    if is_reference || !attribute.starts_with('/') {
        attribute.to_owned()
    } else {
        format!("/{}", attribute.replace('~', "~0").replace('/', "~1"))
    }
}

fn import_segment(key: &str, segment: &Value) -> Segment {
    let user_keys = |field: &str| -> Vec<KeyList> {
        let values = strings(segment, field);
        if values.is_empty() {
            Vec::new()
        } else {
            vec![KeyList {
                kind: "user".into(),
                values,
            }]
        }
    };
    let context_keys = |field: &str| -> Vec<KeyList> {
        array(segment, field)
            .iter()
            .map(|list| KeyList {
                kind: str_field(list, "contextKind").unwrap_or("user").to_owned(),
                values: strings(list, "values"),
            })
            .collect()
    };
    let unbounded = segment
        .get("unbounded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let rules = if unbounded {
        // Big segments live in a store the engine does not have: nobody is in them.
        Vec::new()
    } else {
        array(segment, "rules")
            .iter()
            .map(|rule| {
                let mut all: Vec<Condition> =
                    array(rule, "clauses").iter().map(import_clause).collect();
                if let Some(weight) = rule
                    .get("weight")
                    .and_then(Value::as_f64)
                    .filter(|w| *w >= 0.0)
                {
                    let kind = str_field(rule, "rolloutContextKind");
                    all.push(Condition::Percentage(Percentage {
                        weight: weight.min(100_000.0) as u32,
                        context_kind: kind.unwrap_or("user").to_owned(),
                        bucket_by: str_field(rule, "bucketBy")
                            .map(|by| reference(by, kind.is_some())),
                        seed: None,
                    }));
                }
                SegmentRule {
                    id: str_field(rule, "id").unwrap_or_default().to_owned(),
                    condition: Condition::All(all),
                }
            })
            .collect()
    };
    let (mut included, mut excluded) = (user_keys("included"), user_keys("excluded"));
    included.extend(context_keys("includedContexts"));
    excluded.extend(context_keys("excludedContexts"));
    if unbounded {
        included.clear();
        excluded.clear();
    }
    Segment {
        key: key.to_owned(),
        version: segment.get("version").and_then(Value::as_u64).unwrap_or(0),
        salt: str_field(segment, "salt").unwrap_or_default().to_owned(),
        dialect: Dialect::LaunchDarkly,
        included,
        excluded,
        rules,
    }
}

fn kind_of(values: &[Value]) -> FlagKind {
    if values.iter().all(Value::is_boolean) {
        FlagKind::Boolean
    } else if values.iter().all(Value::is_string) {
        FlagKind::String
    } else if values.iter().all(Value::is_number) {
        FlagKind::Number
    } else {
        FlagKind::Json
    }
}

fn array<'v>(value: &'v Value, field: &str) -> &'v [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn strings(value: &Value, field: &str) -> Vec<String> {
    array(value, field)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn str_field<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value.get(field).and_then(Value::as_str)
}

fn index(value: &Value, field: &str) -> Option<usize> {
    value
        .get(field)
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok())
}
