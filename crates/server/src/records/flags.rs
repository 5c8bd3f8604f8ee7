//! Flags as stored: the project-level [`FlagSpec`] (variations, schema, metadata; kind `flag`,
//! scope the project) and one `targeting` record per environment (scope `{project}/{env}`),
//! joined into an environment's [`EnvFlag`]s by [`EnvData`]; segments per environment.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::model::{
    Dataset, Dialect, Flag, FlagKind, Segment, Serve, Targeting, Variation,
};
use switchyard_store::Store;

use super::record::{self, Record, Versioned, env_scope};
use crate::error::ApiResult;

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
}

/// One flag as one environment has it: the project-level spec and this environment's targeting,
/// each with its stored version (targeting version 0: never edited, the spec's defaults).
#[derive(Debug, Clone)]
pub struct EnvFlag {
    pub spec: FlagSpec,
    pub spec_version: i64,
    pub targeting: Targeting,
    pub targeting_version: i64,
}

impl EnvFlag {
    /// The flag as the engine (and SDKs) see it. Its served version is the sum of the spec and
    /// targeting versions, which grows with every change to either.
    pub fn served(&self) -> Flag {
        let version = (self.spec_version + self.targeting_version) as u64;
        self.spec.for_environment(version, self.targeting.clone())
    }
}

/// One environment's flags and segments as stored, with their versions.
#[derive(Debug, Clone, Default)]
pub struct EnvData {
    pub flags: BTreeMap<String, EnvFlag>,
    pub segments: BTreeMap<String, Versioned<Segment>>,
}

impl EnvData {
    pub async fn load(store: &Store, project: &str, env: &str) -> ApiResult<EnvData> {
        let scope = env_scope(project, env);
        let mut targeting: BTreeMap<String, Versioned<Targeting>> = record::list(store, &scope)
            .await?
            .into_iter()
            .map(|t| (t.key.clone(), t))
            .collect();
        let mut data = EnvData::default();
        for spec in record::list::<FlagSpec>(store, project).await? {
            let (targeting, targeting_version) = match targeting.remove(&spec.key) {
                Some(stored) => (stored.record, stored.version),
                None => (spec.record.default_targeting(), 0),
            };
            let flag = EnvFlag {
                spec: spec.record,
                spec_version: spec.version,
                targeting,
                targeting_version,
            };
            data.flags.insert(spec.key, flag);
        }
        for segment in record::list::<Segment>(store, &scope).await? {
            data.segments.insert(segment.key.clone(), segment);
        }
        Ok(data)
    }

    /// The environment as the engine (and SDKs) see it.
    pub fn dataset(&self) -> Dataset {
        Dataset {
            flags: self.flags.values().map(EnvFlag::served).collect(),
            segments: self
                .segments
                .values()
                .map(|segment| Segment {
                    version: segment.version as u64,
                    ..segment.record.clone()
                })
                .collect(),
        }
    }
}

impl Record for FlagSpec {
    const KIND: &'static str = "flag";
}

impl Record for Targeting {
    const KIND: &'static str = "targeting";
}

impl Record for Segment {
    const KIND: &'static str = "segment";
}
