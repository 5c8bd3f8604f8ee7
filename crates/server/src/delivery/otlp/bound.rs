//! How many messages an export holds, counted before it is decoded. Decoding allocates a
//! struct of about a hundred bytes or more per message, and an empty message is two bytes of
//! protobuf (or of JSON), so a small gzipped body could otherwise expand to a gigabyte in
//! memory. Counting walks the bytes and allocates nothing.

use crate::error::{ApiError, Code};

/// Messages (spans, events, attributes, values …) one export may hold: a 512-span export with
/// a dozen attributes per span holds about 10,000.
pub(super) const MAX_MESSAGES: usize = 100_000;

/// The OTLP trace messages whose fields are messages: which field numbers of a message of
/// this kind are (repeated) messages of which kind. Other fields are skipped unread.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

impl Kind {
    fn child(self, field: u64) -> Option<Kind> {
        Some(match (self, field) {
            (Kind::Request, 1) => Kind::ResourceSpans,
            (Kind::ResourceSpans, 1) => Kind::Resource,
            (Kind::ResourceSpans, 2) => Kind::ScopeSpans,
            (Kind::Resource, 1)
            | (Kind::Scope, 3)
            | (Kind::Span, 9)
            | (Kind::Event, 3)
            | (Kind::Link, 5)
            | (Kind::KeyValueList, 1) => Kind::KeyValue,
            (Kind::ScopeSpans, 1) => Kind::Scope,
            (Kind::ScopeSpans, 2) => Kind::Span,
            (Kind::Span, 11) => Kind::Event,
            (Kind::Span, 13) => Kind::Link,
            (Kind::KeyValue, 2) | (Kind::ArrayValue, 1) => Kind::AnyValue,
            (Kind::AnyValue, 5) => Kind::ArrayValue,
            (Kind::AnyValue, 6) => Kind::KeyValueList,
            _ => return None,
        })
    }
}

/// `413` when the protobuf export in `bytes` holds more than [`MAX_MESSAGES`] messages.
/// Malformed bytes are left to the decoder to refuse.
pub(super) fn protobuf(bytes: &[u8]) -> Result<(), ApiError> {
    let mut count = 0;
    match walk(bytes, Kind::Request, &mut count, 0) {
        Err(Over) => Err(too_many()),
        Ok(()) => Ok(()),
    }
}

/// `413` when the JSON export in `bytes` holds more than [`MAX_MESSAGES`] objects (every `{`
/// is counted, those inside strings too: an over-count only refuses sooner).
pub(super) fn json(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().filter(|&&b| b == b'{').count() > MAX_MESSAGES {
        return Err(too_many());
    }
    Ok(())
}

fn too_many() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!("more than {MAX_MESSAGES} OTLP messages in one export; send smaller batches"),
    )
}

/// The count went over the bound.
struct Over;

/// Nesting deeper than this is left to the decoder (prost refuses past 100 levels).
const MAX_DEPTH: usize = 100;

/// Counts the messages inside one message of `kind`. Stops quietly at malformed bytes.
fn walk(mut bytes: &[u8], kind: Kind, count: &mut usize, depth: usize) -> Result<(), Over> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    while !bytes.is_empty() {
        let Some(key) = varint(&mut bytes) else {
            return Ok(());
        };
        let skip = match key & 7 {
            0 => {
                if varint(&mut bytes).is_none() {
                    return Ok(());
                }
                0
            }
            1 => 8,
            5 => 4,
            2 => {
                let Some(len) = varint(&mut bytes).and_then(|n| usize::try_from(n).ok()) else {
                    return Ok(());
                };
                let Some(inner) = bytes.get(..len) else {
                    return Ok(());
                };
                if let Some(child) = kind.child(key >> 3) {
                    *count += 1;
                    if *count > MAX_MESSAGES {
                        return Err(Over);
                    }
                    walk(inner, child, count, depth + 1)?;
                }
                len
            }
            _ => return Ok(()),
        };
        let Some(rest) = bytes.get(skip..) else {
            return Ok(());
        };
        bytes = rest;
    }
    Ok(())
}

/// Reads a base-128 varint off the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    use super::*;

    fn attribute() -> KeyValue {
        KeyValue {
            key: "feature_flag.key".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("checkout".into())),
            }),
            ..KeyValue::default()
        }
    }

    /// `spans` spans of one event with one attribute each.
    fn export(spans: usize) -> Vec<u8> {
        let span = Span {
            events: vec![Event {
                attributes: vec![attribute()],
                ..Event::default()
            }],
            ..Span::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn counts_every_nested_message() {
        // Per span: the span, its event, the attribute and its value.
        let mut count = 0;
        assert!(walk(&export(10), Kind::Request, &mut count, 0).is_ok());
        assert_eq!(count, 2 + 10 * 4);
        assert!(protobuf(&export(MAX_MESSAGES / 4 - 1)).is_ok());
        assert_eq!(
            protobuf(&export(MAX_MESSAGES / 4)).unwrap_err().code,
            Code::PayloadTooLarge
        );
    }

    #[test]
    fn a_flood_of_empty_messages_is_refused_unread() {
        // 16 MiB of empty resource spans: about 880 MB once decoded.
        let empties = [0x0a, 0x00].repeat(8 * 1024 * 1024);
        assert_eq!(protobuf(&empties).unwrap_err().code, Code::PayloadTooLarge);
        let objects = b"{}".repeat(MAX_MESSAGES + 1);
        assert_eq!(json(&objects).unwrap_err().code, Code::PayloadTooLarge);
        assert!(json(&b"{}".repeat(MAX_MESSAGES)).is_ok());
    }

    #[test]
    fn malformed_bytes_stop_the_count_without_panicking() {
        for bytes in [
            &[0x0a, 0xff][..],
            &[0x0a, 0x05, 0x01],
            &[0xff; 11],
            &[0x0b],
            &[0x09],
        ] {
            assert!(protobuf(bytes).is_ok());
        }
    }
}
