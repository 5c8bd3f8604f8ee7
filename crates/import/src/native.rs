//! Switchyard's own data files (one environment's flags and segments) in JSON or YAML.
//!
//! YAML is read with `serde_norway`, a maintained fork of `serde_yaml` 0.9 (YAML 1.2 scalars:
//! `off`, `yes` and `no` stay strings). `tests/yaml_golden.rs` holds every YAML file in the
//! repository to what `serde_yaml` made of it before YAML moved here.

use serde_json::Value;
use switchyard_engine::Dataset;
use switchyard_engine::strict::unknown_fields;

/// Parses JSON or YAML (JSON is YAML, but JSON errors read better, so try it first). A field the
/// format does not know is refused, naming it: these files are written by people, and a
/// misspelling must not change what is served.
pub fn from_text(text: &str) -> Result<Dataset, String> {
    let (document, is_json): (Value, bool) = match serde_json::from_str(text) {
        Ok(document) => (document, true),
        Err(json_err) if text.trim_start().starts_with('{') => return Err(json_err.to_string()),
        Err(_) => (
            serde_norway::from_str(text).map_err(|e| e.to_string())?,
            false,
        ),
    };
    let unknown = unknown_fields::<Dataset>(&document);
    if !unknown.is_empty() {
        return Err(format!("unknown field `{}`", unknown.join("`, `")));
    }
    // Parsed again from the text, so type errors keep their line and column.
    if is_json {
        return Dataset::from_json(text);
    }
    let mut data: Dataset = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    data.normalize();
    Ok(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use switchyard_engine::model::{Condition, Operator};
    const YAML: &str = r#"
flags:
  - key: new-checkout
    kind: boolean
    salt: f3a9c1
    variations: [{key: off, value: false}, {value: true}]
    on: true
    off_variation: 0
    prerequisites: [{key: base, variation: 1}, {key: other, variations: [0, 2]}]
    targets: [{variation: 1, values: [alice]}]
    rules:
      - id: eu
        condition:
          all:
            - {kind: tenant, attribute: /billing/plan, op: in, values: [gold]}
            - {not: {attribute: country, op: equals, values: [US], negate: true}}
            - {any: [{percentage: {weight: 5000}}, {attribute: x, op: frobnicate}]}
        serve: {rollout: {variations: [{variation: 0, weight: 95000}, {variation: 1, weight: 5000}], bucket_by: /org/id}}
    fallthrough: {variation: 0}
segments:
  - key: beta
    included: [{values: [carol]}]
    rules: [{condition: {attribute: email, op: ends_with, values: ["@beta.example"]}}]
"#;

    #[test]
    fn yaml_parses_and_json_round_trips() {
        let data = from_text(YAML).unwrap();
        let flag = &data.flags[0];
        assert_eq!(
            flag.variations[1].key, "1",
            "missing keys default to the index"
        );
        assert_eq!(flag.targeting.prerequisites[0].variations, [1]);
        assert_eq!(flag.targeting.prerequisites[1].variations, [0, 2]);
        assert_eq!(flag.targeting.targets[0].kind, "user");
        let Condition::All(all) = &flag.targeting.rules[0].condition else {
            panic!()
        };
        let Condition::Not(not) = &all[1] else {
            panic!()
        };
        let Condition::Clause(clause) = not.as_ref() else {
            panic!()
        };
        assert_eq!((clause.op.clone(), clause.negate), (Operator::In, true));
        let Condition::Any(any) = &all[2] else {
            panic!()
        };
        assert!(
            matches!(&any[1], Condition::Clause(c) if c.op == Operator::Unknown("frobnicate".into()))
        );

        let json = serde_json::to_string(&data).unwrap();
        let again = from_text(&json).unwrap();
        assert_eq!(again, data);
        assert!(
            json.contains(r#""op":"frobnicate""#),
            "unknown operators keep their name"
        );
        assert!(json.contains(r#"{"percentage":{"weight":5000"#));
    }

    #[test]
    fn unknown_fields_are_refused_in_json_and_yaml() {
        let yaml = "flags:\n  - key: f\n    kind: boolean\n    tgas: [x]\n    fallthrough: {variation: 0}\n";
        assert_eq!(
            from_text(yaml).unwrap_err(),
            "unknown field `flags[0].tgas`"
        );
        let json = r#"{"flags": [{"key": "f", "kind": "boolean", "fallthrough": {"variation": 0},
            "rules": [{"clauses": [], "serve": {"variation": 1}}]}]}"#;
        assert_eq!(
            from_text(json).unwrap_err(),
            "unknown field `flags[0].rules[0].clauses`"
        );
    }
}
