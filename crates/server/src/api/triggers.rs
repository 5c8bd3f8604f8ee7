//! Kill triggers: secret URLs an alerting system can POST to, without an API token, to kill a flag.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_store::{Expected, Write};

use super::ctx::{Change as AuditChange, Ctx, Deleted, optional_body};
use super::projects::load_environment;
use super::releases::ActionInput;
use crate::access::Action;
use crate::access::resources as res;
use crate::access::{new_secret, parse_secret};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code, current_request_id};
use crate::records;
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
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Trigger>)> {
    let input: TriggerInput = optional_body(&body)?;
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
    let write = Write::Put {
        kind: "trigger".into(),
        scope: String::new(),
        key: trigger.id.clone(),
        body: stored,
        expected: Expected::Absent,
    };
    let change = AuditChange {
        action: Action::TriggerCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&trigger)),
        comment: None,
    };
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
    let mut triggers = Vec::new();
    for doc in ctx.state.store.list("trigger", "").await? {
        let trigger: Trigger = records::parse(&doc)?;
        if trigger.project == project && trigger.environment == env && trigger.flag == flag {
            triggers.push(trigger);
        }
    }
    Ok(Json(triggers))
}

pub(super) async fn delete_trigger(
    ctx: Ctx,
    Path((project, env, flag, id)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize(Action::TriggerDelete, &resource).await?;
    let doc = ctx
        .state
        .store
        .get("trigger", "", &id)
        .await?
        .filter(|doc| {
            records::parse::<Trigger>(doc)
                .is_ok_and(|t| t.project == project && t.environment == env && t.flag == flag)
        })
        .ok_or_else(|| ApiError::not_found(format!("trigger {id:?}")))?;
    let before = records::encode(&records::parse::<Trigger>(&doc)?);
    ctx.delete_document(
        &doc,
        Action::TriggerDelete.as_str(),
        format!("{resource}:trigger/{id}"),
        before,
        None,
    )
    .await
}

/// `POST /api/v1/triggers/{secret}`: kills the trigger's flag. The secret is the credential.
pub(super) async fn call_trigger(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::AppState>>,
    Path(presented): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Killed>> {
    let input: ActionInput = optional_body(&body)?;
    let unknown = || ApiError::new(Code::NotFound, "unknown or deleted trigger");
    let (id, secret_hash) = parse_secret(TRIGGER_PREFIX, &presented).ok_or_else(unknown)?;
    let doc = state
        .store
        .get("trigger", "", id)
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
    let killed = releases::kill(
        state.services(),
        (&trigger.project, &trigger.environment, &trigger.flag),
        &actor,
        Some(&comment),
    )
    .await?;
    Ok(Json(killed))
}
