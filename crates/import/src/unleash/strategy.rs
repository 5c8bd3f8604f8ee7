//! Unleash strategies, their constraints and segment references, as engine conditions.

use serde_json::{Value, json};
use switchyard_engine::model::{Clause, Condition, Operator, Percentage};

use super::{list, segment_key, str_field};
use crate::ImportError;

pub(super) fn parameter(strategy: &Value, name: &str) -> Option<String> {
    match strategy.get("parameters")?.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Unleash percentages: numbers or numeric strings, compared as `normalized <= percentage`.
fn percentage(strategy: &Value, name: &str) -> u32 {
    parameter(strategy, name)
        .and_then(|p| p.trim().parse::<f64>().ok())
        .map_or(0, |p| p.clamp(0.0, 100.0).floor() as u32)
}

pub(super) fn strategy_condition(
    strategy: &Value,
    feature: &str,
    segment_ids: &[String],
    path: &str,
) -> Result<Condition, ImportError> {
    let mut all = constraints_condition(&list(strategy, "constraints", path)?, path)?;
    for id in list(strategy, "segments", path)? {
        let id = match id {
            Value::String(s) => s,
            other => other.to_string(),
        };
        if segment_ids.contains(&id) {
            all.push(clause(
                "",
                Operator::SegmentMatch,
                vec![json!(segment_key(&id))],
                false,
            ));
        } else {
            // Unleash: a strategy that references a missing segment is not enabled.
            all.push(never());
        }
    }
    let rollout = |bucket_by: &str, weight: u32, group: Option<String>| {
        Condition::Percentage(Percentage {
            weight,
            context_kind: "user".into(),
            bucket_by: Some(bucket_by.to_owned()),
            seed: Some(group.unwrap_or_else(|| feature.to_owned())),
        })
    };
    let own = match str_field(strategy, "name").unwrap_or_default() {
        "default" => Condition::always(),
        "userWithId" => clause(
            "userId",
            Operator::In,
            split_list(strategy, "userIds"),
            false,
        ),
        "remoteAddress" => clause(
            "remoteAddress",
            Operator::InCidr,
            split_list(strategy, "IPs"),
            false,
        ),
        "gradualRolloutUserId" => rollout(
            "userId",
            percentage(strategy, "percentage"),
            parameter(strategy, "groupId"),
        ),
        "gradualRolloutSessionId" => rollout(
            "sessionId",
            percentage(strategy, "percentage"),
            parameter(strategy, "groupId"),
        ),
        "gradualRolloutRandom" => rollout("random", percentage(strategy, "percentage"), None),
        "flexibleRollout" => rollout(
            &parameter(strategy, "stickiness").unwrap_or_else(|| "default".into()),
            percentage(strategy, "rollout"),
            parameter(strategy, "groupId"),
        ),
        // Unknown strategies (including custom ones) are not enabled, as in Unleash.
        _ => never(),
    };
    all.push(own);
    Ok(Condition::All(all))
}

fn split_list(strategy: &Value, name: &str) -> Vec<Value> {
    parameter(strategy, name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
        .collect()
}

fn never() -> Condition {
    Condition::Any(Vec::new())
}

pub(super) fn clause(
    attribute: &str,
    op: Operator,
    values: Vec<Value>,
    case_insensitive: bool,
) -> Condition {
    Condition::Clause(Clause {
        kind: "user".into(),
        // Unleash context names are literal; escape them as a JSON Pointer segment.
        attribute: format!("/{}", attribute.replace('~', "~0").replace('/', "~1")),
        op,
        values,
        negate: false,
        case_insensitive,
    })
}

pub(super) fn constraints_condition(
    constraints: &[Value],
    path: &str,
) -> Result<Vec<Condition>, ImportError> {
    constraints
        .iter()
        .enumerate()
        .map(|(i, c)| constraint(c, &format!("{path}.constraints[{i}]")))
        .collect()
}

/// One constraint. `inverted` (and `NOT_IN`) negate the whole test *after* a missing field failed
/// it, which is a logical `not` around the native clause.
fn constraint(constraint: &Value, path: &str) -> Result<Condition, ImportError> {
    let Some(context_name) = str_field(constraint, "contextName") else {
        return Err(ImportError::new(path, "a constraint needs a `contextName`"));
    };
    let operator = str_field(constraint, "operator").unwrap_or_default();
    let folded = constraint
        .get("caseInsensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let values = list(constraint, "values", path)?;
    let single = || {
        constraint
            .get("value")
            .cloned()
            .map_or_else(Vec::new, |v| vec![v])
    };
    let test =
        |op: Operator, values: Vec<Value>, fold: bool| clause(context_name, op, values, fold);
    let (condition, negated) = match operator {
        "IN" => (test(Operator::In, values, false), false),
        "NOT_IN" => (test(Operator::In, values, false), true),
        "STR_CONTAINS" => (test(Operator::Contains, values, folded), false),
        "STR_STARTS_WITH" => (test(Operator::StartsWith, values, folded), false),
        "STR_ENDS_WITH" => (test(Operator::EndsWith, values, folded), false),
        "NUM_EQ" => (
            // Numeric equality: at least and at most the value.
            Condition::All(vec![
                test(Operator::Gte, single(), false),
                test(Operator::Lte, single(), false),
            ]),
            false,
        ),
        "NUM_LT" => (test(Operator::Lt, single(), false), false),
        "NUM_LTE" => (test(Operator::Lte, single(), false), false),
        "NUM_GT" => (test(Operator::Gt, single(), false), false),
        "NUM_GTE" => (test(Operator::Gte, single(), false), false),
        "DATE_AFTER" => (test(Operator::After, single(), false), false),
        "DATE_BEFORE" => (test(Operator::Before, single(), false), false),
        "SEMVER_EQ" => (test(Operator::SemverEq, single(), false), false),
        "SEMVER_LT" => (test(Operator::SemverLt, single(), false), false),
        "SEMVER_GT" => (test(Operator::SemverGt, single(), false), false),
        "SEMVER_GTE" => (test(Operator::SemverGte, single(), false), false),
        "SEMVER_LTE" => (test(Operator::SemverLte, single(), false), false),
        "IN_CIDR" => (test(Operator::InCidr, values, false), false),
        "REGEX" => (test(Operator::Matches, single(), folded), false),
        other => (
            test(Operator::Unknown(other.to_owned()), Vec::new(), false),
            false,
        ),
    };
    let inverted = constraint
        .get("inverted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(if negated != inverted {
        Condition::Not(Box::new(condition))
    } else {
        condition
    })
}
