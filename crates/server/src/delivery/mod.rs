//! Delivery: what SDKs, relays and OFREP clients are served, from the store (`serve`) or an
//! upstream (`relay`). [`Delivery`] (in `hub.rs`) holds one [`Feed`] per environment, the SDK
//! key cache and the event recorders; the routes (`sdk_routes`, `ofrep`, `events`) take only the
//! `Delivery` as state, so `serve` and `relay` serve them from the same code. Nothing here
//! imports the HTTP handler layer (`api`).

mod cors;
mod environment_info;
mod events;
mod experiment_retention;
mod experiment_tags;
mod feed;
mod fragments;
mod hub;
mod intake;
mod ofrep;
mod otlp;
mod sdk_routes;
mod streams;

pub(crate) use cors::cors;
pub use environment_info::{ClientKeyHash, EnvironmentInfo};
pub use events::{
    BATCH_ID_RETENTION_MS, EXPOSURE_RETENTION_MS, MAX_BATCH_ITEMS, MAX_DECODED_BYTES,
    apply_event_retention, run_store_writer, write_recorded, write_recorded_of,
};
pub use feed::{DATA_AGE_HEADER, Feed, Published};
pub use hub::{
    DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_KEY, Delivery, DeliveryConfig, SdkAccess,
    events_token,
};
pub use intake::{
    CLIENT_EVENTS_PER_CONTEXT_PER_MINUTE, CLIENT_KEY_EVENTS_BURST, CLIENT_KEY_EVENTS_PER_SECOND,
    DropReason, Intake, MAX_CONCURRENT_BATCHES, MAX_TRACKED_CONTEXTS,
};
pub use otlp::{DURATION_METRIC, ERROR_METRIC, SpanCounters};
pub use sdk_routes::sse_response;

use axum::Router;
use std::sync::Arc;

/// The delivery endpoints: SDK snapshot and stream, OFREP, event intake.
pub fn router() -> Router<Arc<Delivery>> {
    sdk_routes::router()
        .merge(environment_info::router())
        .merge(events::router())
        .merge(ofrep::router())
        .merge(otlp::router())
}
