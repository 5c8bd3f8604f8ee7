//! Import of Unleash client features (`{"version","features","segments"}`, or delta events) and
//! Unleash contexts.
//!
//! An Unleash feature becomes a boolean flag in the Unleash [`Dialect`] whose variations are laid
//! out as: `0` = not enabled (`false`), `1` = enabled without a variant (`true`), then one variation
//! per Unleash variant (`true`, named after the variant, carrying its payload): the feature's
//! variants first, then each strategy's. Each strategy becomes rules: one per variant override
//! (strategy ∧ override → that variant), then the strategy itself serving variation 1 or a rollout
//! over its variants. The fallthrough and the off variation are `0`. Dependencies become
//! prerequisites. [`variant`] turns a result back into Unleash's variant object.

mod strategy;

use serde_json::{Map, Value, json};
use switchyard_engine::compile::CompiledFlag;
use switchyard_engine::context::{Context, ContextError, SingleContext};
use switchyard_engine::eval::Evaluation;
use switchyard_engine::model::{
    Condition, Dataset, Dialect, Flag, FlagKind, Operator, Prerequisite, Rollout, Rule, Segment,
    SegmentRule, Serve, Targeting, Variation, WeightedVariation,
};

use strategy::{clause, constraints_condition, parameter, strategy_condition};

use crate::ImportError;

/// Variation 0: the feature is not enabled for the context.
const NOT_ENABLED: usize = 0;
/// Variation 1: enabled, no variant.
const ENABLED: usize = 1;
/// Unleash's name for "no variant".
const DISABLED_VARIANT: &str = "disabled";

/// Context fields Unleash reads from the top level; every other name is a `properties` entry.
const STANDARD_FIELDS: [&str; 6] = [
    "userId",
    "sessionId",
    "remoteAddress",
    "environment",
    "appName",
    "currentTime",
];

/// Imports a client features payload, or a list of delta events (`{"events":[…]}`) applied in order.
pub fn import(payload: &Value) -> Result<Dataset, ImportError> {
    let (features, segments) = match payload.get("events") {
        Some(events) => apply_events(events)?,
        None => (
            list(payload, "features", "features")?,
            list(payload, "segments", "segments")?,
        ),
    };
    let segment_ids: Vec<String> = segments.iter().map(segment_id).collect();
    let dataset_segments = segments
        .iter()
        .zip(&segment_ids)
        .enumerate()
        .map(|(i, (segment, id))| {
            let path = format!("segments[{i}]");
            let constraints = list(segment, "constraints", &path)?;
            Ok(Segment {
                key: segment_key(id),
                version: 0,
                salt: String::new(),
                dialect: Dialect::Unleash,
                included: Vec::new(),
                excluded: Vec::new(),
                rules: vec![SegmentRule {
                    id: String::new(),
                    condition: Condition::All(constraints_condition(&constraints, &path)?),
                }],
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let flags = features
        .iter()
        .enumerate()
        .map(|(i, feature)| {
            import_feature(feature, &features, &segment_ids, &format!("features[{i}]"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dataset {
        flags,
        segments: dataset_segments,
    })
}

/// Builds a `user` context from an Unleash context: `userId` is the key; the standard fields and
/// every `properties` entry are attributes (a property never shadows a standard field).
pub fn context(unleash: &Value) -> Result<Context, ContextError> {
    let Value::Object(object) = unleash else {
        return Err(ContextError::NotAnObject);
    };
    let mut attributes = Map::new();
    if let Some(Value::Object(properties)) = object.get("properties") {
        for (name, value) in properties {
            if !STANDARD_FIELDS.contains(&name.as_str()) {
                attributes.insert(name.clone(), text_value(value));
            }
        }
    }
    for field in STANDARD_FIELDS {
        if let Some(value) = object.get(field) {
            attributes.insert(field.to_owned(), text_value(value));
        }
    }
    let key = match attributes.get("userId") {
        Some(Value::String(id)) => id.clone(),
        _ => String::new(),
    };
    Ok(Context::single(SingleContext::new(
        "user", &key, attributes,
    )))
}

/// Unleash's variant object for an evaluation of an imported flag (`None`: the flag is unknown).
pub fn variant(flag: Option<&CompiledFlag>, evaluation: &Evaluation) -> Value {
    let feature_enabled = evaluation.variation.is_some_and(|v| v.value == true);
    match (flag, evaluation.variation_index) {
        (Some(_), Some(index)) if index > ENABLED => {
            let mut object = json!({
                "name": evaluation.variation.and_then(|v| v.name.clone()).unwrap_or_default(),
                "enabled": true,
                "feature_enabled": true,
            });
            if let Some(payload) = evaluation.variation.and_then(|v| v.payload.clone()) {
                object["payload"] = payload;
            }
            object
        }
        _ => {
            json!({"name": DISABLED_VARIANT, "enabled": false, "feature_enabled": feature_enabled})
        }
    }
}

/// Unleash compares context values as text; numbers and booleans become their JSON text.
fn text_value(value: &Value) -> Value {
    match value {
        Value::Number(_) | Value::Bool(_) => Value::String(value.to_string()),
        other => other.clone(),
    }
}

fn list(value: &Value, field: &str, path: &str) -> Result<Vec<Value>, ImportError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(_) => Err(ImportError::new(path, format!("`{field}` must be a list"))),
    }
}

fn str_field<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value.get(field).and_then(Value::as_str)
}

fn segment_id(segment: &Value) -> String {
    match segment.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn segment_key(id: &str) -> String {
    format!("unleash-segment-{id}")
}

/// Applies delta events (`hydration`, `feature-updated`, `feature-removed`, `segment-updated`,
/// `segment-removed`) in order.
fn apply_events(events: &Value) -> Result<(Vec<Value>, Vec<Value>), ImportError> {
    let Value::Array(events) = events else {
        return Err(ImportError::new("events", "must be a list"));
    };
    let (mut features, mut segments): (Vec<Value>, Vec<Value>) = (Vec::new(), Vec::new());
    let upsert = |items: &mut Vec<Value>, item: &Value, same: &dyn Fn(&Value) -> bool| match items
        .iter_mut()
        .find(|existing| same(existing))
    {
        Some(existing) => *existing = item.clone(),
        None => items.push(item.clone()),
    };
    for (i, event) in events.iter().enumerate() {
        let path = format!("events[{i}]");
        match str_field(event, "type") {
            Some("hydration") => {
                features = list(event, "features", &path)?;
                segments = list(event, "segments", &path)?;
            }
            Some("feature-updated") => {
                let feature = event.get("feature").cloned().unwrap_or_default();
                let name = str_field(&feature, "name").unwrap_or_default().to_owned();
                upsert(&mut features, &feature, &|f| {
                    str_field(f, "name") == Some(&name)
                });
            }
            Some("feature-removed") => {
                let name = str_field(event, "featureName");
                features.retain(|f| str_field(f, "name") != name);
            }
            Some("segment-updated") => {
                let segment = event.get("segment").cloned().unwrap_or_default();
                let id = segment_id(&segment);
                upsert(&mut segments, &segment, &|s| segment_id(s) == id);
            }
            Some("segment-removed") => {
                let id = match event.get("segmentId") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                segments.retain(|s| segment_id(s) != id);
            }
            // Unknown event types are skipped, as Unleash's clients do.
            _ => {}
        }
    }
    Ok((features, segments))
}

fn import_feature(
    feature: &Value,
    all: &[Value],
    segment_ids: &[String],
    path: &str,
) -> Result<Flag, ImportError> {
    let Some(name) = str_field(feature, "name") else {
        return Err(ImportError::new(path, "a feature needs a `name`"));
    };
    let mut variations = vec![
        variation(NOT_ENABLED, DISABLED_VARIANT, false, None),
        variation(ENABLED, "enabled", true, None),
    ];
    let feature_variants = variants(feature, &format!("{path}.variants"), &mut variations)?;
    let strategies = list(feature, "strategies", path)?;
    let mut rules = Vec::new();
    for (i, strategy) in strategies.iter().enumerate() {
        let path = format!("{path}.strategies[{i}]");
        let condition = strategy_condition(strategy, name, segment_ids, &path)?;
        let strategy_variants = variants(strategy, &format!("{path}.variants"), &mut variations)?;
        let group_id = parameter(strategy, "groupId").unwrap_or_else(|| name.to_owned());
        let (chosen, group_id, inherited) = if strategy_variants.is_empty() {
            (&feature_variants, name.to_owned(), None)
        } else {
            // Strategy variants without a stickiness of their own use the strategy's.
            (
                &strategy_variants,
                group_id,
                parameter(strategy, "stickiness"),
            )
        };
        for (variant_index, overrides) in chosen
            .iter()
            .flat_map(|v| v.overrides.iter().map(move |o| (v.index, o)))
        {
            rules.push(Rule {
                id: format!("strategy-{i}-override"),
                condition: Condition::All(vec![condition.clone(), overrides.clone()]),
                serve: Serve::Variation(variant_index),
            });
        }
        rules.push(Rule {
            id: format!("strategy-{i}"),
            condition,
            serve: serve_variants(chosen, &group_id, inherited),
        });
    }
    if strategies.is_empty() {
        // Unleash: an enabled feature without strategies is enabled for everyone.
        for (variant_index, overrides) in feature_variants
            .iter()
            .flat_map(|v| v.overrides.iter().map(move |o| (v.index, o)))
        {
            rules.push(Rule {
                id: "override".into(),
                condition: overrides.clone(),
                serve: Serve::Variation(variant_index),
            });
        }
        rules.push(Rule {
            id: "no-strategies".into(),
            condition: Condition::always(),
            serve: serve_variants(&feature_variants, name, None),
        });
    }
    let prerequisites = list(feature, "dependencies", path)?
        .iter()
        .map(|dependency| prerequisite(dependency, all))
        .collect();
    Ok(Flag {
        key: name.to_owned(),
        version: 0,
        kind: FlagKind::Boolean,
        variations,
        salt: String::new(),
        dialect: Dialect::Unleash,
        client_visible: false,
        json_schema: None,
        targeting: Targeting {
            on: feature
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            off_variation: Some(NOT_ENABLED),
            prerequisites,
            targets: Vec::new(),
            rules,
            fallthrough: Serve::Variation(NOT_ENABLED),
        },
    })
}

fn variation(index: usize, name: &str, value: bool, payload: Option<Value>) -> Variation {
    Variation {
        key: index.to_string(),
        value: Value::Bool(value),
        name: Some(name.to_owned()),
        description: None,
        payload,
    }
}

/// An Unleash variant, added to the flag's variations at `index`.
struct ImportedVariant {
    index: usize,
    weight: u32,
    stickiness: Option<String>,
    /// One condition per override (`contextName` in `values`).
    overrides: Vec<Condition>,
}

fn variants(
    owner: &Value,
    path: &str,
    variations: &mut Vec<Variation>,
) -> Result<Vec<ImportedVariant>, ImportError> {
    let mut imported = Vec::new();
    for (i, v) in list(owner, "variants", path)?.iter().enumerate() {
        let Some(name) = str_field(v, "name") else {
            return Err(ImportError::new(
                format!("{path}[{i}]"),
                "a variant needs a `name`",
            ));
        };
        let weight = v.get("weight").and_then(Value::as_u64).unwrap_or(0);
        let overrides = list(v, "overrides", path)?
            .iter()
            .map(|o| {
                clause(
                    str_field(o, "contextName").unwrap_or_default(),
                    Operator::In,
                    list(o, "values", path).unwrap_or_default(),
                    false,
                )
            })
            .collect();
        imported.push(ImportedVariant {
            index: variations.len(),
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            stickiness: str_field(v, "stickiness").map(str::to_owned),
            overrides,
        });
        variations.push(variation(
            variations.len(),
            name,
            true,
            v.get("payload").cloned(),
        ));
    }
    // Unleash picks no variant when the weights are all zero.
    if imported.iter().all(|v| v.weight == 0) {
        imported.clear();
    }
    Ok(imported)
}

fn serve_variants(
    variants: &[ImportedVariant],
    group_id: &str,
    inherited: Option<String>,
) -> Serve {
    if variants.is_empty() {
        return Serve::Variation(ENABLED);
    }
    Serve::Rollout(Rollout {
        variations: variants
            .iter()
            .map(|v| WeightedVariation {
                variation: v.index,
                weight: v.weight,
                untracked: false,
            })
            .collect(),
        context_kind: "user".into(),
        bucket_by: Some(
            variants
                .first()
                .and_then(|v| v.stickiness.clone())
                .or(inherited)
                .unwrap_or_else(|| "default".into()),
        ),
        seed: Some(group_id.to_owned()),
        experiment: false,
    })
}

fn prerequisite(dependency: &Value, all: &[Value]) -> Prerequisite {
    let parent_name = str_field(dependency, "feature").unwrap_or_default();
    let parent = all
        .iter()
        .find(|f| str_field(f, "name") == Some(parent_name));
    let wants_enabled = dependency
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let variations = match parent {
        // Dependencies are one level deep: a parent that has dependencies of its own never
        // satisfies one, and neither does a missing parent (the prerequisite then fails).
        None => Vec::new(),
        Some(p) if !list(p, "dependencies", "").unwrap_or_default().is_empty() => Vec::new(),
        Some(_) if !wants_enabled => vec![NOT_ENABLED],
        Some(p) => {
            let wanted = list(dependency, "variants", "").unwrap_or_default();
            let names: Vec<&str> = wanted.iter().filter_map(Value::as_str).collect();
            parent_variations(p, &names)
        }
    };
    Prerequisite {
        key: parent_name.to_owned(),
        variations,
    }
}

/// The parent's variation indices (laid out as [`import_feature`] does) that count as "enabled",
/// restricted to the named variants when there are any (`disabled` = enabled without a variant).
fn parent_variations(parent: &Value, names: &[&str]) -> Vec<usize> {
    let mut variant_names: Vec<String> = list(parent, "variants", "")
        .unwrap_or_default()
        .iter()
        .map(|v| str_field(v, "name").unwrap_or_default().to_owned())
        .collect();
    for strategy in list(parent, "strategies", "").unwrap_or_default() {
        variant_names.extend(
            list(&strategy, "variants", "")
                .unwrap_or_default()
                .iter()
                .map(|v| str_field(v, "name").unwrap_or_default().to_owned()),
        );
    }
    let indexed = variant_names
        .iter()
        .enumerate()
        .map(|(i, n)| (i + ENABLED + 1, n.as_str()));
    if names.is_empty() {
        return std::iter::once(ENABLED)
            .chain(indexed.map(|(i, _)| i))
            .collect();
    }
    let mut chosen: Vec<usize> = indexed
        .filter(|(_, n)| names.contains(n))
        .map(|(i, _)| i)
        .collect();
    if names.contains(&DISABLED_VARIANT) {
        chosen.push(ENABLED);
    }
    chosen
}
