//! Operations: request ids, structured request logs, Prometheus metrics, health and readiness.
//! The metrics are listed in `docs/operations.md`; `process.rs` reads the process's own figures,
//! `collectors.rs` what other parts keep (store, streams per key, data age) at scrape time.

mod collectors;
mod process;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::delivery::Delivery;
use crate::error::{ApiError, REQUEST_ID};
use crate::releases::{Guard, Webhooks};
use switchyard_store::Store;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The process's figures, under their standard unprefixed names.
    process: Registry,
    /// Request ids need to be unique, not secret: a seeded generator spares a system call per
    /// request.
    request_ids: switchyard_engine::RandomSource,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    /// Connections being served now (serving.rs keeps it).
    pub(crate) connections_open: Gauge,
    /// Connections refused because `connections_open` was at the limit.
    pub(crate) connections_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0])
        });
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            durations.clone(),
        );
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        registry.register(
            "http_connections_open",
            "HTTP connections being served",
            connections_open.clone(),
        );
        registry.register(
            "http_connections_refused",
            "HTTP connections refused at the connection limit",
            connections_refused.clone(),
        );
        let seed = u64::from_str_radix(&crate::access::random_hex(8), 16).unwrap_or_default();
        let mut process = Registry::default();
        process.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            process,
            request_ids: switchyard_engine::RandomSource::new(seed),
            requests,
            durations,
            connections_open,
            connections_refused,
        }
    }
}

impl Metrics {
    /// Adds a metric (before the registry is shared): the generic registration point for any
    /// part's own counters and gauges; its name gets the `switchyard_` prefix.
    pub fn register(
        &mut self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry.register(name, help, metric);
    }

    /// The delivery's own metrics, on `serve` and `relay` alike: open SDK and OFREP streams (in
    /// all and per key), event batches and events accepted and dropped, OTLP spans, and each
    /// environment's data age.
    pub fn register_delivery(&mut self, delivery: &Arc<Delivery>) {
        self.register(
            "sdk_streams_open",
            "Open SDK and OFREP change streams",
            delivery.open_streams.clone(),
        );
        self.register(
            "sdk_stream_fanout_seconds",
            "Seconds from the latest change's publication until the last stream handed it to its connection",
            delivery.stream_fanout.clone(),
        );
        // Both serve and relay screen client-key batches, so both say what they dropped.
        self.register(
            "events_dropped",
            "Events reported with a client key that intake dropped, by reason",
            delivery.intake.dropped.clone(),
        );
        self.register(
            "otlp_spans",
            "Spans received at /v1/traces, by outcome (once per flag a span reports)",
            delivery.intake.otlp_spans.clone(),
        );
        self.register(
            "event_batches",
            "Event batches posted to /events/v1/bulk, by outcome",
            delivery.intake.counters.batches.clone(),
        );
        self.register(
            "events_accepted",
            "Summaries, exposures and metric events accepted at /events/v1/bulk (stored, or \
             forwarded by a relay), by kind",
            delivery.intake.counters.accepted.clone(),
        );
        let collector = collectors::DeliveryCollector(delivery.clone());
        self.registry.register_collector(Box::new(collector));
    }

    /// The control plane's own metrics: store latency and errors per operation, and the
    /// release guard's decisions.
    pub fn register_control_plane(&mut self, store: &Store, guard: &Guard, webhooks: &Webhooks) {
        let collector = collectors::StoreCollector(store.clone());
        self.registry.register_collector(Box::new(collector));
        self.register(
            "release_guard_decisions",
            "What the release guard decided at each look, per release (the most recently \
             decided releases; see docs/operations.md)",
            guard.decisions.family.clone(),
        );
        self.register(
            "release_guard_errors",
            "Release guard checks that failed",
            guard.errors.clone(),
        );
        self.register(
            "webhook_deliveries",
            "Webhook delivery attempts (outbox, release events and redeliveries)",
            webhooks.attempts.clone(),
        );
        self.register(
            "webhook_delivery_failures",
            "Webhook delivery attempts not answered with a 2xx",
            webhooks.failures.clone(),
        );
    }
}

/// `/healthz` and `/metrics`, the same for the control plane and a relay.
pub(crate) fn health_and_metrics() -> axum::Router<Arc<Metrics>> {
    axum::Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
}

/// The control plane's `/readyz`: ready only when `store` answers and is migrated.
pub(crate) fn readiness(store: Store) -> axum::Router {
    axum::Router::new()
        .route("/readyz", get(readyz))
        .with_state(store)
}

async fn readyz(State(store): State<Store>) -> Response {
    let backend = store.backend();
    match store.ready().await {
        Ok(true) => Json(json!({"ready": true, "storage": backend})).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "migrations pending"})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": format!("storage unreachable: {e}")})),
        )
            .into_response(),
    }
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut text = String::new();
    let encoded = encode_registry(&mut text, &metrics.registry)
        .and_then(|()| encode_registry(&mut text, &metrics.process))
        .and_then(|()| encode_eof(&mut text));
    match encoded {
        Ok(()) => (
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Gives every request an id (the caller's `X-Request-Id` when it sends a sane one), logs it,
/// and counts it.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(
            || {
                let ids = &metrics.request_ids;
                format!("{:08x}{:08x}", ids.next_u32(), ids.next_u32())
            },
            str::to_owned,
        );
    let method = metric_method(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let path = loggable_path(request.uri().path());
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .durations
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route,
        })
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        request_id,
        method,
        path,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// A method as the metrics label it: the standard ones by name, anything a client makes up
/// as `other`, so no request can add series.
fn metric_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Kill-trigger URLs carry their secret (the URL is the credential): the log keeps the route,
/// never the secret.
fn loggable_path(path: &str) -> String {
    const TRIGGERS: &str = "/api/v1/triggers/";
    match path.strip_prefix(TRIGGERS) {
        Some(secret) if !secret.is_empty() => format!("{TRIGGERS}[redacted]"),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod log_tests {
    #![allow(clippy::unwrap_used)]
    use super::{loggable_path, metric_method};

    #[test]
    fn made_up_methods_add_no_metric_series() {
        let made_up = axum::http::Method::from_bytes(b"RANDOM1").unwrap();
        assert_eq!(metric_method(&made_up), "other");
        assert_eq!(metric_method(&axum::http::Method::GET), "GET");
    }

    #[test]
    fn trigger_secrets_are_not_logged() {
        assert_eq!(
            loggable_path("/api/v1/triggers/trg_abc123secret"),
            "/api/v1/triggers/[redacted]"
        );
        assert_eq!(
            loggable_path("/api/v1/triggers/a/b"),
            "/api/v1/triggers/[redacted]"
        );
        assert_eq!(loggable_path("/api/v1/flags"), "/api/v1/flags");
    }
}
