//! The REST API under `/api/v1`: handlers only, one file per resource, over [`ctx`]'s
//! authenticated, auditing request context. The route table is in `routes.rs`.

mod accounts;
mod audit;
mod change_requests;
mod config;
mod ctx;
mod environments_compare;
mod experiment_results;
mod experiments;
mod flags;
mod insights;
mod lifecycle;
mod metrics;
mod oidc;
mod openapi;
mod playground;
mod projects;
mod query;
mod release_plans;
mod releases;
mod roles;
mod routes;
mod sdk_keys;
mod segments;
mod stale;
mod tokens;
mod triggers;
mod webhooks;

pub(crate) use change_requests::run_schedules;
pub(crate) use ctx::Ctx;
pub use ctx::Deleted;
pub use routes::{openapi_document, router};

/// The request and response bodies of every route, for clients (the CLI, tests, benches) that
/// speak the API in types instead of JSON trees.
pub mod types {
    pub use super::Deleted;
    pub use super::accounts::{AccountInput, AccountView};
    pub use super::audit::{
        AuditEntry, AuditExportLine, AuditPage, ChainForm, ChainReportView, SignedHeadView,
    };
    pub use super::change_requests::{
        ChangeRequest, Proposed, RescheduleInput, ReviewInput, ReviseInput, ScheduleInput,
    };
    pub use super::config::document::{
        CONFIG_FORMAT, ConfigApplied, ConfigApplyInput, ConfigExport, ConfigPlan,
        EnvironmentSettings, FieldChange, FlagConfig, ProjectConfig, ProjectSettings,
        ResourceChange, SegmentConfig,
    };
    pub use super::environments_compare::{
        EnvironmentComparison, FlagComparison, PromoteInput, TargetingPart,
    };
    pub use super::experiment_results::ExperimentResults;
    pub use super::experiments::{ExperimentInput, ExperimentView, ShipInput};
    pub use super::flags::{
        EnvTargeting, FlagInput, FlagView, RemoveTargetsInput, TargetingInput, TargetingView,
        ToggleInput,
    };
    pub use super::insights::{CohortStatistics, EvaluationPoint, ExposedContextView};
    pub use super::lifecycle::{ArchiveInput, RestoreInput};
    pub use super::metrics::{MetricInput, MetricView};
    pub use super::playground::{
        Activity, EvaluateInput, PlaygroundAnswer, PlaygroundEvaluation, ReleaseMatched,
        TargetMatched,
    };
    pub use super::projects::{Environment, EnvironmentInput, Project, ProjectInput};
    pub use super::releases::{ActionInput, ReleaseStatus};
    pub use super::roles::{RoleInput, RoleView};
    pub use super::routes::Me;
    pub use super::sdk_keys::{SdkKeyInput, SdkKeyView};
    pub use super::segments::{SegmentInput, SegmentView};
    pub use super::stale::{StaleFlag, StaleReason, StaleReport};
    pub use super::tokens::{SignInInput, TokenInput, TokenView};
    pub use super::triggers::{Trigger, TriggerInput};
    pub use super::webhooks::{DeliveryView, OutboxView, WebhookInput, WebhookView};
    pub use crate::access::SdkKeyKind;
    pub use crate::records::{
        Approval, BaseVersion, ChangeRequestRecord, FlagSpec, OffServing, Operation, RequestState,
        Step,
    };
    pub use crate::releases::waves::{
        PlanState, ReleasePlan, ReleasePlanInput, Wave, WaveInput, WaveState,
    };
    pub use crate::releases::{Killed, Release, ReleaseInput};
}
