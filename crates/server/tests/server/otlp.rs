//! OpenTelemetry trace intake (`POST /v1/traces`): spans carrying the OpenFeature
//! `feature_flag.evaluation` event reach a running release's cohorts — through the context's
//! OFREP exposures when the span names a context, through the variant alone when it
//! identifies the cohort, and reported unattributed otherwise — in protobuf, JSON and gzip;
//! bad input is refused whole; a flood is turned away with `Retry-After`.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::PROD;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as OtelValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as SpanStatus;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_server::delivery::MAX_CONCURRENT_BATCHES;
use switchyard_store::events::StageCohorts;
use switchyard_testkit::server::{DeliveryConfig, GuardConfig, SdkKeyKind, TestServer, wait_for};

switchyard_testkit::backend_tests! {
    sqlite: [
        spans_reach_the_release_cohorts,
        context_ids_follow_their_exposures_and_ambiguous_spans_are_reported,
        bad_input_is_refused_whole,
        a_flood_is_turned_away_and_nothing_accepted_is_lost,
    ],
    postgres: [
        spans_reach_the_release_cohorts,
        context_ids_follow_their_exposures_and_ambiguous_spans_are_reported,
    ],
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

async fn start(url: &str) -> TestServer {
    start_flushing_every(url, Duration::from_millis(50)).await
}

/// A server that writes OFREP's recorded evaluations every `events_flush`.
async fn start_flushing_every(url: &str, events_flush: Duration) -> TestServer {
    let server = TestServer::in_process(url)
        // The guard must not end the release while the test reads its cohorts.
        .guard(GuardConfig {
            interval: Duration::from_secs(3600),
        })
        .delivery(DeliveryConfig {
            events_flush,
            ..DeliveryConfig::default()
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    server
}

/// A boolean flag, on, serving `off` to everyone, with a release of `on` to 20 % (and an
/// audience, the `staff` segment, when asked); the release's first stage key.
async fn released_flag(server: &TestServer, key: &str, audience: bool) -> String {
    server.boolean_flag_serving_off(key).await;
    let mut release = json!({
        "flag": key, "variation": "on",
        "stages": [{"percent": 20, "min_bake_s": 3600}],
        "guardrails": [{"metric": "span.error", "kind": "bad_events"},
                       {"metric": "span.duration_ms", "kind": "mean"}],
    });
    if audience {
        server
            .admin_post(
                &format!("{PROD}/segments"),
                json!({"key": "staff", "included": [{"kind": "user", "values": ["alice"]}]}),
            )
            .await;
        release["audience"] = json!("staff");
    }
    let started = server
        .admin_post(&format!("{PROD}/releases"), release)
        .await;
    assert_eq!(started["state"], "running", "{started}");
    format!("{}.0", started["id"].as_str().unwrap())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(OtelValue::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// A span of `millis` that evaluated `flag` to `variant` (for `context`, when given), failed
/// or not, the way the OpenFeature hooks report it.
fn span(flag: &str, variant: &str, context: Option<&str>, millis: u64, failed: bool) -> Span {
    let mut attributes = vec![
        text("feature_flag.key", flag),
        text("feature_flag.result.variant", variant),
        text("feature_flag.provider.name", "OFREP"),
    ];
    if let Some(context) = context {
        attributes.push(text("feature_flag.context.id", context));
    }
    let end = now_ns();
    Span {
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        name: "GET /checkout".into(),
        start_time_unix_nano: end - millis * 1_000_000,
        end_time_unix_nano: end,
        events: vec![Event {
            name: "feature_flag.evaluation".into(),
            attributes,
            ..Event::default()
        }],
        status: failed.then(|| Status {
            code: SpanStatus::Error as i32,
            message: "boom".into(),
        }),
        ..Span::default()
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Posts `body` to `/v1/traces` as `content_type` (gzipped when asked) with `key` in the
/// `Authorization` header, as `OTEL_EXPORTER_OTLP_HEADERS=authorization=KEY` sends it.
async fn post(
    server: &TestServer,
    key: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
    gzipped: bool,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/traces", server.base))
        .header("content-type", content_type);
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    if let Some(key) = key {
        request = request.header("authorization", key);
    }
    request.body(body).send().await.unwrap()
}

/// The partial success of a protobuf answer (`None`: everything attributed).
async fn protobuf_answer(response: reqwest::Response) -> Option<(i64, String)> {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let bytes = response.bytes().await.unwrap();
    let answer = ExportTraceServiceResponse::decode(bytes).unwrap();
    answer
        .partial_success
        .map(|p| (p.rejected_spans, p.error_message))
}

async fn cohorts(server: &TestServer, flag: &str, stage: &str) -> StageCohorts {
    let state = server.state().unwrap();
    state
        .store
        .stage_cohorts("default", "production", flag, stage)
        .await
        .unwrap()
}

/// (count, sum) of `metric` in `cohort` of the stage.
fn moments(cohorts: &StageCohorts, metric: &str, cohort: &str) -> (i64, f64) {
    cohorts
        .metrics
        .get(&(metric.to_owned(), cohort.to_owned()))
        .map_or((0, 0.0), |m| (m.count, m.sum))
}

/// metric → variation → count, from the flag's metrics query.
async fn variation_counts(server: &TestServer, flag: &str) -> Vec<(String, String, i64)> {
    let metrics = server
        .admin_get(&format!("{PROD}/flags/{flag}/metrics"))
        .await;
    let mut rows: Vec<(String, String, i64)> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().unwrap().to_owned(),
                m["variation"].as_str().unwrap().to_owned(),
                m["count"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Without a context id, a variant that only one cohort can be served lands in that cohort.
async fn spans_reach_the_release_cohorts(url: String) {
    let server = start(&url).await;
    let stage = released_flag(&server, "new-checkout", false).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;

    let treated_failing = (0..3).map(|_| span("new-checkout", "on", None, 120, true));
    let control_fine = (0..2).map(|_| span("new-checkout", "off", None, 40, false));
    let mut spans: Vec<Span> = treated_failing.chain(control_fine).collect();
    // A span about no flag is skipped.
    spans.push(Span {
        events: Vec::new(),
        ..span("new-checkout", "on", None, 1, true)
    });
    let body = export(spans).encode_to_vec();
    let answer = protobuf_answer(post(&server, Some(&key), PROTOBUF, body, false).await).await;
    assert_eq!(answer, None, "every span about the flag was attributed");

    let stage_cohorts = cohorts(&server, "new-checkout", &stage).await;
    assert_eq!(moments(&stage_cohorts, "span.error", "treated"), (3, 3.0));
    assert_eq!(moments(&stage_cohorts, "span.error", "control"), (0, 0.0));
    let (count, sum) = moments(&stage_cohorts, "span.duration_ms", "treated");
    assert_eq!(count, 3);
    assert!((sum - 360.0).abs() < 1e-6, "{sum}");
    let (count, sum) = moments(&stage_cohorts, "span.duration_ms", "control");
    assert_eq!(count, 2);
    assert!((sum - 80.0).abs() < 1e-6, "{sum}");
    assert_eq!(
        variation_counts(&server, "new-checkout").await,
        vec![
            ("span.duration_ms".into(), "off".into(), 2),
            ("span.duration_ms".into(), "on".into(), 3),
            ("span.error".into(), "on".into(), 3),
        ]
    );

    // The same as OTLP JSON, gzipped: the JSON answer, and the counts grow.
    let json_body = serde_json::to_vec(&export(vec![span("new-checkout", "on", None, 10, true)]));
    let json_body = gzip(&json_body.unwrap());
    let response = post(&server, Some(&key), JSON, json_body.clone(), true).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], JSON);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    let stage_cohorts = cohorts(&server, "new-checkout", &stage).await;
    assert_eq!(moments(&stage_cohorts, "span.error", "treated"), (4, 4.0));
    // An exporter's retry of an export that was written (its answer lost) counts once.
    let response = post(&server, Some(&key), JSON, json_body, true).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stage_cohorts = cohorts(&server, "new-checkout", &stage).await;
    assert_eq!(moments(&stage_cohorts, "span.error", "treated"), (4, 4.0));

    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "switchyard_otlp_spans_total{outcome=\"attributed\"} 6",
        "switchyard_otlp_spans_total{outcome=\"no_flag\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    server.stop().await;
}

/// With an audience, the target variation is served outside the cohorts too: a span naming a
/// context follows that context's OFREP exposure, and one without a context is unattributed.
/// The server writes what OFREP recorded only once an hour here: the export itself makes the
/// exposure it needs current.
async fn context_ids_follow_their_exposures_and_ambiguous_spans_are_reported(url: String) {
    let server = start_flushing_every(&url, Duration::from_secs(3600)).await;
    let stage = released_flag(&server, "new-search", true).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;

    // Users evaluate over OFREP (its `targetingKey` is a `user` key) until one is treated.
    let treated = wait_for("an OFREP user in the treated cohort", 20, || async {
        for i in 0..200 {
            let user = format!("user-{i}");
            let answer: Value = reqwest::Client::new()
                .post(format!(
                    "{}/ofrep/v1/evaluate/flags/new-search",
                    server.base
                ))
                .bearer_auth(&key)
                .json(&json!({"context": {"targetingKey": user}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if answer["variant"] == "on" {
                return Some(user);
            }
        }
        None
    })
    .await;
    let before = cohorts(&server, "new-search", &stage).await;
    assert_eq!(
        before.contexts.get("treated"),
        None,
        "not written yet: {before:?}"
    );

    let spans = vec![
        span("new-search", "on", Some(&treated), 200, true),
        span("new-search", "on", None, 100, true),
        // The control variant is still unambiguous without a context.
        span("new-search", "off", None, 50, false),
    ];
    let json_body = serde_json::to_vec(&export(spans)).unwrap();
    let response = post(&server, Some(&key), JSON, json_body, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], 0, "{answer}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("1 of 3 flag evaluations"),
        "{answer}"
    );

    let stage_cohorts = cohorts(&server, "new-search", &stage).await;
    assert_eq!(moments(&stage_cohorts, "span.error", "treated"), (1, 1.0));
    assert_eq!(moments(&stage_cohorts, "span.duration_ms", "treated").0, 1);
    assert_eq!(moments(&stage_cohorts, "span.duration_ms", "control").0, 1);
    assert_eq!(moments(&stage_cohorts, "span.error", "audience"), (0, 0.0));
    // Every span still counts toward the variation it was served.
    assert_eq!(
        variation_counts(&server, "new-search").await,
        vec![
            ("span.duration_ms".into(), "off".into(), 1),
            ("span.duration_ms".into(), "on".into(), 2),
            ("span.error".into(), "on".into(), 2),
        ]
    );
    server.stop().await;
}

async fn bad_input_is_refused_whole(url: String) {
    let server = start(&url).await;
    let stage = released_flag(&server, "new-checkout", false).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;
    let good = || export(vec![span("new-checkout", "on", None, 5, true)]).encode_to_vec();
    let error = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
        (status, body["error"].clone())
    };

    let (status, _) = error(post(&server, None, PROTOBUF, good(), false).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = error(post(&server, Some("sys_nope"), PROTOBUF, good(), false).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refused = post(&server, Some(&client_key), PROTOBUF, good(), false).await;
    let (status, body) = error(refused).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["field"], "Authorization", "{body}");
    let (status, body) = error(post(&server, Some(&key), "text/plain", good(), false).await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["field"], "Content-Type");

    // Malformed protobuf, JSON and gzip.
    let garbage = b"\xff\xff\xff\xff not protobuf".to_vec();
    let (status, _) = error(post(&server, Some(&key), PROTOBUF, garbage, false).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let not_json = b"{\"resourceSpans\": [".to_vec();
    let (status, _) = error(post(&server, Some(&key), JSON, not_json, false).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = error(post(&server, Some(&key), PROTOBUF, good(), true).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not gzip");
    // Too large: compressed over 1 MiB, or decoding past 16 MiB.
    let huge = vec![0u8; 1024 * 1024 + 1];
    let response = post(&server, Some(&key), PROTOBUF, huge, false).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bomb = gzip(&vec![0u8; 17 * 1024 * 1024]);
    let (status, _) = error(post(&server, Some(&key), PROTOBUF, bomb, true).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // An unknown flag in the fourth span's second event: 422 naming it, nothing stored (the
    // first three spans are fine).
    let mut spans: Vec<Span> = (0..3)
        .map(|_| span("new-checkout", "on", None, 5, true))
        .collect();
    let mut fourth = span("new-checkout", "on", None, 5, true);
    fourth
        .events
        .push(span("no-such-flag", "on", None, 5, true).events.remove(0));
    spans.push(fourth);
    let body = serde_json::to_vec(&export(spans)).unwrap();
    let (status, body) = error(post(&server, Some(&key), JSON, body, false).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["field"],
        "resourceSpans[0].scopeSpans[0].spans[3].events[1].attributes.feature_flag.key"
    );
    // A malformed attribute: the flag key as a number.
    let mut numbered = span("new-checkout", "on", None, 5, true);
    numbered.events[0].attributes[0].value = Some(AnyValue {
        value: Some(OtelValue::IntValue(7)),
    });
    let body = export(vec![numbered]).encode_to_vec();
    let (status, body) = error(post(&server, Some(&key), PROTOBUF, body, false).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["field"],
        "resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes.feature_flag.key"
    );
    assert_eq!(
        cohorts(&server, "new-checkout", &stage).await.metrics,
        Default::default(),
        "nothing of a refused export is stored"
    );
    assert_eq!(variation_counts(&server, "new-checkout").await, vec![]);

    // A variant the flag does not have (an error default): accepted, reported, not counted.
    let body = export(vec![span("new-checkout", "maybe", Some("u1"), 5, true)]).encode_to_vec();
    let answer = protobuf_answer(post(&server, Some(&key), PROTOBUF, body, false).await).await;
    let (rejected, message) = answer.expect("a partial success");
    assert_eq!(rejected, 0);
    assert!(message.starts_with("1 of 1 flag evaluations"), "{message}");
    assert_eq!(variation_counts(&server, "new-checkout").await, vec![]);

    // `X-API-Key` and `Bearer` work too.
    for (name, value) in [
        ("x-api-key", key.clone()),
        ("authorization", format!("Bearer {key}")),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/traces", server.base))
            .header("content-type", PROTOBUF)
            .header(name, value)
            .body(good())
            .send()
            .await
            .unwrap();
        assert_eq!(protobuf_answer(response).await, None);
    }
    assert_eq!(
        moments(
            &cohorts(&server, "new-checkout", &stage).await,
            "span.error",
            "treated"
        ),
        (2, 2.0)
    );

    // An evaluation the application itself reports as failed because the flag is missing (the
    // hooks' `error.type`, no variant) is reported, not refused: the export's other spans count.
    let mut missing = span("chekout-typo", "on", Some("u1"), 5, true);
    let attributes = &mut missing.events[0].attributes;
    attributes.retain(|kv| kv.key != "feature_flag.result.variant");
    attributes.push(text("error.type", "flag_not_found"));
    let body = export(vec![span("new-checkout", "on", None, 5, true), missing]).encode_to_vec();
    let answer = protobuf_answer(post(&server, Some(&key), PROTOBUF, body, false).await).await;
    let (rejected, message) = answer.expect("a partial success");
    assert_eq!(rejected, 0);
    assert!(message.starts_with("1 of 2 flag evaluations"), "{message}");
    assert_eq!(
        moments(
            &cohorts(&server, "new-checkout", &stage).await,
            "span.error",
            "treated"
        ),
        (3, 3.0)
    );
    server.stop().await;
}

/// Exports beyond the admission bound are turned away with `429` and `Retry-After`; of a flood,
/// every export answered `200` is stored whole.
async fn a_flood_is_turned_away_and_nothing_accepted_is_lost(url: String) {
    let server = start(&url).await;
    let stage = released_flag(&server, "new-checkout", false).await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    const SPANS: usize = 2_000;
    // Sixteen different exports (the same bytes twice would be one export retried).
    let body = |n: usize| {
        gzip(
            &export(
                (0..SPANS)
                    .map(|i| span("new-checkout", "on", Some(&format!("u{n}-{i}")), 5, false))
                    .collect(),
            )
            .encode_to_vec(),
        )
    };
    // Every slot taken, as by exports still being written: whether the server turns a flood
    // away must not hang on how fast it writes on this machine.
    let state = server.state().expect("an in-process server");
    let mut held: Vec<_> = (0..MAX_CONCURRENT_BATCHES)
        .map(|_| state.delivery.intake.admit().expect("a free slot"))
        .collect();
    for n in 0..2 {
        let refused = post(&server, Some(&key), PROTOBUF, body(n), true).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "1");
    }

    // One slot left for sixteen exports at once (the two refused above retried among them).
    held.pop();
    let (mut accepted, mut refused) = (0, 0);
    let requests = (0..16).map(|n| post(&server, Some(&key), PROTOBUF, body(n), true));
    for response in futures_util::future::join_all(requests).await {
        match response.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(response.headers()["retry-after"], "1");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(accepted >= 1, "{accepted} accepted, {refused} refused");
    drop(held);
    let stored = moments(
        &cohorts(&server, "new-checkout", &stage).await,
        "span.duration_ms",
        "treated",
    );
    assert_eq!(stored.0, (accepted * SPANS) as i64);
    server.stop().await;
}
