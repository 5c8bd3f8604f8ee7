//! Every API route, declared once in [`routes!`], which builds the router, the OpenAPI
//! document and the list of checks `GET /me` answers from, so they cannot drift apart.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ctx::{Ctx, Deleted};

use super::change_requests::{
    self, ChangeRequest, Proposed, RescheduleInput, ReviewInput, ReviseInput, ScheduleInput,
};
use super::environments_compare::{self, EnvironmentComparison, PromoteInput};
use super::experiment_results::{self, ExperimentResults};
use super::experiments::{self, ExperimentInput, ExperimentView, ShipInput};
use super::flags::RemoveTargetsInput;
use super::lifecycle::{ArchiveInput, RestoreInput};
use super::metrics::{self, MetricInput, MetricView};
use super::playground::{self, Activity, EvaluateInput, PlaygroundAnswer};
use super::query::Query;
use super::stale::StaleReport;
use super::types::{
    AccountInput, AccountView, ActionInput, AuditPage, ChainReportView, CohortStatistics,
    Environment, EnvironmentInput, EvaluationPoint, ExposedContextView, FlagInput, FlagView,
    Project, ProjectInput, ReleaseStatus, RoleInput, RoleView, SdkKeyInput, SdkKeyView,
    SegmentInput, SegmentView, SignInInput, TargetingInput, TargetingView, ToggleInput, TokenInput,
    TokenView, Trigger, TriggerInput, WebhookInput, WebhookView,
};
use super::types::{ConfigApplied, ConfigApplyInput, ConfigExport, ConfigPlan};
use super::{
    accounts, audit, flags, insights, openapi, projects, release_plans, releases, roles, sdk_keys,
    segments, tokens, triggers, webhooks,
};
use super::{config, lifecycle, stale};
use crate::access::Action;
use crate::error::ApiResult;
use crate::releases::waves::{ReleasePlan, ReleasePlanInput};
use crate::releases::{Killed, Release, ReleaseInput};
use crate::state::AppState;

/// Declares every API route: method, path, handler, the action it checks, a summary, and its
/// request and response body types (for the OpenAPI document).
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $check:expr, $summary:literal,
        $(body: $req:ty,)? returns: $res:ty; )*) => {
        fn route_table() -> Router<Arc<AppState>> {
            Router::new()
                $( .route($path, axum::routing::$method($handler)) )*
        }

        /// What each route checks (with repeats), for `GET /me`.
        fn route_checks() -> Vec<Check> {
            vec![$( Check::from($check), )*]
        }

        fn route_docs(generator: &mut schemars::SchemaGenerator) -> Vec<openapi::RouteDoc> {
            vec![$( openapi::RouteDoc {
                method: stringify!($method),
                path: $path,
                action: Check::from($check).name(),
                summary: $summary,
                request: None $( .or(Some(generator.subschema_for::<$req>())) )?,
                response: generator.subschema_for::<$res>(),
            }, )*]
        }
    };
}

routes! {
    get "/projects" => projects::list_projects, Action::ProjectRead, "List projects", returns: Vec<Project>;
    post "/projects" => projects::create_project, Action::ProjectCreate, "Create a project", body: ProjectInput, returns: Project;
    get "/projects/{project}" => projects::get_project, Action::ProjectRead, "Get a project", returns: Project;
    put "/projects/{project}" => projects::update_project, Action::ProjectUpdate, "Update a project's name or description", body: ProjectInput, returns: Project;
    delete "/projects/{project}" => projects::delete_project, Action::ProjectDelete, "Delete an empty project", returns: Deleted;
    get "/projects/{project}/environments" => projects::list_environments, Action::EnvRead, "List a project's environments", returns: Vec<Environment>;
    post "/projects/{project}/environments" => projects::create_environment, Action::EnvCreate, "Create an environment", body: EnvironmentInput, returns: Environment;
    get "/projects/{project}/environments/{env}" => projects::get_environment, Action::EnvRead, "Get an environment", returns: Environment;
    put "/projects/{project}/environments/{env}" => projects::update_environment, Action::EnvUpdate, "Update an environment", body: EnvironmentInput, returns: Environment;
    delete "/projects/{project}/environments/{env}" => projects::delete_environment, Action::EnvDelete, "Delete an environment with its targeting, segments and SDK keys", returns: Deleted;
    get "/projects/{project}/config" => config::export_config, Action::ProjectRead, "The project as one document (`docs/config-as-code.md`): environments, flags with their targeting per environment, segments, with salts and ids kept; and its revision. Needs read on all of it", returns: ConfigExport;
    post "/projects/{project}/config/plan" => config::plan_config, Action::ProjectRead, "What applying a document would create, change and delete, field by field in words, against the live revision (422 naming every problem by file and field)", body: ConfigApplyInput, returns: ConfigPlan;
    post "/projects/{project}/config/apply" => config::apply_config, Check::AnyToken, "Apply a document: every change in one commit with one audit record, or nothing; each change authorized with its own route's action; deletions only with `prune`; 409 when `expect_revision` is stale; 202 with one change request when any change needs approval", body: ConfigApplyInput, returns: ConfigApplied;
    get "/projects/{project}/flags" => flags::list_flags, Action::FlagRead, "List flags (filters: q, tag, kind, archived); with `limit`/`cursor`, one page in key order (headers `x-next-cursor`, `x-total-count`)", returns: Vec<FlagView>;
    post "/projects/{project}/flags" => flags::create_flag, Action::FlagCreate, "Create a flag (a non-boolean flag names its `off_variation`, a variation key; booleans default to `false`)", body: FlagInput, returns: FlagView;
    get "/projects/{project}/flags/{flag}" => flags::get_flag, Action::FlagRead, "Get a flag with the targeting of every environment the caller may read", returns: FlagView;
    put "/projects/{project}/flags/{flag}" => flags::update_flag, Action::FlagUpdate, "Update a flag's variations, schema and metadata", body: FlagInput, returns: FlagView;
    delete "/projects/{project}/flags/{flag}" => flags::delete_flag, Action::FlagDelete, "Delete a flag in every environment", returns: Deleted;
    post "/projects/{project}/flags/{flag}/archive" => lifecycle::archive_flag, Action::FlagArchive, "Archive a flag: it leaves every SDK, relay and OFREP payload (evaluations answer FLAG_NOT_FOUND), its definition and targeting kept; refused (409) while another flag requires it, unless `force`", body: ArchiveInput, returns: FlagView;
    post "/projects/{project}/flags/{flag}/restore" => lifecycle::restore_flag, Action::FlagRestore, "Restore an archived flag unchanged: SDKs, relays and OFREP serve it again", body: RestoreInput, returns: FlagView;
    get "/projects/{project}/environments/{env}/flags/{flag}" => flags::get_targeting, Action::FlagRead, "Get a flag's targeting in one environment", returns: TargetingView;
    put "/projects/{project}/environments/{env}/flags/{flag}" => flags::update_targeting, Action::FlagUpdate, "Replace a flag's targeting in one environment (without `off_variation` it inherits the flag's)", body: TargetingInput, returns: TargetingView;
    post "/projects/{project}/environments/{env}/flags/{flag}/toggle" => flags::toggle_flag, Action::FlagToggle, "Turn a flag on (`on`: true) or off in one environment", body: ToggleInput, returns: TargetingView;
    post "/projects/{project}/environments/{env}/flags/{flag}/remove-targets" => flags::remove_targets, Action::FlagUpdate, "Take context keys out of a flag's individual targets in one environment (the rest of its targeting is kept)", body: RemoveTargetsInput, returns: TargetingView;
    get "/projects/{project}/environments/{env}/compare/{to}" => environments_compare::compare_environments, Action::FlagRead, "Compare two environments' targeting flag by flag, in words (variation keys, percentages, rules by id); `flag` compares one flag. Needs flag:read on both", returns: EnvironmentComparison;
    post "/projects/{project}/flags/{flag}/promote" => environments_compare::promote_flag, Action::FlagUpdate, "Copy a flag's targeting, or chosen `parts`, from one environment to another: the target's targeting PUT (validated, audited, held for approval where required), audited as promoted", body: PromoteInput, returns: TargetingView;
    post "/projects/{project}/environments/{env}/evaluate" => playground::evaluate, Action::FlagRead, "The playground: what one flag (`flag`, 403 without flag:read on it) or every flag the caller may read serves a context, from the snapshot SDKs and OFREP receive, with the rule, target, segments or prerequisite that decided and a sentence in words; records no evaluation or exposure and no audit record", body: EvaluateInput, returns: PlaygroundAnswer;
    get "/projects/{project}/environments/{env}/activity" => playground::activity, Action::FlagRead, "Whether anything evaluated the environment lately (SDK summaries and OFREP, from the evaluation aggregates): the last evaluation's minute and the last 24 hours' evaluations and flags, over the flags the caller may read", returns: Activity;
    get "/projects/{project}/environments/{env}/stale-flags" => stale::stale_flags, Action::FlagRead, "Stale flags in one environment from the evaluation aggregates: not evaluated, or serving one variation to everyone, for `days` (default 30), and temporary flags past `remove_by`, each with its evidence", returns: StaleReport;
    get "/projects/{project}/environments/{env}/flags/{flag}/evaluations" => insights::flag_evaluations, Action::FlagRead, "A flag's evaluations per minute, version, variation and reason (from, to: Unix ms; default the last 24 h)", returns: Vec<EvaluationPoint>;
    get "/projects/{project}/environments/{env}/flags/{flag}/exposures" => insights::flag_exposures, Action::FlagRead, "Contexts exposed to a flag, most recently seen first (filters: variation, from, to, limit)", returns: Vec<ExposedContextView>;
    get "/projects/{project}/environments/{env}/flags/{flag}/metrics" => insights::flag_metrics, Action::FlagRead, "Each metric's count, sum, mean and standard deviation per variation cohort of a flag (from, to)", returns: Vec<CohortStatistics>;
    post "/projects/{project}/environments/{env}/flags/{flag}/kill" => releases::kill_flag, Action::FlagToggle, "Kill switch: turn a flag off in one environment and abort its active releases there; `serves_when_off` says what everyone now gets", body: ActionInput, returns: Killed;
    get "/projects/{project}/environments/{env}/flags/{flag}/triggers" => triggers::list_triggers, Action::TriggerRead, "List a flag's kill triggers", returns: Vec<Trigger>;
    post "/projects/{project}/environments/{env}/flags/{flag}/triggers" => triggers::create_trigger, Action::TriggerCreate, "Create a kill trigger URL (shown once) that an alerting system can POST to", body: TriggerInput, returns: Trigger;
    delete "/projects/{project}/environments/{env}/flags/{flag}/triggers/{id}" => triggers::delete_trigger, Action::TriggerDelete, "Delete a kill trigger", returns: Deleted;
    post "/triggers/{secret}" => triggers::call_trigger, Check::Nothing, "Call a kill trigger: the URL's secret is the credential", body: ActionInput, returns: Killed;
    get "/projects/{project}/environments/{env}/releases" => releases::list_releases, Action::ReleaseRead, "List releases, newest first", returns: Vec<Release>;
    post "/projects/{project}/environments/{env}/releases" => releases::start_release, Action::ReleaseCreate, "Start (or schedule) a guarded release of a flag", body: ReleaseInput, returns: ReleaseStatus;
    get "/projects/{project}/environments/{env}/releases/{id}" => releases::get_release, Action::ReleaseRead, "A release's status: stage, cohorts, each guardrail's evidence, next decision", returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/pause" => releases::pause_release, Action::ReleaseUpdate, "Hold a release until resumed (no timeout)", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/resume" => releases::resume_release, Action::ReleaseUpdate, "Resume a held release", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/advance" => releases::advance_release, Action::ReleaseUpdate, "Go to the next stage now (or complete after the last)", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/rollback" => releases::roll_back_release, Action::ReleaseUpdate, "Roll back: restore the flag's serving from before the release", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/abort" => releases::abort_release, Action::ReleaseUpdate, "Abort: stop the release and restore the previous serving", body: ActionInput, returns: ReleaseStatus;
    get "/projects/{project}/release-plans" => release_plans::list_release_plans, Action::ReleaseRead, "List release plans, newest first (filter: flag); only those whose every wave you may read", returns: Vec<ReleasePlan>;
    post "/projects/{project}/release-plans" => release_plans::create_release_plan, Action::ReleaseCreate, "Start a release plan: one flag's guarded release in waves over an ordered list of environments (one change request when any of them requires approvals)", body: ReleasePlanInput, returns: ReleasePlan;
    get "/projects/{project}/release-plans/{id}" => release_plans::get_release_plan, Action::ReleaseRead, "A release plan with every wave's state", returns: ReleasePlan;
    post "/projects/{project}/release-plans/{id}/pause" => release_plans::pause_release_plan, Action::ReleaseUpdate, "Pause a release plan: hold the running wave's release and start no new wave", body: ActionInput, returns: ReleasePlan;
    post "/projects/{project}/release-plans/{id}/resume" => release_plans::resume_release_plan, Action::ReleaseUpdate, "Resume a paused release plan (and the wave's release it held)", body: ActionInput, returns: ReleasePlan;
    post "/projects/{project}/release-plans/{id}/abort" => release_plans::abort_release_plan, Action::ReleaseUpdate, "Abort a release plan: abort the running wave's release and start no new wave", body: ActionInput, returns: ReleasePlan;
    get "/projects/{project}/metrics" => metrics::list_metrics, Action::MetricRead, "List the project's metrics (the events experiments measure)", returns: Vec<MetricView>;
    post "/projects/{project}/metrics" => metrics::create_metric, Action::MetricCreate, "Define a metric: its event, kind (proportion, count, mean, ratio with `denominator_event`), better direction, minimum detectable effect and analysis window", body: MetricInput, returns: MetricView;
    get "/projects/{project}/metrics/{metric}" => metrics::get_metric, Action::MetricRead, "Get a metric", returns: MetricView;
    put "/projects/{project}/metrics/{metric}" => metrics::update_metric, Action::MetricUpdate, "Replace a metric's definition (running experiments keep the definition they started with)", body: MetricInput, returns: MetricView;
    delete "/projects/{project}/metrics/{metric}" => metrics::delete_metric, Action::MetricDelete, "Delete a metric (409 while a running experiment uses it)", returns: Deleted;
    get "/projects/{project}/environments/{env}/experiments" => experiments::list_experiments, Action::ExperimentRead, "List an environment's experiments, newest first", returns: Vec<ExperimentView>;
    post "/projects/{project}/environments/{env}/experiments" => experiments::create_experiment, Action::ExperimentCreate, "Create a draft experiment: a flag's rule (or fallthrough) serving one variation, the compared variations and control, weights, traffic share, and the pre-registered metrics and method", body: ExperimentInput, returns: ExperimentView;
    get "/projects/{project}/environments/{env}/experiments/{id}" => experiments::get_experiment, Action::ExperimentRead, "Get an experiment", returns: ExperimentView;
    put "/projects/{project}/environments/{env}/experiments/{id}" => experiments::update_experiment, Action::ExperimentUpdate, "Edit an experiment; while it runs its serving cannot change, and a change to its pre-registered analysis starts a new phase (its data restart)", body: ExperimentInput, returns: ExperimentView;
    post "/projects/{project}/environments/{env}/experiments/{id}/start" => experiments::start_experiment, Action::ExperimentStart, "Start: the rule serves the experiment's rollout (tracked slices per variation, the rest the previous variation); a change request where approvals are required", body: ActionInput, returns: ExperimentView;
    post "/projects/{project}/environments/{env}/experiments/{id}/stop" => experiments::stop_experiment, Action::ExperimentStop, "Stop: the rule serves what it served before (never waits for approval)", body: ActionInput, returns: ExperimentView;
    post "/projects/{project}/environments/{env}/experiments/{id}/ship" => experiments::ship_experiment, Action::ExperimentShip, "Ship a winner: the rule serves `variation` to everyone (audited); a change request where approvals are required", body: ShipInput, returns: ExperimentView;
    get "/projects/{project}/environments/{env}/experiments/{id}/results" => experiment_results::experiment_results, Action::ExperimentRead, "An experiment's results for its current phase: sample-ratio check and data-quality warnings first, then per metric every variation against the control (lifts with intervals, p-value corrected as pre-registered or chance to beat control), a verdict in words, the fixed-horizon sample size, and the primary metric's cumulative lift per day", returns: ExperimentResults;
    get "/projects/{project}/change-requests" => change_requests::list_change_requests, Action::ChangeRequestRead, "List change requests, newest first (filters: state, environment)", returns: Vec<ChangeRequest>;
    get "/projects/{project}/change-requests/{id}" => change_requests::get_change_request, Action::ChangeRequestRead, "A change request: the proposed write, its diff, base versions, approvals and history", returns: ChangeRequest;
    put "/projects/{project}/change-requests/{id}" => change_requests::revise_change_request, Action::ChangeRequestUpdate, "Revise your change request with a new body for its route (rebases it; drops earlier approvals)", body: ReviseInput, returns: ChangeRequest;
    post "/projects/{project}/change-requests/{id}/approve" => change_requests::approve_change_request, Action::ChangeRequestApprove, "Approve someone else's change request; the last approval needed applies it", body: ReviewInput, returns: ChangeRequest;
    post "/projects/{project}/change-requests/{id}/reject" => change_requests::reject_change_request, Action::ChangeRequestApprove, "Reject a change request", body: ReviewInput, returns: ChangeRequest;
    post "/projects/{project}/change-requests/{id}/withdraw" => change_requests::withdraw_change_request, Action::ChangeRequestUpdate, "Withdraw your change request", body: ReviewInput, returns: ChangeRequest;
    post "/projects/{project}/change-requests/{id}/schedule" => change_requests::schedule_change_request, Action::ChangeRequestUpdate, "Give a change request a time to apply by itself (`at`), or take it away (`null`); its author or an approver", body: RescheduleInput, returns: ChangeRequest;
    post "/projects/{project}/scheduled-changes" => change_requests::schedule_change, Check::AnyToken, "Schedule a change: a change request that applies by itself at `at` if it has its approvals then (the operation's own action is checked)", body: ScheduleInput, returns: Proposed;
    post "/projects/{project}/change-requests/{id}/apply" => change_requests::apply_change_request, Action::ChangeRequestUpdate, "Apply an approved change request (its author, or an approver); 409 if what it was based on moved on", body: ReviewInput, returns: ChangeRequest;
    get "/projects/{project}/webhooks" => webhooks::list_webhooks, Action::WebhookRead, "List a project's webhooks", returns: Vec<WebhookView>;
    post "/projects/{project}/webhooks" => webhooks::create_webhook, Action::WebhookCreate, "Subscribe a URL to the project's changes (`resources`, `actions` globs; durable outbox) and to release and kill events (HMAC-signed; the secret is shown once)", body: WebhookInput, returns: WebhookView;
    delete "/projects/{project}/webhooks/{id}" => webhooks::delete_webhook, Action::WebhookDelete, "Delete a webhook", returns: Deleted;
    get "/projects/{project}/webhooks/{id}/deliveries" => webhooks::list_deliveries, Action::WebhookRead, "A change subscription's last delivery attempts, newest first", returns: Vec<webhooks::DeliveryView>;
    post "/projects/{project}/webhooks/{id}/deliveries/{delivery}/redeliver" => webhooks::redeliver_delivery, Action::WebhookCreate, "Send a delivery again now, with its id (the answer is the attempt)", returns: webhooks::DeliveryView;
    get "/projects/{project}/environments/{env}/segments" => segments::list_segments, Action::SegmentRead, "List segments; with `limit`/`cursor`, one page in key order (headers `x-next-cursor`, `x-total-count`)", returns: Vec<SegmentView>;
    post "/projects/{project}/environments/{env}/segments" => segments::create_segment, Action::SegmentCreate, "Create a segment", body: SegmentInput, returns: SegmentView;
    get "/projects/{project}/environments/{env}/segments/{segment}" => segments::get_segment, Action::SegmentRead, "Get a segment", returns: SegmentView;
    put "/projects/{project}/environments/{env}/segments/{segment}" => segments::update_segment, Action::SegmentUpdate, "Replace a segment", body: SegmentInput, returns: SegmentView;
    delete "/projects/{project}/environments/{env}/segments/{segment}" => segments::delete_segment, Action::SegmentDelete, "Delete a segment", returns: Deleted;
    get "/projects/{project}/environments/{env}/sdk-keys" => sdk_keys::list_sdk_keys, Action::SdkKeyRead, "List an environment's SDK keys", returns: Vec<SdkKeyView>;
    post "/projects/{project}/environments/{env}/sdk-keys" => sdk_keys::create_sdk_key, Action::SdkKeyCreate, "Create a server or client SDK key (the key is shown once)", body: SdkKeyInput, returns: SdkKeyView;
    delete "/projects/{project}/environments/{env}/sdk-keys/{id}" => sdk_keys::delete_sdk_key, Action::SdkKeyDelete, "Revoke an SDK key", returns: Deleted;
    get "/accounts" => accounts::list_accounts, Action::AccountRead, "List accounts", returns: Vec<AccountView>;
    post "/accounts" => accounts::create_account, Action::AccountCreate, "Create an account", body: AccountInput, returns: AccountView;
    get "/accounts/{name}" => accounts::get_account, Action::AccountRead, "Get an account", returns: AccountView;
    put "/accounts/{name}" => accounts::update_account, Action::AccountUpdate, "Update an account's roles, password or disabled state", body: AccountInput, returns: AccountView;
    delete "/accounts/{name}" => accounts::delete_account, Action::AccountDelete, "Delete an account", returns: Deleted;
    get "/roles" => roles::list_roles, Action::RoleRead, "List roles, built-in and custom", returns: Vec<RoleView>;
    post "/roles" => roles::create_role, Action::RoleCreate, "Create a custom role", body: RoleInput, returns: RoleView;
    get "/roles/{name}" => roles::get_role, Action::RoleRead, "Get a role", returns: RoleView;
    put "/roles/{name}" => roles::update_role, Action::RoleUpdate, "Replace a custom role's statements", body: RoleInput, returns: RoleView;
    delete "/roles/{name}" => roles::delete_role, Action::RoleDelete, "Delete a custom role", returns: Deleted;
    get "/tokens" => tokens::list_tokens, Action::TokenRead, "List API tokens (your own; all with token:read)", returns: Vec<TokenView>;
    post "/tokens" => tokens::create_token, Action::TokenCreate, "Create an API token, optionally scoped narrower than its owner (shown once)", body: TokenInput, returns: TokenView;
    delete "/tokens/{id}" => tokens::delete_token, Action::TokenDelete, "Revoke an API token", returns: Deleted;
    post "/auth/token" => tokens::sign_in, Check::Nothing, "Exchange an account's name and password for a new API token", body: SignInInput, returns: TokenView;
    get "/me" => me, Check::AnyToken, "The caller's account, and the actions its token allows on `resource` (a check, not an attempt: nothing is audited)", returns: Me;
    get "/audit" => audit::list_audit, Action::AuditRead, "Audit records, newest first, with who (`actor_name`) and where (`project`, `environment`, `flag`) (filters: actor, action or `prefix*`, project, env, flag, from, to, resource prefix; paging: before, limit)", returns: AuditPage;
    get "/audit/verify" => audit::verify_audit, Action::AuditVerify, "Recompute the audit hash chain and report the first broken link", returns: ChainReportView;
    get "/audit/export" => audit::export_audit, Action::AuditRead, "The audit log as JSON lines (`application/x-ndjson`, one `AuditExportLine` each), oldest first, after `since` (a sequence number, default 0); `follow=true` keeps the answer open and sends records as they are committed", returns: audit::AuditExportLine;
}

/// What a route checks before its handler looks at anything else.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Needs no token: the path's secret (a trigger) or the body (sign-in) is the credential.
    Nothing,
    /// Needs a valid token and checks no action.
    AnyToken,
    Action(Action),
}

impl Check {
    /// As the OpenAPI document's `x-switchyard-action` spells it.
    const fn name(self) -> &'static str {
        match self {
            Check::Nothing => "",
            Check::AnyToken => "-",
            Check::Action(action) => action.as_str(),
        }
    }
}

impl From<Action> for Check {
    fn from(action: Action) -> Check {
        Check::Action(action)
    }
}

pub fn router() -> Router<Arc<AppState>> {
    route_table()
        .route("/openapi.json", axum::routing::get(serve_openapi))
        .merge(super::oidc::router())
}

/// The OpenAPI document of every route (also written by `switchyard openapi`).
pub fn openapi_document() -> Value {
    openapi::document(route_docs)
}

async fn serve_openapi() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(openapi_document).clone())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MeQuery {
    /// A resource such as `proj/web:env/production:flag/checkout`.
    #[serde(default)]
    pub resource: Option<String>,
}

/// Who the caller is and what it may do, so a client can offer only what will be allowed.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Me {
    pub account: String,
    pub token: String,
    pub resource: Option<String>,
    /// The actions of the API the caller's token allows on `resource` (empty without one).
    pub actions: Vec<String>,
}

pub(super) async fn me(ctx: Ctx, Query(query): Query<MeQuery>) -> ApiResult<Json<Me>> {
    let mut actions: Vec<String> = match &query.resource {
        Some(resource) => route_checks()
            .into_iter()
            .filter_map(|check| match check {
                Check::Action(action) if ctx.allows(action, resource) => {
                    Some(action.as_str().to_owned())
                }
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    actions.sort_unstable();
    actions.dedup();
    Ok(Json(Me {
        account: ctx.caller.account.clone(),
        token: ctx.caller.token_id.clone(),
        resource: query.resource,
        actions,
    }))
}
