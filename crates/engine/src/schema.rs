//! JSON Schemas for the model types whose serde is written by hand (behind the `schema` feature;
//! the rest derive theirs). The server puts them in its OpenAPI document.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::model::{Clause, Condition, Operator, Percentage, Prerequisite};

impl JsonSchema for Operator {
    fn schema_name() -> Cow<'static, str> {
        "Operator".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Operator::NAMES.iter().map(|(name, _)| *name).collect();
        json_schema!({
            "type": "string",
            "description": format!(
                "A clause operator: one of {}; `equals` is an alias of `in`. Unknown operators are \
                 kept and never match (see docs/evaluation.md).",
                names.join(", ")
            ),
            "example": "in"
        })
    }
}

impl JsonSchema for Prerequisite {
    fn schema_name() -> Cow<'static, str> {
        "Prerequisite".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Another flag that must serve `variation` (or one of `variations`).",
            "required": ["key"],
            "properties": {
                "key": {"type": "string"},
                "variation": {"type": "integer", "minimum": 0},
                "variations": {"type": "array", "items": {"type": "integer", "minimum": 0}}
            }
        })
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let node = generator.subschema_for::<Condition>();
        let clause = generator.subschema_for::<Clause>();
        let percentage = generator.subschema_for::<Percentage>();
        json_schema!({
            "description": "A condition tree: `{\"all\": […]}`, `{\"any\": […]}`, `{\"not\": …}`, \
                            `{\"percentage\": …}` or a clause.",
            "oneOf": [
                {"type": "object", "required": ["all"], "additionalProperties": false,
                 "properties": {"all": {"type": "array", "items": node}}},
                {"type": "object", "required": ["any"], "additionalProperties": false,
                 "properties": {"any": {"type": "array", "items": node}}},
                {"type": "object", "required": ["not"], "additionalProperties": false,
                 "properties": {"not": node}},
                {"type": "object", "required": ["percentage"], "additionalProperties": false,
                 "properties": {"percentage": percentage}},
                clause
            ]
        })
    }
}
