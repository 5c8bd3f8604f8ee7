//! The REST API under `/api/v1`. Every route is declared once in [`routes!`], which builds both
//! the router and the OpenAPI document, so the two cannot drift apart.

pub(crate) mod access;
mod audit;
mod flags;
mod insights;
mod openapi;
mod projects;
mod releases;
mod segments;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_store::{AuditRecord, Committed, Document, Write};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code, current_request_id};

pub use openapi::document as openapi_document;

/// Declares every API route: method, path, handler, the action it checks, a summary, and its
/// request and response body types (for the OpenAPI document).
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $action:literal, $summary:literal,
        $(body: $req:ty,)? returns: $res:ty; )*) => {
        fn route_table() -> Router<Arc<AppState>> {
            Router::new()
                $( .route($path, axum::routing::$method($handler)) )*
        }

        /// Every action a route checks (with repeats), for `GET /me`.
        const ROUTE_ACTIONS: &[&str] = &[$( $action, )*];

        fn route_docs(generator: &mut schemars::SchemaGenerator) -> Vec<openapi::RouteDoc> {
            vec![$( openapi::RouteDoc {
                method: stringify!($method),
                path: $path,
                action: $action,
                summary: $summary,
                request: None $( .or(Some(generator.subschema_for::<$req>())) )?,
                response: generator.subschema_for::<$res>(),
            }, )*]
        }
    };
}

use types::*;

/// The request and response bodies of every route, for clients (the CLI, tests, benches) that
/// speak the API in types instead of JSON trees.
pub mod types {
    pub use super::Deleted;
    pub use super::access::{
        AccountInput, AccountView, Me, RoleInput, RoleView, SdkKeyInput, SdkKeyKind, SdkKeyView,
        SignInInput, TokenInput, TokenView,
    };
    pub use super::audit::{AuditEntry, AuditPage, ChainReportView};
    pub use super::flags::{
        EnvTargeting, FlagInput, FlagView, TargetingInput, TargetingView, ToggleInput,
    };
    pub use super::insights::{CohortStatistics, EvaluationPoint, ExposedContextView};
    pub use super::projects::{Environment, EnvironmentInput, Project, ProjectInput};
    pub use super::releases::{
        ActionInput, Killed, Release, ReleaseInput, ReleaseStatus, Trigger, TriggerInput,
        WebhookInput, WebhookView,
    };
    pub use super::segments::{SegmentInput, SegmentView};
    pub use crate::validate::FlagSpec;
}

routes! {
    get "/projects" => projects::list_projects, "project:read", "List projects", returns: Vec<Project>;
    post "/projects" => projects::create_project, "project:create", "Create a project", body: ProjectInput, returns: Project;
    get "/projects/{project}" => projects::get_project, "project:read", "Get a project", returns: Project;
    put "/projects/{project}" => projects::update_project, "project:update", "Update a project's name or description", body: ProjectInput, returns: Project;
    delete "/projects/{project}" => projects::delete_project, "project:delete", "Delete an empty project", returns: Deleted;
    get "/projects/{project}/environments" => projects::list_environments, "env:read", "List a project's environments", returns: Vec<Environment>;
    post "/projects/{project}/environments" => projects::create_environment, "env:create", "Create an environment", body: EnvironmentInput, returns: Environment;
    get "/projects/{project}/environments/{env}" => projects::get_environment, "env:read", "Get an environment", returns: Environment;
    put "/projects/{project}/environments/{env}" => projects::update_environment, "env:update", "Update an environment", body: EnvironmentInput, returns: Environment;
    delete "/projects/{project}/environments/{env}" => projects::delete_environment, "env:delete", "Delete an environment with its targeting, segments and SDK keys", returns: Deleted;
    get "/projects/{project}/flags" => flags::list_flags, "flag:read", "List flags (filters: q, tag, kind, archived)", returns: Vec<FlagView>;
    post "/projects/{project}/flags" => flags::create_flag, "flag:create", "Create a flag", body: FlagInput, returns: FlagView;
    get "/projects/{project}/flags/{flag}" => flags::get_flag, "flag:read", "Get a flag with the targeting of every environment the caller may read", returns: FlagView;
    put "/projects/{project}/flags/{flag}" => flags::update_flag, "flag:update", "Update a flag's variations, schema and metadata", body: FlagInput, returns: FlagView;
    delete "/projects/{project}/flags/{flag}" => flags::delete_flag, "flag:delete", "Delete a flag in every environment", returns: Deleted;
    get "/projects/{project}/environments/{env}/flags/{flag}" => flags::get_targeting, "flag:read", "Get a flag's targeting in one environment", returns: TargetingView;
    put "/projects/{project}/environments/{env}/flags/{flag}" => flags::update_targeting, "flag:update", "Replace a flag's targeting in one environment", body: TargetingInput, returns: TargetingView;
    post "/projects/{project}/environments/{env}/flags/{flag}/toggle" => flags::toggle_flag, "flag:toggle", "Turn a flag on or off in one environment (flips it when `on` is absent)", body: ToggleInput, returns: TargetingView;
    get "/projects/{project}/environments/{env}/flags/{flag}/evaluations" => insights::flag_evaluations, "flag:read", "A flag's evaluations per minute, version, variation and reason (from, to: Unix ms; default the last 24 h)", returns: Vec<EvaluationPoint>;
    get "/projects/{project}/environments/{env}/flags/{flag}/exposures" => insights::flag_exposures, "flag:read", "Contexts exposed to a flag, most recently seen first (filters: variation, from, to, limit)", returns: Vec<ExposedContextView>;
    get "/projects/{project}/environments/{env}/flags/{flag}/metrics" => insights::flag_metrics, "flag:read", "Each metric's count, sum, mean and standard deviation per variation cohort of a flag (from, to)", returns: Vec<CohortStatistics>;
    post "/projects/{project}/environments/{env}/flags/{flag}/kill" => releases::kill_flag, "flag:toggle", "Kill switch: turn a flag off in one environment and abort its active releases there", body: ActionInput, returns: Killed;
    get "/projects/{project}/environments/{env}/flags/{flag}/triggers" => releases::list_triggers, "trigger:read", "List a flag's kill triggers", returns: Vec<Trigger>;
    post "/projects/{project}/environments/{env}/flags/{flag}/triggers" => releases::create_trigger, "trigger:create", "Create a kill trigger URL (shown once) that an alerting system can POST to", body: TriggerInput, returns: Trigger;
    delete "/projects/{project}/environments/{env}/flags/{flag}/triggers/{id}" => releases::delete_trigger, "trigger:delete", "Delete a kill trigger", returns: Deleted;
    post "/triggers/{secret}" => releases::call_trigger, "", "Call a kill trigger: the URL's secret is the credential", body: ActionInput, returns: Killed;
    get "/projects/{project}/environments/{env}/releases" => releases::list_releases, "release:read", "List releases, newest first", returns: Vec<Release>;
    post "/projects/{project}/environments/{env}/releases" => releases::start_release, "release:create", "Start (or schedule) a guarded release of a flag", body: ReleaseInput, returns: ReleaseStatus;
    get "/projects/{project}/environments/{env}/releases/{id}" => releases::get_release, "release:read", "A release's status: stage, cohorts, each guardrail's evidence, next decision", returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/pause" => releases::pause_release, "release:update", "Hold a release until resumed (no timeout)", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/resume" => releases::resume_release, "release:update", "Resume a held release", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/advance" => releases::advance_release, "release:update", "Go to the next stage now (or complete after the last)", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/rollback" => releases::roll_back_release, "release:update", "Roll back: restore the flag's serving from before the release", body: ActionInput, returns: ReleaseStatus;
    post "/projects/{project}/environments/{env}/releases/{id}/abort" => releases::abort_release, "release:update", "Abort: stop the release and restore the previous serving", body: ActionInput, returns: ReleaseStatus;
    get "/projects/{project}/webhooks" => releases::list_webhooks, "webhook:read", "List a project's webhooks", returns: Vec<WebhookView>;
    post "/projects/{project}/webhooks" => releases::create_webhook, "webhook:create", "Subscribe a URL to release and kill events (HMAC-signed; the secret is shown once)", body: WebhookInput, returns: WebhookView;
    delete "/projects/{project}/webhooks/{id}" => releases::delete_webhook, "webhook:delete", "Delete a webhook", returns: Deleted;
    get "/projects/{project}/environments/{env}/segments" => segments::list_segments, "segment:read", "List segments", returns: Vec<SegmentView>;
    post "/projects/{project}/environments/{env}/segments" => segments::create_segment, "segment:create", "Create a segment", body: SegmentInput, returns: SegmentView;
    get "/projects/{project}/environments/{env}/segments/{segment}" => segments::get_segment, "segment:read", "Get a segment", returns: SegmentView;
    put "/projects/{project}/environments/{env}/segments/{segment}" => segments::update_segment, "segment:update", "Replace a segment", body: SegmentInput, returns: SegmentView;
    delete "/projects/{project}/environments/{env}/segments/{segment}" => segments::delete_segment, "segment:delete", "Delete a segment", returns: Deleted;
    get "/projects/{project}/environments/{env}/sdk-keys" => access::list_sdk_keys, "sdk-key:read", "List an environment's SDK keys", returns: Vec<SdkKeyView>;
    post "/projects/{project}/environments/{env}/sdk-keys" => access::create_sdk_key, "sdk-key:create", "Create a server or client SDK key (the key is shown once)", body: SdkKeyInput, returns: SdkKeyView;
    delete "/projects/{project}/environments/{env}/sdk-keys/{id}" => access::delete_sdk_key, "sdk-key:delete", "Revoke an SDK key", returns: Deleted;
    get "/accounts" => access::list_accounts, "account:read", "List accounts", returns: Vec<AccountView>;
    post "/accounts" => access::create_account, "account:create", "Create an account", body: AccountInput, returns: AccountView;
    get "/accounts/{name}" => access::get_account, "account:read", "Get an account", returns: AccountView;
    put "/accounts/{name}" => access::update_account, "account:update", "Update an account's roles, password or disabled state", body: AccountInput, returns: AccountView;
    delete "/accounts/{name}" => access::delete_account, "account:delete", "Delete an account", returns: Deleted;
    get "/roles" => access::list_roles, "role:read", "List roles, built-in and custom", returns: Vec<RoleView>;
    post "/roles" => access::create_role, "role:create", "Create a custom role", body: RoleInput, returns: RoleView;
    get "/roles/{name}" => access::get_role, "role:read", "Get a role", returns: RoleView;
    put "/roles/{name}" => access::update_role, "role:update", "Replace a custom role's statements", body: RoleInput, returns: RoleView;
    delete "/roles/{name}" => access::delete_role, "role:delete", "Delete a custom role", returns: Deleted;
    get "/tokens" => access::list_tokens, "token:read", "List API tokens (your own; all with token:read)", returns: Vec<TokenView>;
    post "/tokens" => access::create_token, "token:create", "Create an API token, optionally scoped narrower than its owner (shown once)", body: TokenInput, returns: TokenView;
    delete "/tokens/{id}" => access::delete_token, "token:delete", "Revoke an API token", returns: Deleted;
    post "/auth/token" => access::sign_in, "", "Exchange an account's name and password for a new API token", body: SignInInput, returns: TokenView;
    get "/me" => access::me, "-", "The caller's account, and the actions its token allows on `resource` (a check, not an attempt: nothing is audited)", returns: Me;
    get "/audit" => audit::list_audit, "audit:read", "Audit records, newest first (filters: resource prefix, before, limit)", returns: AuditPage;
    get "/audit/verify" => audit::verify_audit, "audit:verify", "Recompute the audit hash chain and report the first broken link", returns: ChainReportView;
}

pub fn router() -> Router<Arc<AppState>> {
    route_table().route("/openapi.json", axum::routing::get(openapi::serve))
}

/// A deleted resource's address.
#[derive(Debug, serde::Serialize, schemars::JsonSchema, serde::Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

/// An authenticated request: the state, the caller, the request's headers.
#[derive(Debug)]
pub struct Ctx {
    pub state: Arc<AppState>,
    pub caller: Caller,
    pub headers: HeaderMap,
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Ctx> {
        let presented = bearer(&parts.headers).unwrap_or_default();
        let caller = Caller::authenticate(&state.store, presented, crate::now_ms()).await?;
        Ok(Ctx {
            state: state.clone(),
            caller,
            headers: parts.headers.clone(),
        })
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl Ctx {
    /// Checks `action` on `resource`; a refusal is written to the audit log before it is returned.
    pub async fn authorize(&self, action: &str, resource: &str) -> ApiResult<()> {
        if self.caller.allows(action, resource) {
            return Ok(());
        }
        let record = self.audit_record(action, resource, "denied", None, None, None);
        if let Err(error) = self.state.store.commit(&[], &record).await {
            tracing::error!(%error, action, resource, "could not audit a denied attempt");
        }
        Err(ApiError::forbidden(action, resource))
    }

    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.caller.allows(action, resource)
    }

    /// Applies `writes` with the audit record describing them, in one transaction.
    pub async fn commit(&self, writes: &[Write], change: Change<'_>) -> ApiResult<Committed> {
        let record = self.audit_record(
            change.action,
            change.resource,
            "allowed",
            change.before,
            change.after,
            change.comment.map(str::to_owned),
        );
        Ok(self.state.store.commit(writes, &record).await?)
    }

    /// Deletes one document (at the version it was read at) with its audit record.
    pub async fn delete_document(
        &self,
        doc: &Document,
        action: &str,
        resource: String,
        before: Value,
        comment: Option<&str>,
    ) -> ApiResult<axum::Json<Deleted>> {
        let write = Write::Delete {
            kind: doc.kind.clone(),
            scope: doc.scope.clone(),
            key: doc.key.clone(),
            expected: switchyard_store::Expected::Version(doc.version),
        };
        let change = Change {
            action,
            resource: &resource,
            before: Some(before),
            after: None,
            comment,
        };
        self.commit(&[write], change).await?;
        Ok(axum::Json(Deleted { deleted: resource }))
    }

    fn audit_record(
        &self,
        action: &str,
        resource: &str,
        outcome: &str,
        before: Option<Value>,
        after: Option<Value>,
        comment: Option<String>,
    ) -> AuditRecord {
        AuditRecord {
            at_ms: crate::now_ms(),
            actor: self.caller.actor(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            outcome: outcome.to_owned(),
            before,
            after,
            comment,
            request_id: Some(current_request_id()),
        }
    }

    /// The version a write must expect: `If-Match` (stale → 412) or the body's `version`
    /// (stale → 409). One of them is required.
    pub fn expected_version(&self, body_version: Option<i64>) -> ApiResult<Precondition> {
        if let Some(value) = self.headers.get(axum::http::header::IF_MATCH) {
            let text = value
                .to_str()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("W/")
                .trim_matches('"');
            return text.parse().map(Precondition::IfMatch).map_err(|_| {
                ApiError::bad_request("If-Match must be a version number such as \"3\"")
                    .field("If-Match")
            });
        }
        body_version.map(Precondition::Body).ok_or_else(|| {
            ApiError::bad_request(
                "updates must carry the version they change (If-Match header or `version` field)",
            )
            .field("version")
        })
    }
}

/// Where an expected version came from, which decides the status of a stale one.
#[derive(Debug, Clone, Copy)]
pub enum Precondition {
    IfMatch(i64),
    Body(i64),
}

impl Precondition {
    pub fn version(self) -> i64 {
        match self {
            Precondition::IfMatch(v) | Precondition::Body(v) => v,
        }
    }

    /// Fails early (without writing) when the stored version already differs.
    pub fn check(self, current: i64) -> ApiResult<switchyard_store::Expected> {
        if self.version() != current {
            let code = match self {
                Precondition::IfMatch(_) => Code::PreconditionFailed,
                Precondition::Body(_) => Code::Conflict,
            };
            let mut error = ApiError::new(
                code,
                format!(
                    "the resource is at version {current}, not {}; reload and retry",
                    self.version()
                ),
            )
            .field("version");
            error.current_version = Some(current);
            return Err(error);
        }
        Ok(expect_version(current))
    }
}

/// What a write of a resource read at `version` expects; version 0 means it does not exist yet
/// (an environment's targeting that was never edited).
pub fn expect_version(version: i64) -> switchyard_store::Expected {
    match version {
        0 => switchyard_store::Expected::Absent,
        v => switchyard_store::Expected::Version(v),
    }
}

/// What an audited change says about itself.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub comment: Option<&'a str>,
}

/// A JSON body whose rejections use the API's error shape: a body too large is 413, broken JSON
/// is 400, JSON of the wrong shape is 422 with the offending path.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Body<T>> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                let detail = std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or(e.body_text());
                let field = detail
                    .split(':')
                    .next()
                    .filter(|p| !p.contains(' '))
                    .map(str::to_owned);
                let mut error = ApiError::new(Code::ValidationFailed, detail.clone());
                error.field = field;
                Err(error)
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    Code::PayloadTooLarge,
                    format!(
                        "request body is larger than {} bytes",
                        crate::MAX_BODY_BYTES
                    ),
                ))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Parses a stored document body; stored data that does not parse is a server fault.
/// A JSON body that may be absent (an empty `POST`).
pub fn optional_body<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

pub fn parse_doc<T: DeserializeOwned>(doc: &Document) -> ApiResult<T> {
    serde_json::from_value(doc.body.clone()).map_err(ApiError::internal)
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Keys of projects, environments, flags, segments, accounts and roles.
pub fn check_key(field: &str, key: &str) -> ApiResult<()> {
    let valid = !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "{key:?} is not a valid key: 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ))
    }
}

/// The first admin token, minted outside any request.
pub fn mint_token_for_bootstrap(account: &str) -> (crate::auth::TokenRecord, String) {
    access::mint_token(account, "bootstrap", None, None)
}
