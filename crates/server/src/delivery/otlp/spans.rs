//! What spans say about flag evaluations, read from an OTLP export request.
//!
//! A span reports an evaluation with a span event named `feature_flag.evaluation` (current
//! semantic conventions; the OpenFeature hooks' span-event hooks) or `feature_flag` (earlier
//! ones), or with the same attributes on the span itself (the JavaScript `SpanHook`, whose
//! span *is* the evaluation). The attributes:
//!
//! | what | attribute | earlier name |
//! |---|---|---|
//! | flag key | `feature_flag.key` | |
//! | variant | `feature_flag.result.variant` | `feature_flag.variant` |
//! | context id | `feature_flag.context.id` | |
//!
//! A span about no flag is skipped and counted. Spans are checked whole before anything is
//! kept: a malformed attribute or time is an error naming its field.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::delivery::MAX_BATCH_ITEMS;
use crate::error::{ApiError, Code};

/// The span event of the current semantic conventions.
pub(super) const EVALUATION_EVENT: &str = "feature_flag.evaluation";
/// The span event of earlier semantic conventions.
pub(super) const LEGACY_EVENT: &str = "feature_flag";
pub(super) const KEY: &str = "feature_flag.key";
pub(super) const VARIANT: &str = "feature_flag.result.variant";
pub(super) const LEGACY_VARIANT: &str = "feature_flag.variant";
pub(super) const CONTEXT_ID: &str = "feature_flag.context.id";
/// Set by the hooks when the evaluation failed (`flag_not_found`, `type_mismatch` …).
pub(super) const ERROR_TYPE: &str = "error.type";

/// The longest span counted: a longer one is a clock or instrumentation error, and one such
/// value would decide a latency guardrail's mean on its own.
const MAX_SPAN_NANOS: u64 = 24 * 3600 * 1_000_000_000;

/// One flag evaluation a span reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SpanFlag {
    pub(super) flag: String,
    /// Where the flag key was read (`resourceSpans[0].scopeSpans[0].spans[3].events[1]
    /// .attributes.feature_flag.key`), to name it in an error.
    pub(super) field: String,
    pub(super) variant: Option<String>,
    pub(super) context_id: Option<String>,
    /// The application reported the evaluation as failed (`error.type`), so it served the
    /// caller's default, not a variation.
    pub(super) failed: bool,
}

/// A span about at least one flag: its outcome, and the evaluations it reports.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FlagSpan {
    pub(super) end_ms: i64,
    pub(super) duration_ms: f64,
    pub(super) error: bool,
    pub(super) flags: Vec<SpanFlag>,
}

/// Everything a request reports.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Reported {
    pub(super) spans: Vec<FlagSpan>,
    /// Spans about no flag (skipped).
    pub(super) without_flags: u64,
}

impl Reported {
    /// (span, flag) evaluations in all.
    pub(super) fn evaluations(&self) -> usize {
        self.spans.iter().map(|span| span.flags.len()).sum()
    }
}

/// Reads every span of `request`; the first malformed attribute or time is `422` naming it,
/// and more than [`MAX_BATCH_ITEMS`] evaluations is `413`.
pub(super) fn read(request: &ExportTraceServiceRequest) -> Result<Reported, ApiError> {
    let mut reported = Reported::default();
    let mut evaluations = 0;
    for (r, resource) in request.resource_spans.iter().enumerate() {
        for (s, scope) in resource.scope_spans.iter().enumerate() {
            for (i, span) in scope.spans.iter().enumerate() {
                let at = format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                match read_span(span, &at)? {
                    Some(span) => {
                        evaluations += span.flags.len();
                        reported.spans.push(span);
                    }
                    None => reported.without_flags += 1,
                }
                if evaluations > MAX_BATCH_ITEMS {
                    return Err(ApiError::new(
                        Code::PayloadTooLarge,
                        format!(
                            "more than {MAX_BATCH_ITEMS} flag evaluations in one export; \
                             send smaller batches"
                        ),
                    ));
                }
            }
        }
    }
    Ok(reported)
}

fn read_span(span: &Span, at: &str) -> Result<Option<FlagSpan>, ApiError> {
    let mut flags: Vec<SpanFlag> = Vec::new();
    let mut add = |flag: SpanFlag| {
        // A flag evaluated again for the same context in one span is one outcome, not several.
        let seen = flags.iter().any(|f| {
            f.flag == flag.flag && f.variant == flag.variant && f.context_id == flag.context_id
        });
        if !seen {
            flags.push(flag);
        }
    };
    if let Some(flag) = read_attributes(&span.attributes, &format!("{at}.attributes"))? {
        add(flag);
    }
    for (e, event) in span.events.iter().enumerate() {
        if event.name == EVALUATION_EVENT || event.name == LEGACY_EVENT {
            let field = format!("{at}.events[{e}].attributes");
            if let Some(flag) = read_attributes(&event.attributes, &field)? {
                add(flag);
            }
        }
    }
    if flags.is_empty() {
        return Ok(None);
    }
    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
    if start == 0 {
        // Unset: its duration would be decades and swamp a latency guardrail's mean.
        return Err(ApiError::invalid(
            format!("{at}.startTimeUnixNano"),
            "a span about a flag needs a start time",
        ));
    }
    if end == 0 || end < start {
        return Err(ApiError::invalid(
            format!("{at}.endTimeUnixNano"),
            "a span about a flag needs an end time at or after its start",
        ));
    }
    if end - start > MAX_SPAN_NANOS {
        return Err(ApiError::invalid(
            format!("{at}.startTimeUnixNano"),
            "a span about a flag lasts at most 24 hours",
        ));
    }
    let end_ms = i64::try_from(end / 1_000_000)
        .map_err(|_| ApiError::invalid(format!("{at}.endTimeUnixNano"), "out of range"))?;
    let error = span
        .status
        .as_ref()
        .is_some_and(|status| status.code == StatusCode::Error as i32);
    Ok(Some(FlagSpan {
        end_ms,
        duration_ms: (end - start) as f64 / 1e6,
        error,
        flags,
    }))
}

/// The evaluation these attributes describe, if they name a flag.
fn read_attributes(attributes: &[KeyValue], at: &str) -> Result<Option<SpanFlag>, ApiError> {
    let Some(flag) = string(attributes, KEY, at)? else {
        return Ok(None);
    };
    let field = format!("{at}.{KEY}");
    if flag.is_empty() {
        return Err(ApiError::invalid(field, "a flag key must not be empty"));
    }
    let variant = match string(attributes, VARIANT, at)? {
        Some(variant) => Some(variant),
        None => string(attributes, LEGACY_VARIANT, at)?,
    };
    Ok(Some(SpanFlag {
        flag,
        field,
        variant,
        context_id: string(attributes, CONTEXT_ID, at)?.filter(|id| !id.is_empty()),
        failed: attributes.iter().any(|kv| kv.key == ERROR_TYPE),
    }))
}

/// The string attribute `name`, if present; any other type is an error naming it.
fn string(attributes: &[KeyValue], name: &str, at: &str) -> Result<Option<String>, ApiError> {
    let Some(attribute) = attributes.iter().find(|kv| kv.key == name) else {
        return Ok(None);
    };
    match attribute.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(text)) => Ok(Some(text.clone())),
        None => Ok(None),
        Some(_) => Err(ApiError::invalid(
            format!("{at}.{name}"),
            "must be a string value",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    use super::*;

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..KeyValue::default()
        }
    }

    fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
        Event {
            name: name.into(),
            attributes,
            ..Event::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    fn span(events: Vec<Event>) -> Span {
        Span {
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            events,
            ..Span::default()
        }
    }

    #[test]
    fn current_and_earlier_conventions_and_span_attributes_are_read() {
        let current = event(
            EVALUATION_EVENT,
            vec![
                text(KEY, "checkout"),
                text(VARIANT, "on"),
                text(CONTEXT_ID, "u1"),
            ],
        );
        let earlier = event(
            LEGACY_EVENT,
            vec![text(KEY, "banner"), text(LEGACY_VARIANT, "plain")],
        );
        let unrelated = event("exception", vec![text(KEY, "ignored")]);
        let mut failed = span(vec![current.clone(), current, earlier, unrelated]);
        failed.status = Some(Status {
            code: StatusCode::Error as i32,
            ..Status::default()
        });
        let mut evaluation = span(Vec::new());
        evaluation.attributes = vec![text(KEY, "limit"), text(VARIANT, "low")];
        let reported = read(&request(vec![failed, evaluation, span(Vec::new())])).unwrap();
        assert_eq!(reported.without_flags, 1);
        assert_eq!(reported.evaluations(), 3, "the repeated event counts once");
        let first = &reported.spans[0];
        assert!(first.error);
        assert_eq!(first.end_ms, 1_700_000_000_250);
        assert!((first.duration_ms - 250.0).abs() < 1e-9);
        assert_eq!(
            first.flags[0],
            SpanFlag {
                flag: "checkout".into(),
                field: "resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes.\
                        feature_flag.key"
                    .into(),
                variant: Some("on".into()),
                context_id: Some("u1".into()),
                failed: false,
            }
        );
        assert_eq!(first.flags[1].variant.as_deref(), Some("plain"));
        assert_eq!(first.flags[1].context_id, None);
        let second = &reported.spans[1];
        assert!(!second.error);
        assert_eq!(
            second.flags[0].field,
            "resourceSpans[0].scopeSpans[0].spans[1].attributes.feature_flag.key"
        );
    }

    #[test]
    fn malformed_attributes_and_times_name_their_field() {
        let mut number = text(VARIANT, "");
        number.value = Some(AnyValue {
            value: Some(Value::IntValue(3)),
        });
        let bad = span(vec![
            event(EVALUATION_EVENT, vec![text(KEY, "a")]),
            event(EVALUATION_EVENT, vec![text(KEY, "b"), number]),
        ]);
        let error = read(&request(vec![span(Vec::new()), bad])).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some(
                "resourceSpans[0].scopeSpans[0].spans[1].events[1].attributes.\
                 feature_flag.result.variant"
            )
        );
        let mut backwards = span(vec![event(EVALUATION_EVENT, vec![text(KEY, "a")])]);
        backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
        let error = read(&request(vec![backwards])).unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some("resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano")
        );
        // No start time (decades long), or longer than a day: refused, not averaged in.
        for start in [0, 1] {
            let mut untimed = span(vec![event(EVALUATION_EVENT, vec![text(KEY, "a")])]);
            untimed.start_time_unix_nano = start;
            let error = read(&request(vec![untimed])).unwrap_err();
            assert_eq!(
                error.field.as_deref(),
                Some("resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano")
            );
        }
        let empty = span(vec![event(EVALUATION_EVENT, vec![text(KEY, "")])]);
        assert_eq!(
            read(&request(vec![empty])).unwrap_err().code,
            Code::ValidationFailed
        );
    }

    #[test]
    fn too_many_evaluations_are_refused() {
        let many: Vec<Span> = (0..=MAX_BATCH_ITEMS)
            .map(|_| span(vec![event(EVALUATION_EVENT, vec![text(KEY, "a")])]))
            .collect();
        assert_eq!(
            read(&request(many)).unwrap_err().code,
            Code::PayloadTooLarge
        );
    }
}
