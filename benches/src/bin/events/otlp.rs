//! The OTLP requests the events benchmark posts to `/v1/traces`.

use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event as SpanEvent, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::{FLAGS, now_ms};

/// What the OpenTelemetry SDKs' batch span processors send at most per request by default.
pub(crate) const SPANS_PER_REQUEST: usize = 512;
/// Spans `2k` and `2k + 1` (`on` and `off`) have status ERROR when `k` is a multiple of this.
const ERROR_PAIR_EVERY: usize = 20;
pub(crate) const ERRORS_PER_REQUEST: usize = 2 * (SPANS_PER_REQUEST / 2).div_ceil(ERROR_PAIR_EVERY);
/// Span and trace ids, unique in the run.
static NEXT_SPAN: AtomicU64 = AtomicU64::new(1);

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// An OTLP request, gzipped protobuf: `SPANS_PER_REQUEST` server spans of a checkout service,
/// each with the `feature_flag.evaluation` event OpenFeature's tracing hooks add: flag
/// `flag-{i % FLAGS}`, variant `on` for even `i` (as [`crate::batch`] exposes), context id
/// `{contexts}-{i}`. Durations 5–204 ms; `ERRORS_PER_REQUEST` errors, as many `on` as `off`.
pub(crate) fn otlp_request(contexts: &str) -> Vec<u8> {
    let now_ns = now_ms() as u64 * 1_000_000;
    let spans = (0..SPANS_PER_REQUEST)
        .map(|i| {
            let duration_ns = (5 + (i * 7) % 200) as u64 * 1_000_000;
            let start = now_ns - duration_ns;
            let id = NEXT_SPAN.fetch_add(1, Ordering::Relaxed);
            let mut trace_id = id.to_be_bytes().to_vec();
            trace_id.extend(id.to_le_bytes());
            let evaluation = SpanEvent {
                time_unix_nano: start + 200_000,
                name: "feature_flag.evaluation".into(),
                attributes: vec![
                    string("feature_flag.key", &format!("flag-{}", i % FLAGS)),
                    string(
                        "feature_flag.result.variant",
                        if i % 2 == 0 { "on" } else { "off" },
                    ),
                    string("feature_flag.result.reason", "targeting_match"),
                    string("feature_flag.context.id", &format!("{contexts}-{i}")),
                    string(
                        "feature_flag.provider.name",
                        "OpenFeature Remote Evaluation Protocol Provider",
                    ),
                ],
                ..SpanEvent::default()
            };
            let code = match (i / 2) % ERROR_PAIR_EVERY == 0 {
                true => StatusCode::Error,
                false => StatusCode::Unset,
            };
            Span {
                trace_id,
                span_id: id.to_be_bytes().to_vec(),
                name: "POST /checkout".into(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: now_ns,
                attributes: vec![
                    string("http.request.method", "POST"),
                    string("http.route", "/checkout"),
                ],
                events: vec![evaluation],
                status: Some(Status {
                    code: code as i32,
                    message: String::new(),
                }),
                ..Span::default()
            }
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "checkout")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "checkout".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    std::io::Write::write_all(&mut gzip, &request.encode_to_vec()).unwrap();
    gzip.finish().unwrap()
}
