//! Every route the typed client calls, declared once in [`endpoints!`]: adding an endpoint is
//! adding a line. The few methods that build their path or body from their arguments (segments,
//! release actions) are written out beside their types.

use reqwest::{Method, RequestBuilder};
use serde::Serialize;

use crate::StaleQuery;
use crate::types::{
    AccountInput, AccountView, ActionInput, AuditPage, ChainReportView, CohortStatistics, Deleted,
    Environment, EnvironmentInput, EvaluationPoint, ExposedContextView, FlagInput, FlagView,
    Killed, Me, Project, ProjectInput, Release, ReleaseInput, ReleaseStatus, RoleInput, RoleView,
    SdkKeyInput, SdkKeyView, SegmentView, SignInInput, TargetingInput, TargetingView, ToggleInput,
    TokenInput, TokenView, Trigger, TriggerInput, WebhookInput, WebhookView,
};
use crate::types::{ArchiveInput, RemoveTargetsInput, RestoreInput, StaleReport};
use crate::{AuditQuery, Client, ExposureQuery, FlagFilter, MeQuery, Result, TimeRange};

/// Declares each endpoint: its HTTP method and path template (as the server's `routes!` table
/// spells them), the method calling it, which takes the template's parameters in order, what
/// it returns, and how its input travels: a `json` body, a `query` string, or a delete's audit
/// `comment`.
macro_rules! endpoints {
    ($( $(#[$doc:meta])* $method:ident $template:literal
        => $name:ident($($param:ident),*) -> $res:ty $(, $how:ident: $input:ty)?; )*) => {
        impl Client {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($param: &str,)* $($how: $input)?) -> Result<$res> {
                    let request = self.endpoint(Method::$method, $template, &[$($param),*])?;
                    self.send(request $(.$how($how))?).await
                }
            )*
        }

        /// Every endpoint as (method, path template, parameters), for the test that holds
        /// them to the server's routes.
        #[cfg(test)]
        const ENDPOINTS: &[(&str, &str, &[&str])] =
            &[$( (stringify!($method), $template, &[$(stringify!($param)),*]) ),*];
    };
}

endpoints! {
    GET "/projects" => projects() -> Vec<Project>;
    POST "/projects" => create_project() -> Project, json: &ProjectInput;
    GET "/projects/{project}" => project(project) -> Project;
    PUT "/projects/{project}" => update_project(project) -> Project, json: &ProjectInput;
    DELETE "/projects/{project}" => delete_project(project) -> Deleted, comment: Option<&str>;
    GET "/projects/{project}/environments" => environments(project) -> Vec<Environment>;
    POST "/projects/{project}/environments" => create_environment(project) -> Environment, json: &EnvironmentInput;
    GET "/projects/{project}/environments/{env}" => environment(project, env) -> Environment;
    PUT "/projects/{project}/environments/{env}" => update_environment(project, env) -> Environment, json: &EnvironmentInput;
    /// Deletes an environment with its targeting, segments and SDK keys.
    DELETE "/projects/{project}/environments/{env}" => delete_environment(project, env) -> Deleted, comment: Option<&str>;
    GET "/projects/{project}/flags" => flags(project) -> Vec<FlagView>, query: &FlagFilter<'_>;
    POST "/projects/{project}/flags" => create_flag(project) -> FlagView, json: &FlagInput;
    /// A flag with the targeting of every environment the caller may read.
    GET "/projects/{project}/flags/{flag}" => flag(project, flag) -> FlagView;
    PUT "/projects/{project}/flags/{flag}" => update_flag(project, flag) -> FlagView, json: &FlagInput;
    DELETE "/projects/{project}/flags/{flag}" => delete_flag(project, flag) -> Deleted, comment: Option<&str>;
    /// Archives a flag: SDKs, relays and OFREP no longer see it (`force`: even while others require it).
    POST "/projects/{project}/flags/{flag}/archive" => archive_flag(project, flag) -> FlagView, json: &ArchiveInput;
    /// Restores an archived flag unchanged.
    POST "/projects/{project}/flags/{flag}/restore" => restore_flag(project, flag) -> FlagView, json: &RestoreInput;
    /// Flags not evaluated, or serving one variation, for `days`, and temporary flags past their removal.
    GET "/projects/{project}/environments/{env}/stale-flags" => stale_flags(project, env) -> StaleReport, query: &StaleQuery;
    GET "/projects/{project}/environments/{env}/flags/{flag}" => targeting(project, env, flag) -> TargetingView;
    PUT "/projects/{project}/environments/{env}/flags/{flag}" => update_targeting(project, env, flag) -> TargetingView, json: &TargetingInput;
    /// Turns a flag on or off in one environment (flips it when `on` is `None`).
    POST "/projects/{project}/environments/{env}/flags/{flag}/toggle" => toggle(project, env, flag) -> TargetingView, json: &ToggleInput;
    /// Takes context keys out of a flag's individual targets in one environment.
    POST "/projects/{project}/environments/{env}/flags/{flag}/remove-targets" => remove_targets(project, env, flag) -> TargetingView, json: &RemoveTargetsInput;
    /// A flag's evaluations per minute, version, variation and reason.
    GET "/projects/{project}/environments/{env}/flags/{flag}/evaluations" => evaluations(project, env, flag) -> Vec<EvaluationPoint>, query: &TimeRange;
    /// Contexts exposed to a flag, most recently seen first.
    GET "/projects/{project}/environments/{env}/flags/{flag}/exposures" => exposures(project, env, flag) -> Vec<ExposedContextView>, query: &ExposureQuery<'_>;
    /// Each metric's statistics per variation cohort of a flag.
    GET "/projects/{project}/environments/{env}/flags/{flag}/metrics" => metrics(project, env, flag) -> Vec<CohortStatistics>, query: &TimeRange;
    /// The kill switch: off in `env`, and the flag's active releases there aborted.
    POST "/projects/{project}/environments/{env}/flags/{flag}/kill" => kill(project, env, flag) -> Killed, json: &ActionInput;
    GET "/projects/{project}/environments/{env}/flags/{flag}/triggers" => triggers(project, env, flag) -> Vec<Trigger>;
    /// Creates a kill trigger; its URL is in the answer, once.
    POST "/projects/{project}/environments/{env}/flags/{flag}/triggers" => create_trigger(project, env, flag) -> Trigger, json: &TriggerInput;
    DELETE "/projects/{project}/environments/{env}/flags/{flag}/triggers/{id}" => delete_trigger(project, env, flag, id) -> Deleted, comment: Option<&str>;
    /// An environment's releases, newest first.
    GET "/projects/{project}/environments/{env}/releases" => releases(project, env) -> Vec<Release>;
    /// Starts (or schedules) a guarded release of a flag.
    POST "/projects/{project}/environments/{env}/releases" => start_release(project, env) -> ReleaseStatus, json: &ReleaseInput;
    /// A release's status: stage, cohorts, each guardrail's evidence, next decision.
    GET "/projects/{project}/environments/{env}/releases/{id}" => release(project, env, id) -> ReleaseStatus;
    GET "/projects/{project}/webhooks" => webhooks(project) -> Vec<WebhookView>;
    /// Subscribes a URL to release and kill events; the secret is in the answer, once.
    POST "/projects/{project}/webhooks" => create_webhook(project) -> WebhookView, json: &WebhookInput;
    DELETE "/projects/{project}/webhooks/{id}" => delete_webhook(project, id) -> Deleted;
    GET "/projects/{project}/environments/{env}/segments" => segments(project, env) -> Vec<SegmentView>;
    GET "/projects/{project}/environments/{env}/segments/{segment}" => segment(project, env, segment) -> SegmentView;
    DELETE "/projects/{project}/environments/{env}/segments/{segment}" => delete_segment(project, env, segment) -> Deleted, comment: Option<&str>;
    GET "/projects/{project}/environments/{env}/sdk-keys" => sdk_keys(project, env) -> Vec<SdkKeyView>;
    /// Creates a server or client SDK key; the key is in the answer, once.
    POST "/projects/{project}/environments/{env}/sdk-keys" => create_sdk_key(project, env) -> SdkKeyView, json: &SdkKeyInput;
    DELETE "/projects/{project}/environments/{env}/sdk-keys/{id}" => delete_sdk_key(project, env, id) -> Deleted;
    GET "/accounts" => accounts() -> Vec<AccountView>;
    POST "/accounts" => create_account() -> AccountView, json: &AccountInput;
    GET "/accounts/{name}" => account(name) -> AccountView;
    PUT "/accounts/{name}" => update_account(name) -> AccountView, json: &AccountInput;
    DELETE "/accounts/{name}" => delete_account(name) -> Deleted, comment: Option<&str>;
    GET "/roles" => roles() -> Vec<RoleView>;
    POST "/roles" => create_role() -> RoleView, json: &RoleInput;
    GET "/roles/{name}" => role(name) -> RoleView;
    PUT "/roles/{name}" => update_role(name) -> RoleView, json: &RoleInput;
    DELETE "/roles/{name}" => delete_role(name) -> Deleted, comment: Option<&str>;
    /// The caller's tokens (everyone's with `token:read`).
    GET "/tokens" => tokens() -> Vec<TokenView>;
    /// Creates an API token; the secret is in the answer, once.
    POST "/tokens" => create_token() -> TokenView, json: &TokenInput;
    DELETE "/tokens/{id}" => delete_token(id) -> Deleted;
    /// Exchanges an account's name and password for a new API token.
    POST "/auth/token" => sign_in() -> TokenView, json: &SignInInput;
    /// The caller's account, and the actions its token allows on a resource.
    GET "/me" => me() -> Me, query: &MeQuery<'_>;
    /// Audit records, newest first.
    GET "/audit" => audit() -> AuditPage, query: &AuditQuery<'_>;
    /// Recomputes the audit hash chain.
    GET "/audit/verify" => verify_audit() -> ChainReportView;
}

/// A delete's audit comment, sent as `?comment=…` (absent when `None`).
trait CommentQuery {
    fn comment(self, comment: Option<&str>) -> Self;
}

impl CommentQuery for RequestBuilder {
    fn comment(self, comment: Option<&str>) -> Self {
        #[derive(Serialize)]
        struct Comment<'a> {
            comment: Option<&'a str>,
        }
        self.query(&Comment { comment })
    }
}

#[cfg(test)]
mod tests {
    use super::ENDPOINTS;

    /// Each endpoint is a route of the server's, with the same method and the same path
    /// parameters in the same order, so a route renamed or reshaped there fails here.
    #[test]
    fn every_endpoint_is_a_server_route() {
        let document = switchyard_server::api::openapi_document();
        for (method, template, params) in ENDPOINTS {
            let route = &document["paths"][format!("/api/v1{template}")][method.to_lowercase()];
            assert!(
                route.is_object(),
                "{method} {template} is not a server route"
            );
            let names: Vec<&str> = route["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "path")
                .filter_map(|parameter| parameter["name"].as_str())
                .collect();
            assert_eq!(&names, params, "{method} {template}");
        }
    }
}
