//! Stored projects and their environments.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::record::Record;

/// A project (global scope, keyed by its key).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectRecord {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl Record for ProjectRecord {
    const KIND: &'static str = "project";
}

/// An environment (scope: its project's key).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentRecord {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub critical: bool,
    /// How many people other than its author must approve a change to targeting or segments,
    /// or a release start, here before it takes effect (`docs/governance.md`); 0: changes take effect at once.
    #[serde(default)]
    pub required_approvals: u32,
    /// The browser origins (`https://app.example`) that may read what this environment's client
    /// keys are answered; empty: any origin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
}

impl Record for EnvironmentRecord {
    const KIND: &'static str = "environment";
}
