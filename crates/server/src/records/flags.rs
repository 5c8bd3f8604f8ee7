//! Flags as stored: the project-level [`FlagSpec`] (the engine's type) (variations, schema, metadata; kind `flag`,
//! scope the project) and one `targeting` record per environment (scope `{project}/{env}`),
//! joined into an environment's [`EnvFlag`]s by [`EnvData`]; segments per environment.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::model::{Dataset, Flag, FlagSpec, Segment, Targeting};
use switchyard_store::Store;

use super::record::{self, Record, Versioned, env_scope};
use crate::error::ApiResult;

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
    /// targeting versions, which grows with every change to either. An archived flag is off
    /// here; it is only ever validated in this form, never delivered ([`EnvData::delivered`]
    /// leaves it out).
    pub fn served(&self) -> Flag {
        let version = (self.spec_version + self.targeting_version) as u64;
        let mut targeting = self.targeting.clone();
        targeting.on &= !self.spec.archived;
        self.spec.for_environment(version, targeting)
    }

    /// What this environment serves when the flag is off.
    pub fn serves_when_off(&self) -> Option<OffServing> {
        OffServing::of(&self.spec, &self.targeting)
    }
}

/// The variation a flag serves when it is off (turned off, killed, archived, or a prerequisite
/// fails), named for people: every answer that turns a flag off says what everyone now gets.
/// Absent (`null`) means applications get their own default value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OffServing {
    /// The variation's key.
    pub variation: String,
    pub value: Value,
}

impl OffServing {
    pub fn of(spec: &FlagSpec, targeting: &Targeting) -> Option<OffServing> {
        let variation = spec.variations.get(targeting.off_variation?)?;
        Some(OffServing {
            variation: variation.key.clone(),
            value: variation.value.clone(),
        })
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

    /// The environment as it is validated: every flag, archived ones off (so a change that
    /// would break an archived flag is refused, and its restore is always valid).
    pub fn dataset(&self) -> Dataset {
        self.dataset_of(|_| true)
    }

    /// The environment as SDKs, relays and OFREP see it: archived flags are left out, so
    /// evaluating one answers `FLAG_NOT_FOUND` and a flag that still requires one fails its
    /// prerequisite (`PREREQUISITE_FAILED`, serving its off variation).
    pub fn delivered(&self) -> Dataset {
        self.dataset_of(|flag| !flag.spec.archived)
    }

    fn dataset_of(&self, keep: impl Fn(&EnvFlag) -> bool) -> Dataset {
        Dataset {
            flags: self
                .flags
                .values()
                .filter(|flag| keep(flag))
                .map(EnvFlag::served)
                .collect(),
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
