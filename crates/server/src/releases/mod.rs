//! Guarded progressive releases (`docs/releases.md`) and the kill switch.
//!
//! A release moves one flag's rule (or fallthrough) in one environment to a target variation
//! through a `ReleaseLayer` whose weight only grows. The floors inside: the release
//! [`document`](Release) and its [`plan`] (stages, windows, the layer in the targeting); the pure
//! [`assess`]ment of a stage's cohorts; [`transition`], the one code path that changes a release
//! (and [`kill`]); the [`Guard`] loop that runs assessments and acts; [`webhooks`] that announce
//! what happened. Nothing here imports the HTTP handler layer.

mod assess;
mod document;
pub mod experiment_analysis;
mod guard;
mod plan;
#[cfg(test)]
mod tests;
mod transition;
pub mod waves;
pub mod webhook_targets;
pub mod webhooks;

pub use assess::{
    Assessment, CROSSED_CONTEXTS_MAX_SHARE, Freshness, GuardrailEvidence, Quantiles,
    TIER0_MIN_EVALUATIONS, Verdict, assess,
};
pub use document::{
    BreachAction, Direction, Guardrail, GuardrailKind, HistoryEntry, Hold, Release, ReleaseInput,
    Stage, StageInput, State, Template, Window,
};
pub use guard::{Guard, GuardConfig};
pub use plan::{FINAL_HOLDBACK_PERCENT, template_stages};
pub use transition::{
    Actor, Change, Commit, Flag, Killed, Services, advance, begin_stage, commit_change,
    commit_change_with, finish, hold, kill, transition,
};
pub use webhook_targets::WebhookTargets;
pub use webhooks::{EVENT_TYPES, Webhook, Webhooks};
