//! SDK keys: server and client credentials of one environment.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted};
use super::projects::load_environment;
use super::query::Query;
use crate::access::resources as res;
use crate::access::{
    Action, CLIENT_KEY_PREFIX, SERVER_KEY_PREFIX, SdkKeyKind, SdkKeyRecord, new_secret,
};
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::records::{self, env_scope};

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct SdkKeyInput {
    pub kind: SdkKeyKind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct SdkKeyView {
    pub id: String,
    pub name: String,
    pub kind: SdkKeyKind,
    pub project: String,
    pub environment: String,
    pub created_at_ms: i64,
    /// The key itself, present only in the response that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn sdk_key_view(project: &str, env: &str, record: SdkKeyRecord, key: Option<String>) -> SdkKeyView {
    SdkKeyView {
        id: record.id,
        name: record.name,
        kind: record.kind,
        project: project.to_owned(),
        environment: env.to_owned(),
        created_at_ms: record.created_at_ms,
        key,
    }
}

pub(super) async fn list_sdk_keys(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<SdkKeyView>>> {
    ctx.authorize(Action::SdkKeyRead, &res::sdk_key(&project, &env, "*"))
        .await?;
    let keys = records::list(&ctx.state.store, &env_scope(&project, &env)).await?;
    let views = keys
        .into_iter()
        .map(|stored| sdk_key_view(&project, &env, stored.record, None));
    Ok(Json(views.collect()))
}

pub(super) async fn create_sdk_key(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<SdkKeyInput>,
) -> ApiResult<(StatusCode, Json<SdkKeyView>)> {
    ctx.authorize(Action::SdkKeyCreate, &res::sdk_key(&project, &env, "*"))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let secret = new_secret(match input.kind {
        SdkKeyKind::Server => SERVER_KEY_PREFIX,
        SdkKeyKind::Client => CLIENT_KEY_PREFIX,
    });
    let record = SdkKeyRecord {
        name: if input.name.is_empty() {
            format!("{:?} key", input.kind).to_lowercase()
        } else {
            input.name
        },
        id: secret.id,
        kind: input.kind,
        secret_hash: secret.secret_hash,
        created_at_ms: now_ms(),
    };
    let resource = res::sdk_key(&project, &env, &record.id);
    let view = sdk_key_view(&project, &env, record.clone(), None);
    let change =
        Change::created(Action::SdkKeyCreate, &resource, &view).comment(input.comment.as_deref());
    let scope = env_scope(&project, &env);
    ctx.write_record((&scope, &record.id), &record, Expected::Absent, change)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(sdk_key_view(&project, &env, record, Some(secret.plaintext))),
    ))
}

pub(super) async fn delete_sdk_key(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::sdk_key(&project, &env, &id);
    ctx.authorize(Action::SdkKeyDelete, &resource).await?;
    let scope = env_scope(&project, &env);
    let stored = ctx
        .load_or_404::<SdkKeyRecord>(&scope, &id, || format!("SDK key {id:?}"))
        .await?;
    let view = sdk_key_view(&project, &env, stored.record.clone(), None);
    let change =
        Change::deleted(Action::SdkKeyDelete, &resource, &view).comment(query.comment.as_deref());
    ctx.delete_record(&scope, &stored, change).await
}
