//! Webhook subscriptions: URLs that receive signed release and kill events.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::ctx::{Body, Change, Ctx, Deleted};
use super::projects::load_project;
use crate::access::resources as res;
use crate::access::{Action, random_hex};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::releases::{EVENT_TYPES, Webhook};

/// A webhook as the API shows it (the secret only at creation).
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn webhook_view(hook: Webhook, with_secret: bool) -> WebhookView {
    WebhookView {
        id: hook.id,
        url: hook.url,
        events: hook.events,
        created_ms: hook.created_ms,
        secret: with_secret.then_some(hook.secret),
    }
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub url: String,
    /// Event types (`release.*` allowed); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The signing secret; absent: generated.
    #[serde(default)]
    pub secret: Option<String>,
}

pub(super) async fn create_webhook(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<WebhookInput>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    let id = random_hex(4);
    let resource = res::webhook(&project, &id);
    ctx.authorize(Action::WebhookCreate, &resource).await?;
    if !(input.url.starts_with("http://") || input.url.starts_with("https://")) {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL",
        ));
    }
    // Internal targets are refused here for literal addresses and known names, and again at
    // every delivery for what the name resolves to then.
    if let Err(refused) = ctx.state.webhooks.targets().check_url(&input.url) {
        return Err(ApiError::invalid("url", refused));
    }
    for (i, pattern) in input.events.iter().enumerate() {
        let prefix = pattern.strip_suffix('*');
        let known = EVENT_TYPES
            .iter()
            .any(|t| *t == pattern || prefix.is_some_and(|p| t.starts_with(p)));
        if !known {
            return Err(ApiError::invalid(
                format!("events[{i}]"),
                format!(
                    "unknown event type {pattern:?} (known: {})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    load_project(&ctx, &project).await?;
    let hook = Webhook {
        id,
        url: input.url,
        events: input.events,
        secret: input.secret.unwrap_or_else(|| random_hex(24)),
        created_ms: now_ms(),
    };
    let change = Change::created(
        Action::WebhookCreate,
        &resource,
        &webhook_view(hook.clone(), false),
    );
    ctx.write_record((&project, &hook.id), &hook, Expected::Absent, change)
        .await?;
    Ok((StatusCode::CREATED, Json(webhook_view(hook, true))))
}

pub(super) async fn list_webhooks(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let readable = ctx
        .list_allowed(&project, Action::WebhookRead, |id| {
            res::webhook(&project, id)
        })
        .await?;
    let views = readable
        .into_iter()
        .map(|stored| webhook_view(stored.record, false));
    Ok(Json(views.collect()))
}

pub(super) async fn delete_webhook(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::webhook(&project, &id);
    ctx.authorize(Action::WebhookDelete, &resource).await?;
    let stored = ctx
        .load_or_404::<Webhook>(&project, &id, || format!("webhook {id:?}"))
        .await?;
    let change = Change::deleted(
        Action::WebhookDelete,
        &resource,
        &webhook_view(stored.record.clone(), false),
    );
    ctx.delete_record(&project, &stored, change).await
}
