//! Validation of flags and segments, pure: data in, problems out. A change is checked the way
//! it will be served: the environment's whole dataset is compiled by the engine before and after
//! the change, and any problem the change introduces (in the changed resource or in one that
//! depends on it, such as a prerequisite cycle or a removed variation another flag points at)
//! rejects it.

use std::collections::HashSet;

use serde_json::Value;
use switchyard_engine::compile::Snapshot;
use switchyard_engine::model::{
    Clause, Condition, Dataset, Dialect, FlagKind, FlagSpec, Operator, Variation,
    default_variation_keys,
};

use crate::error::Invalid;

/// Fills defaults and checks what needs no environment: variations of the right kind with
/// unique keys, and values that satisfy the JSON Schema.
pub fn normalize_flag_spec(spec: &mut FlagSpec) -> Result<(), Invalid> {
    if spec.variations.is_empty() && spec.kind == FlagKind::Boolean {
        spec.variations = [("on", true), ("off", false)]
            .map(|(key, value)| Variation {
                key: key.into(),
                value: Value::Bool(value),
                name: None,
                description: None,
                payload: None,
            })
            .into();
    }
    if spec.variations.len() < 2 {
        return Err(Invalid::new(
            "variations",
            "a flag needs at least two variations",
        ));
    }
    default_variation_keys(&mut spec.variations);
    let mut keys = HashSet::new();
    for (i, variation) in spec.variations.iter().enumerate() {
        if !spec.kind.admits(&variation.value) {
            return Err(Invalid::new(
                format!("variations[{i}].value"),
                format!("a {:?} flag cannot serve {}", spec.kind, variation.value).to_lowercase(),
            ));
        }
        if !keys.insert(variation.key.as_str()) {
            return Err(Invalid::new(
                format!("variations[{i}].key"),
                format!("variation key {:?} is used twice", variation.key),
            ));
        }
    }
    if let Some(schema) = &spec.json_schema {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| Invalid::new("json_schema", format!("not a valid JSON Schema: {e}")))?;
        for (i, variation) in spec.variations.iter().enumerate() {
            if let Err(e) = validator.validate(&variation.value) {
                return Err(Invalid::new(
                    format!("variations[{i}].value"),
                    format!("does not match the flag's JSON Schema: {e}"),
                ));
            }
        }
    }
    check_remove_by(spec)?;
    normalize_off_variation(spec)
}

/// The start (Unix ms, UTC) of a `YYYY-MM-DD` day; `None` for anything else.
pub fn day_start_ms(day: &str) -> Option<i64> {
    let shaped = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    switchyard_engine::time::parse_rfc3339_ms(&format!("{day}T00:00:00Z"))
}

/// A planned removal is a real day, and only temporary flags are planned to go.
fn check_remove_by(spec: &FlagSpec) -> Result<(), Invalid> {
    let Some(day) = &spec.remove_by else {
        return Ok(());
    };
    if day_start_ms(day).is_none() {
        return Err(Invalid::new(
            "remove_by",
            format!("{day:?} is not a day: write it as YYYY-MM-DD (UTC), such as 2026-03-31"),
        ));
    }
    if !spec.temporary {
        return Err(Invalid::new(
            "remove_by",
            "only a temporary flag has a planned removal: set \"temporary\": true, or leave \
             remove_by out",
        ));
    }
    Ok(())
}

/// What the flag serves when off, by variation key (`product.md`, "Off state"): a boolean flag
/// defaults to its `false` variation; any other native flag must name one (there is no
/// sensible guess: "the last variation" once moved every user of a killed AI config to the
/// large model). Imported flags may have none: their origin serves the caller's default.
fn normalize_off_variation(spec: &mut FlagSpec) -> Result<(), Invalid> {
    let keys = || {
        let keys: Vec<&str> = spec.variations.iter().map(|v| v.key.as_str()).collect();
        keys.join(", ")
    };
    match &spec.off_variation {
        Some(key) if spec.variation_index(key).is_none() => Err(Invalid::new(
            "off_variation",
            format!(
                "no variation has key {key:?}: the off variation must be one of {}",
                keys()
            ),
        )),
        Some(_) => Ok(()),
        None if spec.kind == FlagKind::Boolean => {
            match spec
                .variations
                .iter()
                .find(|v| v.value == Value::Bool(false))
            {
                Some(off) => {
                    spec.off_variation = Some(off.key.clone());
                    Ok(())
                }
                None => Err(Invalid::new(
                    "off_variation",
                    "this boolean flag has no false variation: name the variation it serves when off",
                )),
            }
        }
        None if spec.dialect != Dialect::Native => Ok(()),
        None => Err(Invalid::new(
            "off_variation",
            format!(
                "a {} flag needs `off_variation`: the key of the variation it serves when off \
                 (one of {})",
                format!("{:?}", spec.kind).to_lowercase(),
                keys()
            ),
        )),
    }
}

/// Rejects a change that introduces a problem `before` did not have.
pub fn no_new_problems(before: &Dataset, after: &Dataset) -> Result<(), Invalid> {
    let known: HashSet<(String, String)> = problems(before).into_iter().collect();
    match problems(after).into_iter().find(|p| !known.contains(p)) {
        Some((field, message)) => Err(Invalid::new(field, message)),
        None => Ok(()),
    }
}

/// Every problem `after` has that `before` did not, each once: a whole project applied at once
/// (`api/config`) reports all of them, not the first.
pub fn new_problems(before: &Dataset, after: &Dataset) -> Vec<Invalid> {
    let known: HashSet<(String, String)> = problems(before).into_iter().collect();
    let mut seen = HashSet::new();
    problems(after)
        .into_iter()
        .filter(|p| !known.contains(p) && seen.insert(p.clone()))
        .map(|(field, message)| Invalid::new(field, message))
        .collect()
}

/// What the engine reports, plus references the engine tolerates at evaluation time (a missing
/// prerequisite fails, a missing segment never matches) but a stored change must not create.
fn problems(data: &Dataset) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Snapshot::compile(data)
        .problems()
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect();
    let flags: HashSet<&str> = data.flags.iter().map(|f| f.key.as_str()).collect();
    let segments: HashSet<&str> = data.segments.iter().map(|s| s.key.as_str()).collect();
    let conditions = data
        .flags
        .iter()
        .flat_map(|flag| {
            flag.targeting
                .rules
                .iter()
                .enumerate()
                .map(move |(i, rule)| {
                    (
                        format!("flags[{}].rules[{i}].condition", flag.key),
                        &rule.condition,
                    )
                })
        })
        .chain(data.segments.iter().flat_map(|segment| {
            segment.rules.iter().enumerate().map(move |(i, rule)| {
                (
                    format!("segments[{}].rules[{i}].condition", segment.key),
                    &rule.condition,
                )
            })
        }));
    for (field, condition) in conditions {
        visit_clauses(condition, &mut |clause| {
            if clause.op != Operator::SegmentMatch {
                return;
            }
            for value in clause.values.iter().filter_map(Value::as_str) {
                if !segments.contains(value) {
                    found.push((field.clone(), format!("segment {value:?} does not exist")));
                }
            }
        });
    }
    for flag in &data.flags {
        for (i, prerequisite) in flag.targeting.prerequisites.iter().enumerate() {
            if !flags.contains(prerequisite.key.as_str()) {
                found.push((
                    format!("flags[{}].prerequisites[{i}].key", flag.key),
                    format!("flag {:?} does not exist", prerequisite.key),
                ));
            }
        }
    }
    found
        .into_iter()
        .map(|(field, message)| {
            let message = naming_the_rule(data, &field, message);
            (field, message)
        })
        .collect()
}

/// A flag rule's problem names the rule as people know it, by its id (`rule “beta-users”: …`;
/// by position, `rule #2: …`, when it has none), not by an index in a field path.
fn naming_the_rule(data: &Dataset, field: &str, message: String) -> String {
    let rule = field
        .strip_prefix("flags[")
        .and_then(|rest| rest.split_once("].rules["))
        .and_then(|(key, rest)| Some((key, rest.split_once(']')?.0.parse::<usize>().ok()?)));
    let Some((key, index)) = rule else {
        return message;
    };
    let flag = data.flags.iter().find(|flag| flag.key == key);
    match flag.and_then(|flag| flag.targeting.rules.get(index)) {
        Some(rule) if !rule.id.is_empty() => format!("rule “{}”: {message}", rule.id),
        _ => format!("rule #{}: {message}", index + 1),
    }
}

fn visit_clauses(condition: &Condition, visit: &mut impl FnMut(&Clause)) {
    match condition {
        Condition::All(children) | Condition::Any(children) => {
            children.iter().for_each(|c| visit_clauses(c, visit))
        }
        Condition::Not(child) => visit_clauses(child, visit),
        Condition::Clause(clause) => visit(clause),
        Condition::Percentage(_) => {}
    }
}
