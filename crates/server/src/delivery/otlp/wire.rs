//! OTLP/HTTP encodings: a request body (binary protobuf or OTLP JSON, optionally gzipped) in,
//! an `ExportTraceServiceResponse` out in the request's encoding.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use super::bound;
use crate::access::sha256_hex_of;
use crate::delivery::intake::inflate;

use crate::error::ApiError;

/// How a request is encoded, and so its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From `Content-Type`; anything else is [`unsupported`].
    pub(super) fn of(headers: &HeaderMap) -> Option<Encoding> {
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/x-protobuf") => Some(Encoding::Protobuf),
            Some("application/json") => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `415` (in the house error shape) for a body that is neither protobuf nor JSON.
pub(super) fn unsupported() -> Response {
    let mut refused =
        ApiError::bad_request("OTLP/HTTP bodies are application/x-protobuf or application/json")
            .field("Content-Type")
            .into_response();
    *refused.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    refused
}

/// The export request in `body`: `400` when it does not decode, `413` when a gzipped body
/// expands past [`MAX_DECODED_BYTES`] or it holds more than [`bound::MAX_MESSAGES`] messages.
pub(super) fn decode(
    headers: &HeaderMap,
    encoding: Encoding,
    body: &[u8],
) -> Result<Decoded, ApiError> {
    let inflated = inflate(headers, body)?;
    let bytes = &inflated[..];
    let request = match encoding {
        Encoding::Protobuf => {
            bound::protobuf(bytes)?;
            ExportTraceServiceRequest::decode(bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid OTLP protobuf: {e}")))?
        }
        Encoding::Json => {
            bound::json(bytes)?;
            serde_json::from_slice(bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid OTLP JSON: {e}")))?
        }
    };
    Ok(Decoded {
        request,
        digest: sha256_hex_of(bytes),
    })
}

/// A decoded export, and the SHA-256 of its (inflated) bytes: an exporter retries an export
/// with the same bytes, so the digest is the export's batch id.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) request: ExportTraceServiceRequest,
    pub(super) digest: String,
}

/// `200` with an `ExportTraceServiceResponse`; `warning` becomes its partial success (no span
/// rejected, a message to read).
pub(super) fn answer(encoding: Encoding, warning: Option<String>) -> Response {
    let partial_success = warning.map(|error_message| ExportTracePartialSuccess {
        rejected_spans: 0,
        error_message,
    });
    let body = match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse { partial_success }.encode_to_vec(),
        // Written by hand so an absent partial success is `{}`, not `null`.
        Encoding::Json => match partial_success {
            Some(partial) => serde_json::json!({ "partialSuccess": partial }),
            None => serde_json::json!({}),
        }
        .to_string()
        .into_bytes(),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// OTLP JSON as exporters write it by hand: hex ids, enums as integers, 64-bit integers as
    /// strings or numbers, unknown fields ignored.
    #[test]
    fn otlp_json_reads_as_the_specification_writes_it() {
        let body = br#"{"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}}]},
          "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "GET /checkout", "kind": 2, "someFutureField": true,
            "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
            "status": {"code": 2, "message": "boom"},
            "events": [{"name": "feature_flag.evaluation", "timeUnixNano": "1544712660300000000",
              "attributes": [{"key": "feature_flag.key", "value": {"stringValue": "checkout"}},
                             {"key": "feature_flag.version", "value": {"intValue": "3"}}]}]}]}]}]}"#;
        let request = decode(&HeaderMap::new(), Encoding::Json, body)
            .unwrap()
            .request;
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(
            span.span_id,
            vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(span.events[0].attributes[0].key, "feature_flag.key");
    }

    /// What the official Python hook (`openfeature-hooks-opentelemetry` 0.3.1, `TracingHook`)
    /// and OTLP/HTTP exporter (1.45.2, gzip) sent for one failed request that evaluated
    /// `new-checkout` to `on` for `user-1` (captured once; see `testdata/`).
    #[test]
    fn the_python_hooks_export_reads_as_one_failed_evaluation() {
        let body = include_bytes!("testdata/python-tracing-hook.pb.gz");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let request = decode(&headers, Encoding::Protobuf, body).unwrap().request;
        let reported = super::super::spans::read(&request).unwrap();
        assert_eq!(reported.spans.len(), 1);
        let span = &reported.spans[0];
        assert!(span.error);
        let flag = &span.flags[0];
        assert_eq!(flag.flag, "new-checkout");
        assert_eq!(flag.variant.as_deref(), Some("on"));
        assert_eq!(flag.context_id.as_deref(), Some("user-1"));
    }

    #[test]
    fn content_types_pick_the_encoding() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            Encoding::of(&headers)
        };
        assert_eq!(with("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(
            with("application/json; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(with("text/plain"), None);
        assert_eq!(Encoding::of(&HeaderMap::new()), None);
        assert_eq!(unsupported().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
