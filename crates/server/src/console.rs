//! The web console: static assets compiled into the binary (no build step), served at `/`.
//! The page is a small script of our own that drives the same REST API as the CLI, with the
//! signed-in account's token, so every action passes the same access control and is audited.
//!
//! `GET /api/v1/changes` tells open pages that something was committed (the kinds it touched,
//! never keys or values), so they re-read what they show without a reload. It ends when its
//! token is revoked or expires, or its account is disabled or deleted, on whichever replica.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use serde_json::json;
use switchyard_store::{Store, StoreEvent};
use tokio::sync::broadcast;

use crate::access::{AccountRecord, Caller, TokenRecord};
use crate::api::Ctx;
use crate::clock::now_ms;
use crate::error::{ApiResult, Code};
use crate::records::{self, GLOBAL, Record};
use crate::state::AppState;

const INDEX: &str = include_str!("../console/index.html");
const STYLE: &str = include_str!("../console/app.css");

/// The page's scripts, served at `/console/<name>`. `index.html` loads them in this order, the
/// core (`app.js`) first; each is a classic script sharing the page's globals.
const SCRIPTS: &[(&str, &str)] = &[
    ("app.js", include_str!("../console/app.js")),
    ("charts.js", include_str!("../console/charts.js")),
    ("flags.js", include_str!("../console/flags.js")),
    ("segments.js", include_str!("../console/segments.js")),
    ("access.js", include_str!("../console/access.js")),
    ("setup.js", include_str!("../console/setup.js")),
    ("releases.js", include_str!("../console/releases.js")),
    ("audit.js", include_str!("../console/audit.js")),
    (
        "change-requests.js",
        include_str!("../console/change-requests.js"),
    ),
    ("webhooks.js", include_str!("../console/webhooks.js")),
    ("waves.js", include_str!("../console/waves.js")),
    ("compare.js", include_str!("../console/compare.js")),
    ("experiments.js", include_str!("../console/experiments.js")),
    ("playground.js", include_str!("../console/playground.js")),
    ("onboarding.js", include_str!("../console/onboarding.js")),
];

pub(crate) fn router() -> Router<Arc<AppState>> {
    let mut router = Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        );
    for &(name, text) in SCRIPTS {
        router = router.route(
            &format!("/console/{name}"),
            get(move || async move { asset(text, "text/javascript; charset=utf-8") }),
        );
    }
    router.route("/api/v1/changes", get(changes))
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The console loads nothing from elsewhere and runs no inline script.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    response
}

/// Server-sent events: `event: change` with `{"seq", "kinds"}` after every commit, a comment
/// every 15 s, until the server shuts down or the caller's token stops being valid (checked
/// again whenever a token or account changes, on every heartbeat, and when it expires).
async fn changes(ctx: Ctx) -> ApiResult<Response> {
    struct Open {
        changes: broadcast::Receiver<StoreEvent>,
        closing: tokio::sync::watch::Receiver<bool>,
        heartbeat: tokio::time::Interval,
        first: bool,
        credential: Credential,
        expiry: std::pin::Pin<Box<tokio::time::Sleep>>,
    }
    let mut heartbeat = tokio::time::interval(Duration::from_secs(15));
    heartbeat.reset();
    let credential = Credential {
        store: ctx.state.store.clone(),
        presented: presented_token(&ctx),
    };
    let expires_at_ms = records::get::<TokenRecord>(&ctx.state.store, GLOBAL, &ctx.caller.token_id)
        .await?
        .and_then(|token| token.record.expires_at_ms);
    let expiry = match expires_at_ms {
        Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
        // Some 30 years: never, without overflowing the clock.
        None => Duration::from_secs(1 << 30),
    };
    let open = Open {
        changes: ctx.state.store.changes(),
        closing: ctx.state.delivery.closing(),
        heartbeat,
        first: true,
        credential,
        expiry: Box::pin(tokio::time::sleep(expiry)),
    };
    let body = Body::from_stream(stream::unfold(open, |mut open| async move {
        if std::mem::take(&mut open.first) {
            return Some((Ok::<_, Infallible>(Bytes::from_static(b": open\n\n")), open));
        }
        if *open.closing.borrow() {
            return None;
        }
        let event = tokio::select! {
            _ = open.closing.changed() => return None,
            () = &mut open.expiry => return None,
            _ = open.heartbeat.tick() => {
                if open.credential.revoked().await {
                    return None;
                }
                return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), open));
            }
            event = open.changes.recv() => event,
        };
        let may_revoke = match &event {
            Ok(StoreEvent::Committed(note)) => {
                note.touches(|t| t.kind == TokenRecord::KIND || t.kind == AccountRecord::KIND)
            }
            Ok(StoreEvent::Resync) | Err(_) => true,
        };
        if may_revoke && open.credential.revoked().await {
            return None;
        }
        let data = match event {
            Ok(StoreEvent::Committed(note)) => {
                let mut kinds: Vec<&str> = note
                    .touched
                    .iter()
                    .flatten()
                    .map(|t| t.kind.as_str())
                    .collect();
                kinds.sort_unstable();
                kinds.dedup();
                json!({"seq": note.seq, "kinds": kinds})
            }
            Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                json!({"seq": null, "kinds": []})
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let frame = format!("event: change\ndata: {data}\n\n");
        Some((Ok(Bytes::from(frame)), open))
    }));
    Ok(crate::delivery::sse_response(body))
}

/// The API token a change stream was opened with, to check again while it is open.
struct Credential {
    store: Store,
    presented: String,
}

impl Credential {
    /// Whether the token no longer authenticates (deleted, expired, account disabled or
    /// deleted). A store that cannot answer right now revokes nothing.
    async fn revoked(&self) -> bool {
        match Caller::authenticate(&self.store, &self.presented, now_ms()).await {
            Ok(_) => false,
            Err(error) => error.code == Code::Unauthorized,
        }
    }
}

fn presented_token(ctx: &Ctx) -> String {
    ctx.headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
        .unwrap_or_default()
}
