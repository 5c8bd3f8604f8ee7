//! The control plane behind `switchyard serve`: the REST API under `/api/v1` (with its OpenAPI
//! document), access control, the audit log, flag delivery (SDK snapshot and stream, OFREP) and
//! the operations endpoints (`/healthz`, `/readyz`, `/metrics`); and the edge node behind
//! `switchyard relay` ([`relay`]), which serves the same delivery endpoints from an upstream.
//!
//! The server owns HTTP and authorization; [`switchyard_store`] owns durability and the audit
//! chain; [`switchyard_engine`] decides what is valid (a change is compiled before it is stored).
//! It never keeps state that a second replica on the same database would not see: the API reads
//! the store, and delivery's in-memory feeds are a cache of it.

pub mod api;
pub mod auth;
mod console;
pub mod delivery;
pub mod error;
pub mod events;
pub mod guard;
mod ofrep;
mod ops;
pub mod policy;
pub mod relay;
pub mod releases;
mod resources;
mod sdk_routes;
pub mod validate;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde_json::json;
use switchyard_store::{AuditRecord, Expected, Store, StoreError, Write};

use delivery::{Delivery, DeliveryConfig};

pub use ops::Metrics;

/// Request bodies larger than this are refused with 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The default listening address of `switchyard serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub delivery: Arc<Delivery>,
    pub guard: Arc<guard::Guard>,
}

impl AppState {
    /// Must be called within a Tokio runtime: delivery starts following the store's changes.
    pub fn new(store: Store) -> Arc<AppState> {
        AppState::with_delivery(store, DeliveryConfig::default())
    }

    pub fn with_delivery(store: Store, config: DeliveryConfig) -> Arc<AppState> {
        AppState::with_config(store, config, guard::GuardConfig::default())
    }

    /// Also starts the release guard.
    pub fn with_config(
        store: Store,
        config: DeliveryConfig,
        guard_config: guard::GuardConfig,
    ) -> Arc<AppState> {
        let guard = guard::Guard::new(guard_config);
        guard.spawn(store.clone());
        let delivery = Delivery::new(store.clone(), config);
        delivery.start();
        let mut metrics = Metrics::default();
        metrics.register_delivery(&delivery);
        Arc::new(AppState {
            store,
            metrics: Arc::new(metrics),
            delivery,
            guard,
        })
    }
}

/// The control plane's whole HTTP surface.
pub fn app(state: Arc<AppState>) -> Router {
    let control = Router::new()
        .nest("/api/v1", api::router())
        .merge(console::router())
        .merge(ops::router())
        .with_state(state.clone());
    delivery_app(control, state.delivery.clone(), state.metrics.clone())
}

/// What `serve` and `relay` share: `routes` plus the delivery, OFREP and event intake
/// endpoints, `/healthz` and `/metrics`, request ids, logs and metrics, and the body limit.
fn delivery_app(routes: Router, delivery: Arc<Delivery>, metrics: Arc<Metrics>) -> Router {
    routes
        .merge(sdk_routes::router().with_state(delivery.clone()))
        .merge(events::router().with_state(delivery.clone()))
        .merge(ofrep::router().with_state(delivery))
        .merge(ops::health_and_metrics().with_state(metrics.clone()))
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn_with_state(metrics, ops::observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Serves until `shutdown` resolves, then stops accepting, ends the SDK streams and finishes
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let delivery = state.delivery.clone();
    let result = serve_router(listener, app(state.clone()), delivery, shutdown).await;
    // Evaluations answered until the end are counted too.
    events::write_recorded(&state.delivery, &state.store).await;
    result
}

/// Serves `router`; on `shutdown`, closes `delivery`'s streams so the graceful stop can finish.
async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    delivery: Arc<Delivery>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Stream frames and small API answers go out at once instead of waiting on Nagle.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            delivery.close();
        })
        .await
}

/// What a first start created; the password and token are shown once and stored only hashed.
#[derive(Debug)]
pub struct Bootstrap {
    pub account: String,
    pub password: String,
    pub token: String,
}

/// On an empty database: an `admin` account with an admin token, and a `default` project with
/// `production` and `staging` environments. Replicas starting together race on the account's
/// creation and exactly one wins; the others return `None`, as does every later start.
pub async fn bootstrap(store: &Store) -> Result<Option<Bootstrap>, StoreError> {
    if !store.list("account", "").await?.is_empty() {
        return Ok(None);
    }
    let password = auth::random_hex(12);
    let password_hash =
        auth::hash_password(&password).map_err(|e| StoreError::Corrupt(e.message))?;
    let account = auth::AccountRecord {
        name: "admin".into(),
        password_hash: Some(password_hash),
        roles: vec!["admin".into()],
        disabled: false,
        created_at_ms: now_ms(),
    };
    let (token, plaintext) = api::mint_token_for_bootstrap("admin");
    let put = |kind: &str, scope: &str, key: &str, body: serde_json::Value| Write::Put {
        kind: kind.into(),
        scope: scope.into(),
        key: key.into(),
        body,
        expected: Expected::Absent,
    };
    let mut writes = vec![
        put("account", "", "admin", api::to_json(&account)),
        put("token", "", &token.id, api::to_json(&token)),
        put(
            "project",
            "",
            "default",
            json!({"key": "default", "name": "Default project", "description": ""}),
        ),
    ];
    for env in ["production", "staging"] {
        writes.push(put(
            "environment",
            "default",
            env,
            json!({"key": env, "name": env, "description": "", "critical": env == "production"}),
        ));
    }
    let record = AuditRecord {
        at_ms: now_ms(),
        actor: json!({"kind": "system", "id": "bootstrap"}),
        action: "account:create".into(),
        resource: "account/admin".into(),
        outcome: "allowed".into(),
        before: None,
        after: Some(json!({"account": "admin", "roles": ["admin"], "project": "default"})),
        comment: Some("first start".into()),
        request_id: None,
    };
    match store.commit(&writes, &record).await {
        Ok(_) => Ok(Some(Bootstrap {
            account: "admin".into(),
            password,
            token: plaintext,
        })),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
