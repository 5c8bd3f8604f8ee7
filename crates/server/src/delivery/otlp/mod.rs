//! OpenTelemetry trace intake: `POST /v1/traces` (OTLP/HTTP, binary protobuf or JSON,
//! optionally gzipped) on `serve`, so a release's error-rate and latency guardrails work from
//! standard telemetry with no Switchyard SDK (`docs/opentelemetry.md`).
//!
//! Each span that reports a flag evaluation (`spans.rs`) becomes metric events about that
//! flag ([`MetricSubject`]): `span.duration_ms` always and `span.error` when its status is
//! ERROR, with the span's context id as a `user` context part (as OFREP keys `targetingKey`).
//! The store counts them toward the served variation's cohort, and toward the release cohort
//! of the context's exposures, or else the one the variant identifies on its own under the
//! flag's current targeting (`cohort.rs`); none is guessed. What could not be attributed is
//! still accepted, with OTLP's partial success saying how many.
//!
//! Authenticated by a server SDK key; admitted by the same bound as event batches
//! ([`super::Intake`]); bounded in messages before decoding (`bound.rs`); written in one
//! transaction, all of a request or nothing, once per distinct body (its digest is the batch
//! id, so an exporter's retry is not counted twice). A relay has
//! no store and answers `404` pointing at `serve`.

mod bound;
mod cohort;
mod spans;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use switchyard_engine::model::Flag;
use switchyard_store::events::{
    ContextPart, EventBatch as StoredBatch, MetricEvent, MetricSubject,
};

use super::experiment_tags::tag_running_experiments;
use super::hub::Delivery;
use super::intake::refuse;
use super::sdk_routes::server_access;
use super::write_recorded_of;
use crate::clock::now_ms;
use crate::error::{ApiError, Code};
use spans::Reported;
use wire::Encoding;

/// The metric a span about a flag always reports: its duration in milliseconds.
pub const DURATION_METRIC: &str = "span.duration_ms";
/// The metric a span about a flag reports (value 1) when its status is ERROR.
pub const ERROR_METRIC: &str = "span.error";

/// What became of the spans received, by outcome
/// (`switchyard_otlp_spans_total{outcome}`); a span about several flags counts once per flag.
pub type SpanCounters = Family<SpanLabels, Counter>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanLabels {
    outcome: &'static str,
}

pub(super) fn router() -> Router<Arc<Delivery>> {
    Router::new().route("/v1/traces", post(traces))
}

async fn traces(
    State(delivery): State<Arc<Delivery>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    export(&delivery, &headers, &body)
        .await
        .unwrap_or_else(|refused| refused)
}

async fn export(
    delivery: &Delivery,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let Some(store) = delivery.store() else {
        return Err(refuse(ApiError::new(
            Code::NotFound,
            "a relay does not take OpenTelemetry traces: send them to `switchyard serve` \
             (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=<control plane>/v1/traces)",
        )));
    };
    let why = "trace intake needs a server SDK key; client keys are public";
    let access = server_access(delivery, headers, why)
        .await
        .map_err(refuse)?;
    let encoding = Encoding::of(headers).ok_or_else(wire::unsupported)?;
    let Some(_admitted) = delivery.intake.admit() else {
        return Err(refuse(ApiError::new(
            Code::RateLimited,
            "too many exports being written at once; retry shortly",
        )));
    };
    let decoded = wire::decode(headers, encoding, body).map_err(refuse)?;
    let reported = spans::read(&decoded.request).map_err(refuse)?;
    let feed = delivery
        .feed(&access.project, &access.env)
        .await
        .map_err(refuse)?;
    let (metrics, tally) = attribute(&reported, &feed.current().data.flags).map_err(refuse)?;
    if metrics.iter().any(|event| !event.contexts.is_empty()) {
        // Exposures OFREP answered before these spans ended are still in memory for up to a
        // flush interval: written first, so a context evaluated just now is found in its cohort.
        write_recorded_of(delivery, store, &access.project, &access.env).await;
    }
    let mut duplicate = false;
    if !metrics.is_empty() {
        let mut batch = StoredBatch {
            project: access.project.clone(),
            env: access.env.clone(),
            counted_at_ms: now_ms(),
            counts: Vec::new(),
            exposures: Vec::new(),
            metrics,
            metric_flags: None,
            experiments: Vec::new(),
        };
        tag_running_experiments(&delivery.intake.running_experiments, store, &mut batch)
            .await
            .map_err(refuse)?;
        // An exporter retries an export it got no answer to with the same bytes: their digest
        // is the batch id, so a retry of an export already written counts nothing again.
        duplicate = store
            .ingest_events_once(&batch, &decoded.digest, now_ms())
            .await
            .map_err(|e| refuse(e.into()))?
            .duplicate;
    }
    if !duplicate {
        tally.count(&delivery.intake.otlp_spans);
    }
    Ok(wire::answer(encoding, tally.warning()))
}

/// How the spans of one request were attributed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    /// Evaluations of a flag a release runs on whose cohort is known or left to the context's
    /// exposures (the span has a context id).
    attributed: u64,
    /// Evaluations of a flag a release runs on that name no cohort: no context id and an
    /// ambiguous variant, or a variant the flag does not have.
    unattributed: u64,
    /// Evaluations of a flag no release runs on: counted toward the variation only.
    no_release: u64,
    /// Spans about no flag.
    no_flag: u64,
}

impl Tally {
    fn count(self, counters: &SpanCounters) {
        for (outcome, n) in [
            ("attributed", self.attributed),
            ("unattributed", self.unattributed),
            ("no_release", self.no_release),
            ("no_flag", self.no_flag),
        ] {
            if n > 0 {
                counters.get_or_create(&SpanLabels { outcome }).inc_by(n);
            }
        }
    }

    /// OTLP's "accepted with a warning", when something could not be attributed.
    fn warning(self) -> Option<String> {
        (self.unattributed > 0).then(|| {
            let about_flags = self.attributed + self.unattributed + self.no_release;
            format!(
                "{} of {about_flags} flag evaluations reported by these spans were not \
                 attributed to a release cohort (no feature_flag.context.id, and a variant \
                 that does not identify the cohort or is not one of the flag's variations)",
                self.unattributed
            )
        })
    }
}

/// The metric events the spans report about the environment's `flags`, and how they were
/// attributed. A flag the environment does not have is `422` naming where the span said it,
/// unless the span itself reports that evaluation as failed.
fn attribute(
    reported: &Reported,
    flags: &BTreeMap<String, Flag>,
) -> Result<(Vec<MetricEvent>, Tally), ApiError> {
    let mut tally = Tally {
        no_flag: reported.without_flags,
        ..Tally::default()
    };
    let mut metrics = Vec::with_capacity(reported.evaluations() * 2);
    for span in &reported.spans {
        for evaluation in &span.flags {
            let Some(flag) = flags.get(&evaluation.flag) else {
                if evaluation.failed {
                    // The application saw the flag missing (`flag_not_found`) and says so: its
                    // span reports no cohort, and the export's other spans still count.
                    tally.unattributed += 1;
                    continue;
                }
                return Err(ApiError::invalid(
                    &evaluation.field,
                    format!("no flag {:?} in this environment", evaluation.flag),
                ));
            };
            let known = evaluation
                .variant
                .as_ref()
                .filter(|variant| flag.variations.iter().any(|v| &v.key == *variant));
            let Some(variant) = known else {
                // An error default or a stale variant: no cohort of this flag served it.
                tally.unattributed += 1;
                continue;
            };
            let release = cohort::release_cohort(flag, variant);
            if !cohort::has_release(&flag.targeting) {
                tally.no_release += 1;
            } else if release.is_some() || evaluation.context_id.is_some() {
                tally.attributed += 1;
            } else {
                tally.unattributed += 1;
            }
            let contexts: Vec<ContextPart> = evaluation
                .context_id
                .iter()
                .map(|id| ContextPart {
                    kind: "user".into(),
                    key: id.clone(),
                })
                .collect();
            let about = MetricSubject {
                flag: evaluation.flag.clone(),
                variation: variant.clone(),
                release,
            };
            let event = |name: &str, value: f64| MetricEvent {
                at_ms: span.end_ms,
                contexts: contexts.clone(),
                name: name.to_owned(),
                value,
                about: Some(about.clone()),
            };
            metrics.push(event(DURATION_METRIC, span.duration_ms));
            if span.error {
                metrics.push(event(ERROR_METRIC, 1.0));
            }
        }
    }
    Ok((metrics, tally))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use axum::http::StatusCode;

    use axum::http::{HeaderValue, header};

    use crate::access::SdkKeyKind;

    use super::*;
    use crate::delivery::{DeliveryConfig, SdkAccess};
    use crate::tasks::Tasks;

    #[tokio::test]
    async fn a_relay_answers_404_pointing_at_serve() {
        let access = SdkAccess {
            key_id: "k1".into(),
            project: "default".into(),
            env: "production".into(),
            kind: SdkKeyKind::Server,
            events_token: String::new(),
        };
        let keys = HashMap::from([("sys_test".to_owned(), access)]);
        let relay = Delivery::for_relay(keys, DeliveryConfig::default(), Tasks::default());
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("sys_test"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let response = traces(State(relay), headers, Bytes::new()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("switchyard serve"), "{message}");
    }
}
