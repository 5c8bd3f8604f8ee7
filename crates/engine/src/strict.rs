//! Strict input: which fields of a JSON document its type does not know.
//!
//! Serde ignores unknown fields, which is right for what servers and SDKs read from each other
//! (a newer peer may add fields) but wrong for what people write: a rule with `clauses` instead of
//! `condition` would be stored as an empty condition and serve everyone. Input edges (API bodies,
//! data files, CLI file inputs) therefore check a document against its type's JSON Schema — the
//! same schema the OpenAPI document publishes — before deserializing it. Objects with declared
//! `properties` are closed; maps (`additionalProperties`) and free-form values (`true`) are the
//! documented extension points and stay open.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// The trait input types derive, re-exported so callers need no schemars dependency of their own.
pub use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// The paths of `document`'s fields that `T` does not know (`rules[0].clauses`), in document
/// order; empty when it has none.
pub fn unknown_fields<T: JsonSchema>(document: &Value) -> Vec<String> {
    let root = root_schema::<T>();
    let walker = Walker {
        defs: root.get("$defs").and_then(Value::as_object),
    };
    let mut unknown = Vec::new();
    walker.check(document, &[&root], &mut String::new(), &mut unknown);
    unknown
}

/// `T`'s schema, generated once per type: a schema costs far more to build than to walk.
fn root_schema<T: JsonSchema>() -> Arc<Value> {
    static SCHEMAS: LazyLock<Mutex<HashMap<String, Arc<Value>>>> = LazyLock::new(Default::default);
    let id = T::schema_id().into_owned();
    let mut schemas = SCHEMAS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    schemas
        .entry(id)
        .or_insert_with(|| {
            let schema = SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<T>();
            Arc::new(schema.to_value())
        })
        .clone()
}

struct Walker<'s> {
    defs: Option<&'s Map<String, Value>>,
}

impl<'s> Walker<'s> {
    /// Checks `value` against every schema in `schemas` at once: a field is unknown only when
    /// none of them (the branches of a `oneOf`, say) declares it.
    fn check(
        &self,
        value: &Value,
        schemas: &[&'s Value],
        path: &mut String,
        out: &mut Vec<String>,
    ) {
        let mut leaves = Vec::new();
        for schema in schemas {
            self.leaves(schema, &mut leaves, 0);
        }
        match value {
            Value::Object(fields) => self.check_object(fields, &leaves, path, out),
            Value::Array(items) => {
                let item_schemas: Vec<&Value> =
                    leaves.iter().filter_map(|leaf| leaf.get("items")).collect();
                if item_schemas.is_empty() {
                    return;
                }
                for (index, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{index}]"));
                    self.check(item, &item_schemas, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        fields: &Map<String, Value>,
        leaves: &[&'s Value],
        path: &mut String,
        out: &mut Vec<String>,
    ) {
        let objects: Vec<&Value> = leaves
            .iter()
            .copied()
            .filter(|leaf| admits_objects(leaf))
            .collect();
        // A schema without declared properties (`true`, `{}`, `{"type": "object"}`) is free-form.
        let free_form = objects.iter().any(|leaf| {
            leaf.as_bool() == Some(true)
                || (leaf.get("properties").is_none()
                    && leaf.get("additionalProperties").is_none()
                    && leaf.get("patternProperties").is_none())
        });
        for (name, field) in fields {
            let mut declared: Vec<&Value> = Vec::new();
            let mut open = free_form;
            for leaf in &objects {
                if let Some(schema) = leaf.get("properties").and_then(|p| p.get(name)) {
                    declared.push(schema);
                } else if let Some(extra) = leaf.get("additionalProperties") {
                    if extra.as_bool() != Some(false) {
                        open = true;
                        declared.push(extra);
                    }
                } else if leaf.get("patternProperties").is_some() {
                    open = true;
                }
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(name);
            if declared.is_empty() && !open {
                out.push(path.clone());
            } else if !declared.is_empty() {
                self.check(field, &declared, path, out);
            }
            path.truncate(len);
        }
    }

    /// The schemas `schema` stands for once references and `allOf`/`anyOf`/`oneOf` are
    /// expanded (each branch is a candidate; the schema itself may declare properties too).
    fn leaves(&self, schema: &'s Value, out: &mut Vec<&'s Value>, depth: usize) {
        // Schemas of recursive types refer to themselves; a document is at most 128 deep anyway.
        if depth > 64 {
            return;
        }
        if let Some(resolved) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|target| self.resolve(target))
        {
            self.leaves(resolved, out, depth + 1);
        }
        for combinator in ["allOf", "anyOf", "oneOf"] {
            for branch in schema
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.leaves(branch, out, depth + 1);
            }
        }
        let is_combination_only = schema.as_object().is_some_and(|o| {
            o.keys().all(|k| {
                matches!(
                    k.as_str(),
                    "$ref"
                        | "allOf"
                        | "anyOf"
                        | "oneOf"
                        | "description"
                        | "title"
                        | "default"
                        | "examples"
                        | "example"
                        | "$schema"
                        | "$defs"
                        | "deprecated"
                )
            }) && o
                .keys()
                .any(|k| matches!(k.as_str(), "$ref" | "allOf" | "anyOf" | "oneOf"))
        });
        if !is_combination_only {
            out.push(schema);
        }
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.defs?.get(name)
    }
}

/// Whether a schema may describe an object (it has no `type`, or its types include `object`).
fn admits_objects(schema: &Value) -> bool {
    match schema.get("type") {
        None => schema.as_bool() != Some(false),
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "object"),
        Some(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::unknown_fields;
    use crate::model::{Dataset, Flag, Segment};

    fn flag(extra: serde_json::Value) -> serde_json::Value {
        let mut flag = json!({
            "key": "f", "kind": "boolean",
            "variations": [{"value": false}, {"value": true}],
            "fallthrough": {"variation": 0}
        });
        for (k, v) in extra.as_object().unwrap() {
            flag[k] = v.clone();
        }
        flag
    }

    #[test]
    fn a_known_document_has_no_unknown_fields() {
        let document = flag(json!({
            "on": true, "off_variation": 0, "client_visible": true,
            "prerequisites": [{"key": "p", "variation": 1}],
            "targets": [{"variation": 1, "values": ["alice"]}],
            "rules": [{"id": "r", "condition": {"all": [
                {"attribute": "email", "op": "ends_with", "values": ["@x"], "negate": false},
                {"not": {"percentage": {"weight": 1000}}}
            ]}, "serve": {"variation": 1}}]
        }));
        assert_eq!(unknown_fields::<Flag>(&document), Vec::<String>::new());
    }

    #[test]
    fn misspelt_fields_are_named_at_any_depth() {
        let document = flag(json!({
            "tgas": ["a"],
            "rules": [{"clauses": [], "serve": {"variation": 1}}],
            "targets": [{"variation": 1, "value": ["alice"]}]
        }));
        let mut found = unknown_fields::<Flag>(&document);
        found.sort();
        assert_eq!(found, ["rules[0].clauses", "targets[0].value", "tgas"]);
    }

    #[test]
    fn unknown_fields_inside_condition_trees_are_named() {
        let segment = json!({"key": "s", "rules": [{"condition": {"any": [
            {"attribute": "country", "op": "in", "values": ["NL"], "negated": true}
        ]}}]});
        assert_eq!(
            unknown_fields::<Segment>(&segment),
            ["rules[0].condition.any[0].negated"]
        );
        let dataset = json!({"flags": [], "segmnets": []});
        assert_eq!(unknown_fields::<Dataset>(&dataset), ["segmnets"]);
    }

    #[test]
    fn free_form_values_and_maps_stay_open() {
        let document = flag(json!({
            "variations": [{"value": {"model": "small", "any": {"nested": true}}}, {"value": 1}],
            "json_schema": {"type": "object", "whatever": 1}
        }));
        assert_eq!(unknown_fields::<Flag>(&document), Vec::<String>::new());
    }
}
