//! Webhook subscriptions (`docs/webhooks.md`): URLs that receive signed messages about the
//! project's changes (through the durable outbox) and release and kill events; each change
//! subscription's delivery log, and redelivery.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::ctx::{Body, Change, Ctx, Deleted};
use super::projects::load_project;
use crate::access::resources as res;
use crate::access::{Action, Event, random_hex};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::releases::EVENT_TYPES;
use crate::releases::webhooks::{Format, Webhook};
use crate::webhooks::{Redelivery, redeliver};

/// A webhook as the API shows it (the secret only at creation).
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// Resource globs of the changes it receives.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Audit action globs of the changes it receives.
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub format: Format,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Where its outbox stands (change subscriptions, once the outbox has seen them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<OutboxView>,
}

/// A change subscription's place in the audit log and the state of its next delivery.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct OutboxView {
    /// The last audit sequence number delivered (or passed over as not matching).
    pub delivered_seq: i64,
    /// Failed attempts at the next delivery (0: none failing).
    pub failed_attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One delivery attempt from a subscription's delivery log.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct DeliveryView {
    /// The delivery (`{webhook}-{seq}`): the `X-Switchyard-Delivery` header, the same on every
    /// attempt.
    pub delivery: String,
    /// The audit sequence number delivered.
    pub seq: i64,
    pub at_ms: i64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub ok: bool,
    /// Asked for with `POST …/redeliver`.
    pub redelivery: bool,
}

impl From<switchyard_store::webhook_outbox::DeliveryAttempt> for DeliveryView {
    fn from(attempt: switchyard_store::webhook_outbox::DeliveryAttempt) -> Self {
        DeliveryView {
            ok: attempt.error.is_none(),
            delivery: attempt.delivery,
            seq: attempt.seq,
            at_ms: attempt.at_ms,
            status: attempt.status,
            duration_ms: attempt.duration_ms,
            error: attempt.error,
            redelivery: attempt.redelivery,
        }
    }
}

fn webhook_view(hook: Webhook, with_secret: bool) -> WebhookView {
    WebhookView {
        id: hook.id,
        url: hook.url,
        events: hook.events,
        resources: hook.resources,
        actions: hook.actions,
        format: hook.format,
        created_ms: hook.created_ms,
        secret: with_secret.then_some(hook.secret),
        outbox: None,
    }
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub url: String,
    /// Release and kill event types (`release.*` allowed); empty: all, unless `resources` or
    /// `actions` is given.
    #[serde(default)]
    pub events: Vec<String>,
    /// Every change to a resource matching one of these globs (`*` for all of the project's),
    /// delivered from the durable outbox.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Every change whose audit action matches one of these globs (`flag:*`), delivered from
    /// the durable outbox; with `resources`, a change must match both.
    #[serde(default)]
    pub actions: Vec<String>,
    /// `json` (default) or `slack` (`{"text": "…"}`).
    #[serde(default)]
    pub format: Format,
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
    check_filters(&input)?;
    load_project(&ctx, &project).await?;
    let hook = Webhook {
        id,
        url: input.url,
        events: input.events,
        secret: input.secret.unwrap_or_else(|| random_hex(24)),
        created_ms: now_ms(),
        resources: input.resources,
        actions: input.actions,
        format: input.format,
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

/// Longest resource or action pattern accepted.
const MAX_PATTERN: usize = 256;

/// Resource and action globs: non-empty, without spaces; an action without a wildcard must be
/// one the audit log records.
fn check_filters(input: &WebhookInput) -> ApiResult<()> {
    let well_formed = |field: &str, i: usize, pattern: &str| {
        if pattern.is_empty()
            || pattern.len() > MAX_PATTERN
            || pattern.contains(char::is_whitespace)
        {
            return Err(ApiError::invalid(
                format!("{field}[{i}]"),
                format!("must be a glob of 1 to {MAX_PATTERN} characters without spaces"),
            ));
        }
        Ok(())
    };
    for (i, pattern) in input.resources.iter().enumerate() {
        well_formed("resources", i, pattern)?;
    }
    for (i, pattern) in input.actions.iter().enumerate() {
        well_formed("actions", i, pattern)?;
        let known = pattern.contains('*')
            || Action::ALL.iter().any(|a| a.as_str() == pattern)
            || Event::ALL.iter().any(|e| e.as_str() == pattern);
        if !known {
            return Err(ApiError::invalid(
                format!("actions[{i}]"),
                format!(
                    "unknown action {pattern:?} (an audit action such as flag:toggle, or a glob such as flag:*)"
                ),
            ));
        }
    }
    Ok(())
}

pub(super) async fn list_webhooks(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let readable = ctx
        .list_allowed::<Webhook>(&project, Action::WebhookRead, |id| {
            res::webhook(&project, id)
        })
        .await?;
    let mut views = Vec::with_capacity(readable.len());
    for stored in readable {
        let outbox = if stored.record.follows_changes() {
            ctx.state
                .store
                .outbox_state(&project, &stored.record.id)
                .await?
        } else {
            None
        };
        let mut view = webhook_view(stored.record, false);
        view.outbox = outbox.map(|state| OutboxView {
            delivered_seq: state.delivered_seq,
            failed_attempts: state.attempts,
            last_error: state.last_error,
        });
        views.push(view);
    }
    Ok(Json(views))
}

/// Attempts kept and shown per subscription.
const DELIVERY_LOG_LIMIT: i64 = 50;

pub(super) async fn list_deliveries(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    ctx.authorize(Action::WebhookRead, &res::webhook(&project, &id))
        .await?;
    ctx.load_or_404::<Webhook>(&project, &id, || format!("webhook {id:?}"))
        .await?;
    let log = ctx
        .state
        .store
        .delivery_log(&project, &id, DELIVERY_LOG_LIMIT)
        .await?;
    Ok(Json(log.into_iter().map(DeliveryView::from).collect()))
}

/// Sends a delivery again now, with its id; the answer is the attempt (2xx or not).
pub(super) async fn redeliver_delivery(
    ctx: Ctx,
    Path((project, id, delivery)): Path<(String, String, String)>,
) -> ApiResult<Json<DeliveryView>> {
    // Redelivery makes the server send to the URL, as creating the webhook allowed.
    ctx.authorize(Action::WebhookCreate, &res::webhook(&project, &id))
        .await?;
    let stored = ctx
        .load_or_404::<Webhook>(&project, &id, || format!("webhook {id:?}"))
        .await?;
    let state = &ctx.state;
    match redeliver(
        &state.store,
        &state.webhooks,
        &project,
        &stored.record,
        &delivery,
    )
    .await
    {
        Ok(attempt) => Ok(Json(attempt.into())),
        Err(Redelivery::Unknown) => Err(ApiError::not_found(format!(
            "delivery {delivery:?} of webhook {id:?}"
        ))),
        Err(Redelivery::Store(error)) => Err(error.into()),
    }
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
    let deleted = ctx.delete_record(&project, &stored, change).await?;
    // Its place in the outbox and its delivery log go too (the outbox ignores rows of deleted
    // subscriptions, so a failure here costs a row, not a delivery).
    if let Err(error) = ctx.state.store.outbox_remove(&project, &id).await {
        tracing::warn!(%project, webhook = %id, %error, "could not remove a webhook's outbox");
    }
    Ok(deleted)
}
