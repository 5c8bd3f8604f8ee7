//! Kill triggers: secret URLs an alerting system can POST to, without an API token, to kill a flag.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_store::Expected;

use super::change_requests::not_subject_to_approval;
use super::ctx::{Change, Ctx, Deleted, OptionalBody};
use super::projects::load_environment;
use super::releases::ActionInput;
use crate::access::resources as res;
use crate::access::{Action, new_secret, parse_secret};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code, current_request_id};
use crate::records::{self, EnvironmentRecord, GLOBAL, Record};
pub(super) use crate::releases::Killed;
use crate::releases::{self, Actor};

/// A kill trigger: a secret URL an alerting system can call without an API token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Trigger {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_ms: i64,
    /// Shown once, at creation: `POST` it to kill the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Stored in the global scope under its id, with its secret's hash beside it.
impl Record for Trigger {
    const KIND: &'static str = "trigger";
}

impl Trigger {
    fn is_of(&self, project: &str, env: &str, flag: &str) -> bool {
        self.project == project && self.environment == env && self.flag == flag
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    #[serde(default)]
    pub description: Option<String>,
}

const TRIGGER_PREFIX: &str = "sytr";

pub(super) async fn create_trigger(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    OptionalBody(input): OptionalBody<TriggerInput>,
) -> ApiResult<(StatusCode, Json<Trigger>)> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize(Action::TriggerCreate, &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    let secret = new_secret(TRIGGER_PREFIX);
    let trigger = Trigger {
        id: secret.id.clone(),
        project,
        environment: env,
        flag,
        description: input.description,
        created_ms: now_ms(),
        url: None,
    };
    // Only the secret's hash is kept, beside the trigger.
    let mut stored = records::encode(&trigger);
    stored["secret_hash"] = json!(secret.secret_hash);
    let write = records::put_body::<Trigger>(GLOBAL, &trigger.id, stored, Expected::Absent);
    let change = Change::created(Action::TriggerCreate, &resource, &trigger);
    ctx.commit(&[write], change).await?;
    Ok((
        StatusCode::CREATED,
        Json(Trigger {
            url: Some(format!("/api/v1/triggers/{}", secret.plaintext)),
            ..trigger
        }),
    ))
}

pub(super) async fn list_triggers(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<Trigger>>> {
    ctx.authorize(Action::TriggerRead, &res::env_flag(&project, &env, &flag))
        .await?;
    let all = records::list::<Trigger>(&ctx.state.store, GLOBAL).await?;
    let triggers = all
        .into_iter()
        .map(|stored| stored.record)
        .filter(|trigger| trigger.is_of(&project, &env, &flag));
    Ok(Json(triggers.collect()))
}

pub(super) async fn delete_trigger(
    ctx: Ctx,
    Path((project, env, flag, id)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize(Action::TriggerDelete, &resource).await?;
    let stored = records::get::<Trigger>(&ctx.state.store, GLOBAL, &id)
        .await?
        .filter(|stored| stored.record.is_of(&project, &env, &flag))
        .ok_or_else(|| ApiError::not_found(format!("trigger {id:?}")))?;
    let audited = format!("{resource}:trigger/{id}");
    let change = Change::deleted(Action::TriggerDelete, &audited, &stored.record);
    ctx.delete_record(GLOBAL, &stored, change).await
}

/// `POST /api/v1/triggers/{secret}`: kills the trigger's flag. The secret is the credential.
pub(super) async fn call_trigger(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    Path(presented): Path<String>,
    OptionalBody(input): OptionalBody<ActionInput>,
) -> ApiResult<Json<Killed>> {
    let unknown = || ApiError::new(Code::NotFound, "unknown or deleted trigger");
    let (id, secret_hash) = parse_secret(TRIGGER_PREFIX, &presented).ok_or_else(unknown)?;
    let doc = state
        .store
        .get(Trigger::KIND, GLOBAL, id)
        .await?
        .ok_or_else(unknown)?;
    let stored_hash = doc.body["secret_hash"].as_str().unwrap_or_default();
    if stored_hash.is_empty() || stored_hash != secret_hash {
        return Err(unknown());
    }
    let trigger: Trigger = records::parse(&doc)?;
    let actor = Actor {
        audit: json!({"kind": "trigger", "id": trigger.id}),
        name: format!("trigger:{}", trigger.id),
        request_id: Some(current_request_id()),
    };
    let comment = input
        .comment
        .or_else(|| trigger.description.clone())
        .unwrap_or_else(|| "kill trigger called".into());
    // In an environment that requires approvals, the record says why this one needed none.
    let environment =
        records::get::<EnvironmentRecord>(&state.store, &trigger.project, &trigger.environment)
            .await?;
    let comment = environment
        .and_then(|env| not_subject_to_approval(&env.record, Some(&comment)))
        .unwrap_or(comment);
    let killed = releases::kill(
        state.services(),
        (&trigger.project, &trigger.environment, &trigger.flag),
        &actor,
        Some(&comment),
    )
    .await?;
    Ok(Json(killed))
}
