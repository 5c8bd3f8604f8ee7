//! The serializable flag model: what people write (JSON here; YAML through `switchyard-import`),
//! what the API stores and what the snapshot format carries. Plain data with no behaviour beyond
//! (de)serialization and normalisation; [`crate::compile`] turns it into something fast to
//! evaluate.
//!
//! A [`Flag`] here is one environment's view of a flag: shared variations plus that environment's
//! targeting. [`FlagDefinition`] is the project-level flag with targeting per environment.

mod condition;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use condition::{Clause, Condition, Operator, Percentage};

/// Whose semantics a flag or segment follows. Imported data keeps its origin's semantics (hashing,
/// missing attributes, semver strictness) so a migrated context gets the same result as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Native,
    #[serde(rename = "launchdarkly")]
    LaunchDarkly,
    Unleash,
}

impl Dialect {
    fn is_native(&self) -> bool {
        *self == Dialect::Native
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum FlagKind {
    Boolean,
    String,
    Number,
    Json,
}

impl FlagKind {
    /// Whether `value` is of this kind.
    pub fn admits(&self, value: &Value) -> bool {
        match self {
            FlagKind::Boolean => value.is_boolean(),
            FlagKind::String => value.is_string(),
            FlagKind::Number => value.is_number(),
            FlagKind::Json => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Variation {
    /// Unique within the flag; OFREP's `variant`. Defaults to the variation's index.
    #[serde(default)]
    pub key: String,
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra data served beside the value; imported Unleash variants keep their payload here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// One environment's view of a flag: everything needed to evaluate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Flag {
    pub key: String,
    #[serde(default)]
    pub version: u64,
    pub kind: FlagKind,
    pub variations: Vec<Variation>,
    /// Random per flag; the default rollout seed is `"{key}.{salt}"`.
    #[serde(default)]
    pub salt: String,
    #[serde(default, skip_serializing_if = "Dialect::is_native")]
    pub dialect: Dialect,
    /// May be evaluated with a client SDK key.
    #[serde(default)]
    pub client_visible: bool,
    /// Every variation's value must satisfy it (JSON flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
    #[serde(flatten)]
    pub targeting: Targeting,
}

/// Per-environment configuration of a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Targeting {
    #[serde(default)]
    pub on: bool,
    /// The index of the variation served when the flag is off or a prerequisite fails. `None`
    /// serves the caller's default: imported flags whose origin does so, and native targeting
    /// stored before off variations were explicit (the server fills it in on every new write).
    #[serde(default)]
    pub off_variation: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<Prerequisite>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    pub fallthrough: Serve,
}

/// Individual targeting: these keys of this context kind get `variation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Target {
    #[serde(default = "default_kind")]
    pub kind: String,
    pub variation: usize,
    pub values: Vec<String>,
}

/// Another flag that must serve one of `variations` before this one is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prerequisite {
    pub key: String,
    pub variations: Vec<usize>,
}

impl<'de> Deserialize<'de> for Prerequisite {
    /// Accepts `{"key", "variation": 1}` (the common case) or `{"key", "variations": [1, 2]}`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            key: String,
            variation: Option<usize>,
            #[serde(default)]
            variations: Vec<usize>,
        }
        let raw = Raw::deserialize(d)?;
        let mut variations = raw.variations;
        variations.extend(raw.variation);
        if variations.is_empty() {
            return Err(serde::de::Error::custom(
                "prerequisite needs `variation` or `variations`",
            ));
        }
        Ok(Prerequisite {
            key: raw.key,
            variations,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(default = "Condition::always")]
    pub condition: Condition,
    pub serve: Serve,
}

/// What a rule or the fallthrough serves: `{"variation": 1}`, `{"rollout": …}` or
/// `{"release": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Serve {
    Variation(usize),
    Rollout(Rollout),
    Release(Box<ReleaseLayer>),
}

impl<'de> Deserialize<'de> for Serve {
    /// Reads past keys it does not know, as every other delivered object does (serde's
    /// externally tagged enums refuse a second key), so a newer server can add one.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            variation: Option<usize>,
            rollout: Option<Rollout>,
            release: Option<Box<ReleaseLayer>>,
        }
        match Raw::deserialize(d)? {
            Raw {
                variation: Some(variation),
                rollout: None,
                release: None,
            } => Ok(Serve::Variation(variation)),
            Raw {
                variation: None,
                rollout: Some(rollout),
                release: None,
            } => Ok(Serve::Rollout(rollout)),
            Raw {
                variation: None,
                rollout: None,
                release: Some(release),
            } => Ok(Serve::Release(release)),
            _ => Err(serde::de::Error::custom(
                "serve needs exactly one of `variation`, `rollout` or `release`",
            )),
        }
    }
}

/// A guarded release in progress on one rule or the fallthrough (`product.md`, "Monotone
/// ramps"): contexts matching `audience` are served `variation` outside both cohorts; of the
/// rest, bucket < `weight` (treated) is served `variation` and everyone else (control) gets
/// `previous`, evaluated unchanged. The release owns its own `seed`, so raising `weight`
/// never moves a treated context back to control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseLayer {
    /// The release and stage (`"{release}.{stage}"`); SDKs report cohorts under it, so counts
    /// restart at every stage.
    pub stage: String,
    pub variation: usize,
    /// Treated share of the eligible contexts, in 0.001 % units (0..=100000).
    pub weight: u32,
    pub seed: String,
    #[serde(default = "default_kind")]
    pub context_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// Contexts served the target outside both cohorts (internal users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Condition>,
    pub previous: Serve,
}

/// Weighted split over variations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rollout {
    pub variations: Vec<WeightedVariation>,
    /// Context kind whose attribute is bucketed (default `user`).
    #[serde(default = "default_kind")]
    pub context_kind: String,
    /// Attribute reference to bucket by (default: the key). Unleash-dialect flags use Unleash
    /// stickiness names here (`default` = userId, then sessionId, then random; `random`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// Hash prefix; default `"{flag_key}.{flag_salt}"` (Unleash dialect: the group id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// An experiment: results report whether the context is in it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub experiment: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WeightedVariation {
    pub variation: usize,
    /// Native: units of 0.001 % (all weights sum to 100000). Unleash dialect: relative weights.
    pub weight: u32,
    /// Experiments: this slice is not part of the experiment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub untracked: bool,
}

/// A reusable audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Segment {
    pub key: String,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub salt: String,
    #[serde(default, skip_serializing_if = "Dialect::is_native")]
    pub dialect: Dialect,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<KeyList>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<KeyList>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<SegmentRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyList {
    #[serde(default = "default_kind")]
    pub kind: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SegmentRule {
    #[serde(default)]
    pub id: String,
    pub condition: Condition,
}

/// Flags and segments of one environment: the unit that is compiled and evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dataset {
    #[serde(default)]
    pub flags: Vec<Flag>,
    #[serde(default)]
    pub segments: Vec<Segment>,
}

impl Dataset {
    /// Parses JSON and fills defaults ([`Dataset::normalize`]). YAML files are read by
    /// `switchyard-import`, which keeps YAML out of the engine.
    pub fn from_json(text: &str) -> Result<Dataset, String> {
        let mut data: Dataset = serde_json::from_str(text).map_err(|e| e.to_string())?;
        data.normalize();
        Ok(data)
    }

    /// Fills defaults that depend on position: variation keys default to their index.
    pub fn normalize(&mut self) {
        for flag in &mut self.flags {
            default_variation_keys(&mut flag.variations);
        }
    }
}

/// The project-level parts of a flag, shared by every environment: its variations, JSON
/// Schema and metadata. The server stores it once per project; each environment adds its
/// [`Targeting`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FlagSpec {
    pub key: String,
    pub kind: FlagKind,
    /// Boolean flags default to `on` (true) and `off` (false).
    #[serde(default)]
    pub variations: Vec<Variation>,
    /// Set by the server on creation; the default rollout seed is `"{key}.{salt}"`.
    #[serde(default)]
    pub salt: String,
    #[serde(default, skip_serializing_if = "Dialect::is_native")]
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
    /// For a temporary flag: the day (`YYYY-MM-DD`, UTC) it is planned to be removed by. Once
    /// that day has passed, the server's stale-flags report lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_by: Option<String>,
    #[serde(default)]
    pub client_visible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
    #[serde(default)]
    pub archived: bool,
    /// The key of the variation served when the flag is off (turned off, killed, archived, or a
    /// prerequisite fails): every environment inherits it and may choose another in its
    /// [`Targeting::off_variation`]. Required for native flags (booleans default to their
    /// `false` variation); `None` only on imported flags whose origin serves the caller's
    /// default when off (LaunchDarkly's `offVariation: null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_variation: Option<String>,
}

impl FlagSpec {
    /// The index of the variation keyed `key`.
    pub fn variation_index(&self, key: &str) -> Option<usize> {
        self.variations.iter().position(|v| v.key == key)
    }

    /// The index of the flag's off variation (`None`: the caller's default).
    pub fn off_variation_index(&self) -> Option<usize> {
        self.variation_index(self.off_variation.as_deref()?)
    }

    /// What an environment serves until someone edits it: off, serving the flag's off
    /// variation; when turned on, the first.
    pub fn default_targeting(&self) -> Targeting {
        Targeting {
            on: false,
            off_variation: self.off_variation_index(),
            prerequisites: Vec::new(),
            targets: Vec::new(),
            rules: Vec::new(),
            fallthrough: Serve::Variation(0),
        }
    }

    /// The flag as one environment sees it, at `version`.
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
}

/// A project-level flag with its targeting per environment, as one file can hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FlagDefinition {
    #[serde(flatten)]
    pub spec: FlagSpec,
    #[serde(default)]
    pub version: u64,
    pub environments: BTreeMap<String, Targeting>,
}

impl FlagDefinition {
    /// The flag as one environment sees it; `None` when the environment has no targeting.
    pub fn for_environment(&self, environment: &str) -> Option<Flag> {
        let targeting = self.environments.get(environment)?.clone();
        Some(self.spec.for_environment(self.version, targeting))
    }
}

/// A variation without a key is keyed by its index (`"0"`, `"1"`, …).
pub fn default_variation_keys(variations: &mut [Variation]) {
    for (index, variation) in variations.iter_mut().enumerate() {
        if variation.key.is_empty() {
            variation.key = index.to_string();
        }
    }
}

pub(crate) fn default_kind() -> String {
    "user".to_owned()
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_input_gets_a_message_that_says_where() {
        let err = Dataset::from_json(r#"{"flags":[{"key":"f","kind":"boolean","variations":[],"fallthrough":{"variation":0},"rules":[{"condition":5,"serve":{"variation":0}}]}]}"#)
            .unwrap_err();
        assert!(err.contains("a condition must be an object"), "{err}");
        let err = Dataset::from_json(r#"{"flags":[{"key":"f","kind":"colour","variations":[],"fallthrough":{"variation":0}}]}"#)
            .unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err = serde_json::from_value::<Prerequisite>(json!({"key": "p"})).unwrap_err();
        assert!(err.to_string().contains("`variation` or `variations`"));
    }

    #[test]
    fn definitions_project_one_environment() {
        let definition: FlagDefinition = serde_json::from_value(json!({
            "key": "f", "kind": "string", "variations": [{"value": "a"}, {"value": "b"}],
            "tags": ["checkout"], "temporary": true,
            "environments": {
                "production": {"on": false, "off_variation": 0, "fallthrough": {"variation": 1}},
                "staging": {"on": true, "fallthrough": {"variation": 1}}
            }
        }))
        .unwrap();
        assert_eq!(definition.spec.off_variation, None);
        let production = definition.for_environment("production").unwrap();
        assert!(!production.targeting.on);
        assert!(definition.for_environment("staging").unwrap().targeting.on);
        assert!(definition.for_environment("eu-west").is_none());
    }

    #[test]
    fn environments_never_edited_serve_the_flags_off_variation() {
        let spec = |off: Option<&str>| -> FlagSpec {
            serde_json::from_value(json!({
                "key": "model", "kind": "string", "off_variation": off,
                "variations": [{"key": "small", "value": "s"}, {"key": "large", "value": "l"}]
            }))
            .unwrap()
        };
        assert_eq!(
            spec(Some("small")).default_targeting().off_variation,
            Some(0)
        );
        assert_eq!(
            spec(Some("large")).default_targeting().off_variation,
            Some(1)
        );
        // No off variation (an imported flag): the caller's default, never the last variation.
        assert_eq!(spec(None).default_targeting().off_variation, None);
        assert_eq!(spec(Some("gone")).default_targeting().off_variation, None);
    }
}
