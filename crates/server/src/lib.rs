//! The control plane behind `switchyard serve`: the REST API under `/api/v1` (with its OpenAPI
//! document), access control, the audit log, flag delivery (SDK snapshot and stream, OFREP) and
//! the operations endpoints (`/healthz`, `/readyz`, `/metrics`); and the edge node behind
//! `switchyard relay` ([`relay`]), which serves the same delivery endpoints from an upstream.
//!
//! The server owns HTTP and authorization; [`switchyard_store`] owns durability and the audit
//! chain; [`switchyard_engine`] decides what is valid (a change is compiled before it is stored).
//! It never keeps state that a second replica on the same database would not see: the API reads
//! the store, and delivery's in-memory feeds are a cache of it.

pub mod access;
pub mod api;
mod bootstrap;
mod clock;
mod console;
pub mod delivery;
pub mod error;
mod net;
mod ops;
pub mod records;
pub mod relay;
pub mod releases;
mod serving;
mod state;
pub mod tasks;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::Router;

pub use net::{ConnectionLimits, DEFAULT_LISTEN, MAX_BODY_BYTES, open_files_limit};
use serving::{delivery_app, serve_router};

pub use bootstrap::{Bootstrap, bootstrap};
pub use clock::Clock;
pub use ops::Metrics;
pub use state::AppState;

/// The control plane's whole HTTP surface.
pub fn app(state: Arc<AppState>) -> Router {
    let control = Router::new()
        .nest("/api/v1", api::router())
        .merge(console::router())
        .with_state(state.clone())
        .merge(ops::readiness(state.store.clone()));
    delivery_app(control, state.delivery.clone(), state.metrics.clone())
}

/// Starts the state's background work and serves until `shutdown` resolves; then stops
/// accepting, ends the SDK streams, finishes in-flight requests, and stops and drains the
/// background work (evaluations answered until the end are written too).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with these connection limits.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    AppState::start(&state);
    // Applying a scheduled change replays an API handler, so the API layer owns its runner.
    let runner = api::run_schedules(state.clone(), state.tasks.stopping());
    state.tasks.spawn(runner);
    let (delivery, metrics) = (state.delivery.clone(), state.metrics.clone());
    let app = app(state.clone());
    let result = serve_router(listener, app, delivery, metrics, limits, shutdown).await;
    state.stop().await;
    result
}
