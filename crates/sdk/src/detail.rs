//! How a value was decided: the owned reason and the detail returned with every value.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use switchyard_engine::ErrorKind;
use switchyard_engine::wire::ReleaseCohortRef;

/// Why a value was served (owned; see the engine's `Reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    Off,
    TargetMatch,
    RuleMatch {
        rule_index: usize,
        rule_id: String,
        in_rollout: bool,
        /// Part of an experiment (its exposure is one of the experiment's units).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        in_experiment: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohortRef>,
    },
    Fallthrough {
        in_rollout: bool,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        in_experiment: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohortRef>,
    },
    PrerequisiteFailed {
        prerequisite_key: String,
    },
    Error {
        error_kind: ErrorKind,
    },
}

impl Reason {
    pub(crate) fn error(error_kind: ErrorKind) -> Reason {
        Reason::Error { error_kind }
    }

    pub(crate) fn from_engine(reason: &switchyard_engine::Reason<'_>) -> Reason {
        use switchyard_engine::Reason as R;
        match *reason {
            R::Off => Reason::Off,
            R::TargetMatch => Reason::TargetMatch,
            R::RuleMatch {
                rule_index,
                rule_id,
                rollout,
                release,
            } => Reason::RuleMatch {
                rule_index,
                rule_id: rule_id.to_owned(),
                in_rollout: rollout.is_some(),
                in_experiment: rollout.is_some_and(|r| r.in_experiment),
                release: release.map(ReleaseCohortRef::from),
            },
            R::Fallthrough { rollout, release } => Reason::Fallthrough {
                in_rollout: rollout.is_some(),
                in_experiment: rollout.is_some_and(|r| r.in_experiment),
                release: release.map(ReleaseCohortRef::from),
            },
            R::PrerequisiteFailed { prerequisite_key } => Reason::PrerequisiteFailed {
                prerequisite_key: prerequisite_key.to_owned(),
            },
            R::Error { error_kind } => Reason::error(error_kind),
        }
    }

    /// The reason's kind, as events and OFREP metadata name it (`RULE_MATCH`, …).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reason::Off => "OFF",
            Reason::TargetMatch => "TARGET_MATCH",
            Reason::RuleMatch { .. } => "RULE_MATCH",
            Reason::Fallthrough { .. } => "FALLTHROUGH",
            Reason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            Reason::Error { .. } => "ERROR",
        }
    }

    /// The release stage and cohort, when a release layer decided the serving.
    pub fn release(&self) -> Option<switchyard_engine::ReleaseCohort<'_>> {
        match self {
            Reason::RuleMatch { release, .. } | Reason::Fallthrough { release, .. } => {
                release.as_ref().map(|r| switchyard_engine::ReleaseCohort {
                    stage: &r.stage,
                    cohort: r.cohort,
                })
            }
            _ => None,
        }
    }

    /// The evaluation placed the context in an experiment.
    pub fn in_experiment(&self) -> bool {
        match self {
            Reason::RuleMatch { in_experiment, .. } | Reason::Fallthrough { in_experiment, .. } => {
                *in_experiment
            }
            _ => false,
        }
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Reason::Error { error_kind } => Some(*error_kind),
            _ => None,
        }
    }
}

/// A value with how it was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail<T> {
    pub value: T,
    /// The served variation's key (`None`: the caller's default was served).
    pub variation: Option<String>,
    pub variation_index: Option<usize>,
    pub reason: Reason,
    /// The flag's version in this environment (`None` when the flag is unknown).
    pub flag_version: Option<u64>,
    /// OpenFeature's name for the reason (`STATIC`, `TARGETING_MATCH`, `SPLIT`, …).
    pub openfeature_reason: &'static str,
}

/// Every flag's evaluation for one context, as a front end would bootstrap from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllFlags {
    pub revision: Option<i64>,
    pub flags: BTreeMap<String, Detail<Value>>,
}
