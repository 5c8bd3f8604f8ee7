//! The project as one document (`docs/config-as-code.md`): what export answers and plan and
//! apply take. It holds everything that decides assignments — salts, rule ids, variation keys,
//! rollout and release seeds — and nothing else (no SDK keys, accounts, change requests or
//! versions), so the same project state has the same document, and the same revision, on every
//! server.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{FlagSpec, Segment, Targeting};

use crate::access::sha256_hex_of;
use crate::records::{EnvironmentRecord, ProjectRecord};

pub use crate::records::describe::FieldChange;

/// The document format this server reads and writes.
pub const CONFIG_FORMAT: u32 = 1;

/// Everything that decides assignments in one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectConfig {
    /// Must be 1 ([`CONFIG_FORMAT`]).
    pub format: u32,
    pub project: ProjectSettings,
    /// Sorted by key.
    #[serde(default)]
    pub environments: Vec<EnvironmentSettings>,
    /// Sorted by key.
    #[serde(default)]
    pub flags: Vec<FlagConfig>,
    /// Sorted by environment, then key.
    #[serde(default)]
    pub segments: Vec<SegmentConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectSettings {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentSettings {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub critical: bool,
    /// Approvals a change here needs (0-10); see `docs/governance.md`.
    #[serde(default)]
    pub required_approvals: u32,
    /// Browser origins that may read client-key answers; empty: any origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// A flag: its project-level definition and its targeting in every environment that has one
/// stored (an environment absent here serves the definition's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagConfig {
    #[serde(flatten)]
    pub spec: FlagSpec,
    /// By environment key. Variations are named by index here, as stored.
    #[serde(default)]
    pub environments: BTreeMap<String, Targeting>,
}

/// A segment of one environment (its `version` is 0 in an export and ignored on input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentConfig {
    pub environment: String,
    #[serde(flatten)]
    pub segment: Segment,
}

/// `GET /projects/{project}/config`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConfigExport {
    /// The live project's revision: `sha256:` and the hex digest of the document's JSON.
    pub revision: String,
    pub config: ProjectConfig,
}

/// The body of plan and apply.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigApplyInput {
    pub config: ProjectConfig,
    /// Delete live flags, segments, environments (and a flag's targeting in an environment)
    /// that the document leaves out; without it they are left alone and listed as `unmanaged`.
    #[serde(default)]
    pub prune: bool,
    /// Apply only if the live project is still at this revision (409 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What an apply of a document would change, resource by resource and field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigPlan {
    /// The live revision this plan was computed against.
    pub revision: String,
    /// In a stable order: project, environments, segments, flags (definition, then each
    /// environment's targeting).
    pub changes: Vec<ResourceChange>,
    /// Live resources the document leaves out, left alone without `prune`.
    pub unmanaged: Vec<String>,
    /// The approvals the apply needs (0: it takes effect at once).
    pub required_approvals: u32,
}

impl ConfigPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// One resource the plan creates, changes or deletes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceChange {
    /// Its access-control resource (`proj/web:env/production:flag/checkout`).
    pub resource: String,
    /// Where it lives in an export's files (`flags/checkout.yaml`).
    pub file: String,
    /// `project`, `environment`, `flag`, `targeting` or `segment`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub key: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    pub fields: Vec<FieldChange>,
}

/// `POST /projects/{project}/config/apply` when it took effect.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConfigApplied {
    /// The project's revision afterwards.
    pub revision: String,
    pub plan: ConfigPlan,
}

/// The revision of a document: the same state gives the same revision everywhere.
pub(crate) fn revision_of(config: &ProjectConfig) -> String {
    let bytes = serde_json::to_vec(config).unwrap_or_default();
    format!("sha256:{}", sha256_hex_of(&bytes))
}

/// Where a resource lives in an export's files.
pub(crate) fn flag_file(flag: &str) -> String {
    format!("flags/{flag}.yaml")
}

pub(crate) fn segment_file(env: &str, segment: &str) -> String {
    format!("segments/{env}/{segment}.yaml")
}

pub(crate) const PROJECT_FILE: &str = "project.yaml";

impl From<ProjectRecord> for ProjectSettings {
    fn from(record: ProjectRecord) -> ProjectSettings {
        ProjectSettings {
            key: record.key,
            name: record.name,
            description: record.description,
        }
    }
}

impl From<ProjectSettings> for ProjectRecord {
    fn from(settings: ProjectSettings) -> ProjectRecord {
        ProjectRecord {
            key: settings.key,
            name: settings.name,
            description: settings.description,
        }
    }
}

impl From<EnvironmentRecord> for EnvironmentSettings {
    fn from(record: EnvironmentRecord) -> EnvironmentSettings {
        EnvironmentSettings {
            key: record.key,
            name: record.name,
            description: record.description,
            critical: record.critical,
            required_approvals: record.required_approvals,
            allowed_origins: record.allowed_origins,
        }
    }
}

impl From<EnvironmentSettings> for EnvironmentRecord {
    fn from(settings: EnvironmentSettings) -> EnvironmentRecord {
        EnvironmentRecord {
            key: settings.key,
            name: settings.name,
            description: settings.description,
            critical: settings.critical,
            required_approvals: settings.required_approvals,
            allowed_origins: settings.allowed_origins,
        }
    }
}
