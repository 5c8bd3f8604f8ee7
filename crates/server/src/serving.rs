//! What `serve` and `relay` share on the wire: the delivery endpoints with the operations
//! endpoints and middleware around them, and serving a router until shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::delivery::{self, Delivery};
use crate::ops::{self, Metrics};

use crate::net::MAX_BODY_BYTES;

/// What `serve` and `relay` share: `routes` plus the delivery, OFREP and event intake
/// endpoints, `/healthz` and `/metrics`, request ids, logs and metrics, and the body limit.
pub(crate) fn delivery_app(
    routes: Router,
    delivery: Arc<Delivery>,
    metrics: Arc<Metrics>,
) -> Router {
    routes
        .merge(delivery::router().with_state(delivery))
        .merge(ops::health_and_metrics().with_state(metrics.clone()))
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(axum::middleware::from_fn_with_state(metrics, ops::observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Serves `router`; on `shutdown`, closes `delivery`'s streams so the graceful stop can finish.
pub(crate) async fn serve_router(
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
