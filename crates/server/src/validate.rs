//! Validation of flags and segments. A change is checked the way it will be served: the
//! environment's whole dataset is compiled by the engine before and after the change, and any
//! problem the change introduces (in the changed resource or in one that depends on it, such as
//! a prerequisite cycle or a removed variation another flag points at) rejects it.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::compile::Snapshot;
use switchyard_engine::model::{
    Clause, Condition, Dataset, Dialect, Flag, FlagKind, Operator, Segment, Serve, Targeting,
    Variation, default_variation_keys,
};
use switchyard_store::Store;

use crate::api::parse_doc;
use crate::error::{ApiError, ApiResult};
use crate::resources::env_scope;

/// The project-level parts of a flag, shared by every environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagSpec {
    pub key: String,
    pub kind: FlagKind,
    /// Boolean flags default to `on` (true) and `off` (false).
    #[serde(default)]
    pub variations: Vec<Variation>,
    /// Set by the server on creation; the default rollout seed is `"{key}.{salt}"`.
    #[serde(default)]
    pub salt: String,
    #[serde(default, skip_serializing_if = "is_native")]
    pub dialect: Dialect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub temporary: bool,
    #[serde(default)]
    pub client_visible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
    #[serde(default)]
    pub archived: bool,
}

fn is_native(dialect: &Dialect) -> bool {
    *dialect == Dialect::Native
}

impl FlagSpec {
    /// What a new environment serves until someone edits it: off, serving the last variation
    /// (`false` for boolean flags); when turned on, the first.
    pub fn default_targeting(&self) -> Targeting {
        Targeting {
            on: false,
            off_variation: self.variations.len().checked_sub(1),
            prerequisites: Vec::new(),
            targets: Vec::new(),
            rules: Vec::new(),
            fallthrough: Serve::Variation(0),
        }
    }

    pub fn for_environment(&self, version: u64, targeting: Targeting) -> Flag {
        Flag {
            key: self.key.clone(),
            version,
            kind: self.kind,
            variations: self.variations.clone(),
            salt: self.salt.clone(),
            dialect: self.dialect,
            client_visible: self.client_visible,
            json_schema: self.json_schema.clone(),
            targeting,
        }
    }

    /// Fills defaults and checks what needs no environment: variations of the right kind with
    /// unique keys, and values that satisfy the JSON Schema.
    pub fn normalize_and_check(&mut self) -> ApiResult<()> {
        if self.variations.is_empty() && self.kind == FlagKind::Boolean {
            self.variations = [("on", true), ("off", false)]
                .map(|(key, value)| Variation {
                    key: key.into(),
                    value: Value::Bool(value),
                    name: None,
                    description: None,
                    payload: None,
                })
                .into();
        }
        if self.variations.len() < 2 {
            return Err(ApiError::invalid(
                "variations",
                "a flag needs at least two variations",
            ));
        }
        default_variation_keys(&mut self.variations);
        let mut keys = HashSet::new();
        for (i, variation) in self.variations.iter().enumerate() {
            if !self.kind.admits(&variation.value) {
                return Err(ApiError::invalid(
                    format!("variations[{i}].value"),
                    format!("a {:?} flag cannot serve {}", self.kind, variation.value)
                        .to_lowercase(),
                ));
            }
            if !keys.insert(variation.key.as_str()) {
                return Err(ApiError::invalid(
                    format!("variations[{i}].key"),
                    format!("variation key {:?} is used twice", variation.key),
                ));
            }
        }
        if let Some(schema) = &self.json_schema {
            let validator = jsonschema::validator_for(schema).map_err(|e| {
                ApiError::invalid("json_schema", format!("not a valid JSON Schema: {e}"))
            })?;
            for (i, variation) in self.variations.iter().enumerate() {
                if let Err(e) = validator.validate(&variation.value) {
                    return Err(ApiError::invalid(
                        format!("variations[{i}].value"),
                        format!("does not match the flag's JSON Schema: {e}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One environment's flags and segments as stored, with their versions.
#[derive(Debug, Clone, Default)]
pub struct EnvData {
    /// Flag key → (spec, spec version, targeting and its version; version 0 = never edited).
    pub flags: BTreeMap<String, (FlagSpec, i64, Targeting, i64)>,
    pub segments: BTreeMap<String, (Segment, i64)>,
}

impl EnvData {
    pub async fn load(store: &Store, project: &str, env: &str) -> ApiResult<EnvData> {
        let scope = env_scope(project, env);
        let mut targeting: BTreeMap<String, (Targeting, i64)> = BTreeMap::new();
        for doc in store.list("targeting", &scope).await? {
            targeting.insert(doc.key.clone(), (parse_doc(&doc)?, doc.version));
        }
        let mut data = EnvData::default();
        for doc in store.list("flag", project).await? {
            let spec: FlagSpec = parse_doc(&doc)?;
            let (rules, version) = targeting
                .remove(&doc.key)
                .unwrap_or_else(|| (spec.default_targeting(), 0));
            data.flags
                .insert(doc.key.clone(), (spec, doc.version, rules, version));
        }
        for doc in store.list("segment", &scope).await? {
            data.segments
                .insert(doc.key.clone(), (parse_doc(&doc)?, doc.version));
        }
        Ok(data)
    }

    /// The environment as the engine (and SDKs) see it. A flag's served version is the sum of its
    /// spec and targeting versions, which grows with every change to either.
    pub fn dataset(&self) -> Dataset {
        Dataset {
            flags: self
                .flags
                .values()
                .map(|(spec, spec_version, targeting, version)| {
                    spec.for_environment((spec_version + version) as u64, targeting.clone())
                })
                .collect(),
            segments: self
                .segments
                .values()
                .map(|(segment, version)| Segment {
                    version: *version as u64,
                    ..segment.clone()
                })
                .collect(),
        }
    }
}

/// Rejects a change that introduces a problem `before` did not have.
pub fn no_new_problems(before: &Dataset, after: &Dataset) -> ApiResult<()> {
    let known: HashSet<(String, String)> = problems(before).into_iter().collect();
    match problems(after).into_iter().find(|p| !known.contains(p)) {
        Some((field, message)) => Err(ApiError::invalid(field, message)),
        None => Ok(()),
    }
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
