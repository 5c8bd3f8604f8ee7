//! SDK keys: server and client credentials of one environment.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::{Expected, Write};

use super::ctx::{Body, Change, Ctx, Deleted};
use super::projects::{CommentQuery, load_environment};
use crate::access::Action;
use crate::access::SdkKeyKind;
use crate::access::SdkKeyRecord;
use crate::access::resources as res;
use crate::access::{CLIENT_KEY_PREFIX, SERVER_KEY_PREFIX, new_secret};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::records;
use crate::records::env_scope;

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
    let docs = ctx
        .state
        .store
        .list("sdk_key", &env_scope(&project, &env))
        .await?;
    let views = docs
        .iter()
        .map(|doc| Ok(sdk_key_view(&project, &env, records::parse(doc)?, None)))
        .collect::<ApiResult<_>>()?;
    Ok(Json(views))
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
    let write = Write::Put {
        kind: "sdk_key".into(),
        scope: env_scope(&project, &env),
        key: record.id.clone(),
        body: records::encode(&record),
        expected: Expected::Absent,
    };
    let view = sdk_key_view(&project, &env, record.clone(), None);
    let change = Change {
        action: Action::SdkKeyCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&view)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await?;
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
    let doc = ctx
        .state
        .store
        .get("sdk_key", &env_scope(&project, &env), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("SDK key {id:?}")))?;
    ctx.delete_document(
        &doc,
        Action::SdkKeyDelete.as_str(),
        resource,
        records::encode(&sdk_key_view(&project, &env, records::parse(&doc)?, None)),
        query.comment.as_deref(),
    )
    .await
}
