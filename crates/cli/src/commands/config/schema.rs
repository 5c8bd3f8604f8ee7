//! What each file of an exported project holds, as a type with its JSON Schema: the schema the
//! files are checked against when read (`switchyard_engine::strict`), written into `.schema/`
//! beside them for editors, and published in `docs/config-schema/`. The types wrap the API's
//! own document types (`ProjectConfig`'s parts); they add only the `format` every file carries.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_client::types::{EnvironmentSettings, FlagConfig, ProjectSettings};
use switchyard_engine::Segment;

/// `project.yaml`: the project's settings and its environments, sorted by key.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Switchyard project file (project.yaml)")]
pub(super) struct ProjectFile {
    /// The version of the file format (1).
    pub(super) format: u32,
    pub(super) project: ProjectSettings,
    pub(super) environments: Vec<EnvironmentSettings>,
}

/// `flags/<key>.yaml`: one flag, its settings shared by every environment and its targeting per
/// environment (an environment absent here serves the flag's defaults).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Switchyard flag file (flags/<key>.yaml)")]
pub(super) struct FlagFile {
    /// The version of the file format (1).
    pub(super) format: u32,
    #[serde(flatten)]
    pub(super) flag: FlagConfig,
}

/// `segments/<environment>/<key>.yaml`: one segment of the environment its folder names.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Switchyard segment file (segments/<environment>/<key>.yaml)")]
pub(super) struct SegmentFile {
    /// The version of the file format (1).
    pub(super) format: u32,
    #[serde(flatten)]
    pub(super) segment: Segment,
}

/// The kinds of file, as `.schema/<name>.json` and `docs/config-schema/<name>.json` name them.
pub(super) const SCHEMA_NAMES: [&str; 3] = ["project", "flag", "segment"];

/// The JSON Schema (draft 2020-12) of the file kind `name`; `None` for an unknown name.
pub(super) fn schema(name: &str) -> Option<Value> {
    let generator = || SchemaSettings::draft2020_12().into_generator();
    let mut schema = match name {
        "project" => generator().into_root_schema_for::<ProjectFile>(),
        "flag" => generator().into_root_schema_for::<FlagFile>(),
        "segment" => generator().into_root_schema_for::<SegmentFile>(),
        _ => return None,
    }
    .to_value();
    close_objects(&mut schema);
    Some(schema)
}

/// The schema as its file holds it: pretty JSON with a final newline.
pub(super) fn schema_text(name: &str) -> Option<String> {
    let text = serde_json::to_string_pretty(&schema(name)?).ok()?;
    Some(text + "\n")
}

/// Marks every object schema that lists its properties, and combines no others, as closed
/// (`additionalProperties: false`), so an editor flags a misspelt field as the CLI does on
/// reading. Maps and free-form values declare no properties and stay open.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            let closes = fields.contains_key("properties")
                && !["additionalProperties", "allOf", "anyOf", "oneOf", "$ref"]
                    .iter()
                    .any(|key| fields.contains_key(*key));
            if closes {
                fields.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in fields.iter_mut() {
                // A property named like a keyword is data, not a schema: recurse into each one.
                if key == "properties" || key == "$defs" {
                    if let Value::Object(children) = value {
                        children.values_mut().for_each(close_objects);
                    }
                } else {
                    close_objects(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}
