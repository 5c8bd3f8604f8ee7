//! Events end to end: an application using the Rust SDK evaluates and tracks, and the numbers
//! appear through the query API; the intake's refusals write nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::Duration;

use crate::PROD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_testkit::server::{DeliveryConfig, SdkKeyKind, TestServer, wait_for};

switchyard_testkit::backend_tests! {
    sqlite: [
        sdk_events_reach_the_query_api,
        intake_refuses_whole_batches,
        ofrep_evaluations_are_recorded,
        a_metric_right_after_an_ofrep_answer_finds_its_cohort,
    ],
    postgres: [
        sdk_events_reach_the_query_api,
        intake_refuses_whole_batches,
        ofrep_evaluations_are_recorded,
    ],
}

async fn sdk_events_reach_the_query_api(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(client.is_initialized());

    // 300 evaluations of the 50/50 `limit` flag by 30 users; each user then reports a latency
    // (the user's number) and every third user an error. What each user was served decides
    // its cohort, so the expected statistics come from the SDK's own answers.
    let mut served: BTreeMap<String, String> = BTreeMap::new();
    let mut expected: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
    for round in 0..10 {
        for i in 0..30 {
            let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
            let detail = client.number_detail("limit", &user, -1.0);
            let variation = detail.variation.clone().unwrap();
            served.insert(format!("user-{i}"), variation.clone());
            if round == 9 {
                let latency = f64::from(i + 1);
                client.track("latency_ms", &user, latency);
                let cohort = expected
                    .entry(("latency_ms".into(), variation.clone()))
                    .or_default();
                cohort.0 += 1;
                cohort.1 += latency;
                if i % 3 == 0 {
                    client.track("error", &user, 1.0);
                    let cohort = expected.entry(("error".into(), variation)).or_default();
                    cohort.0 += 1;
                    cohort.1 += 1.0;
                }
            }
        }
    }
    // Sticky: every user got the same variation all ten times, and both variations occur.
    let variations: BTreeSet<&String> = served.values().collect();
    assert_eq!(variations.len(), 2, "{served:?}");
    client.close().await;

    let query = |what: &str| format!("{PROD}/flags/limit/{what}");
    let series = server.admin_get(&query("evaluations")).await;
    let mut per_variation: BTreeMap<String, i64> = BTreeMap::new();
    for point in series.as_array().unwrap() {
        assert_eq!(point["reason"], "FALLTHROUGH", "{point}");
        *per_variation
            .entry(point["variation"].as_str().unwrap().to_owned())
            .or_default() += point["count"].as_i64().unwrap();
    }
    let mut expected_counts: BTreeMap<String, i64> = BTreeMap::new();
    for variation in served.values() {
        *expected_counts.entry(variation.clone()).or_default() += 10;
    }
    assert_eq!(per_variation, expected_counts);

    let exposures = server.admin_get(&query("exposures?limit=1000")).await;
    let exposed = exposed_users(&exposures);
    assert_eq!(exposed, served);
    let low = server.admin_get(&query("exposures?variation=low")).await;
    assert!(
        low.as_array()
            .unwrap()
            .iter()
            .all(|e| e["variation"] == "low")
    );

    let metrics = server.admin_get(&query("metrics")).await;
    let got: BTreeMap<(String, String), (i64, f64)> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                (
                    m["metric"].as_str().unwrap().to_owned(),
                    m["variation"].as_str().unwrap().to_owned(),
                ),
                (m["count"].as_i64().unwrap(), m["sum"].as_f64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    server.stop().await;
}

/// An exposures answer as user key → variation (every exposed context is a user here).
fn exposed_users(exposures: &Value) -> BTreeMap<String, String> {
    exposures
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "user", "{e}");
            (
                e["key"].as_str().unwrap().to_owned(),
                e["variation"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn gzip(body: &Value) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body.to_string().as_bytes()).unwrap();
    encoder.finish().unwrap()
}

async fn intake_refuses_whole_batches(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Client).await;
    let post = |body: Vec<u8>, key: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(format!("{}/events/v1/bulk", server.base))
            .header("content-encoding", "gzip")
            .body(body);
        if let Some(key) = key {
            request = request.header("authorization", key);
        }
        request.send()
    };
    // Recent times: exposures older than the retention are pruned after any accepted batch.
    let recent_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let exposure = |flag: &str| {
        json!({"type": "exposure", "at_ms": recent_ms, "flag": flag, "version": 1,
               "variation": "on", "reason": "FALLTHROUGH", "contexts": [{"kind": "user", "key": "u1"}]})
    };
    let batch = |events: Vec<Value>| {
        json!({"format": 1, "sdk": "test", "start_ms": recent_ms - 1000, "end_ms": recent_ms,
               "summaries": [{"flag": "checkout", "version": 1, "variation": "on", "reason": "FALLTHROUGH", "count": 5}],
               "events": events})
    };

    let refused = post(gzip(&batch(vec![])), None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // One bad event at the end: 400 naming it, and none of the batch is stored.
    let bad_metric = json!({"type": "metric", "at_ms": 1, "name": "", "value": 1.0,
                            "contexts": [{"kind": "user", "key": "u1"}]});
    let response = post(
        gzip(&batch(vec![exposure("checkout"), bad_metric])),
        Some(&key),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "events[1].name", "{body}");
    let wide = "?from=0&to=9999999999999";
    let series = server
        .admin_get(&format!("{PROD}/flags/checkout/evaluations{wide}"))
        .await;
    assert_eq!(series, json!([]), "nothing of a refused batch is written");

    let response = post(b"not gzip".to_vec(), Some(&key)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut wrong_format = batch(vec![]);
    wrong_format["format"] = json!(2);
    let response = post(gzip(&wrong_format), Some(&key)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let too_many = batch((0..10_001).map(|_| exposure("checkout")).collect());
    let response = post(gzip(&too_many), Some(&key)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A good batch (with a client key) is accepted whole.
    let response = post(gzip(&batch(vec![exposure("checkout")])), Some(&key))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let series = server
        .admin_get(&format!("{PROD}/flags/checkout/evaluations{wide}"))
        .await;
    assert_eq!(series[0]["count"], 5, "{series}");
    let exposures = server
        .admin_get(&format!("{PROD}/flags/checkout/exposures{wide}"))
        .await;
    assert_eq!(exposures.as_array().unwrap().len(), 1);

    // Reading needs a token that may read the flag.
    let (status, _) = server
        .call(
            None,
            Method::GET,
            &format!("{PROD}/flags/checkout/exposures"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Remote evaluations count like local ones: each OFREP answer is summarised and each first
/// exposure recorded, written to the store by the server itself.
async fn ofrep_evaluations_are_recorded(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(DeliveryConfig {
            events_flush: Duration::from_millis(50),
            ..DeliveryConfig::default()
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let ofrep = |path: &str, user: &str| {
        reqwest::Client::new()
            .post(format!("{}/ofrep/v1/evaluate/flags{path}", server.base))
            .bearer_auth(&key)
            .json(&json!({"context": {"targetingKey": user}}))
            .send()
    };
    let mut one = String::new();
    for _ in 0..3 {
        let answer: Value = ofrep("/limit", "user-1")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        one = answer["variant"].as_str().unwrap().to_owned();
    }
    let bulk: Value = ofrep("", "user-2").await.unwrap().json().await.unwrap();
    let in_bulk = bulk["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "limit")
        .unwrap()["variant"]
        .as_str()
        .unwrap()
        .to_owned();

    let exposures = format!("{PROD}/flags/limit/exposures");
    let exposed = wait_for("both users' exposures to be written", 20, || async {
        let exposed = server.admin_get(&exposures).await;
        (exposed.as_array().unwrap().len() >= 2).then_some(exposed)
    })
    .await;
    let exposed = exposed_users(&exposed);
    assert_eq!(
        exposed,
        BTreeMap::from([("user-1".to_owned(), one), ("user-2".to_owned(), in_bulk)])
    );
    // Counts are written in the same batch as the exposures they came with.
    let series = server
        .admin_get(&format!("{PROD}/flags/limit/evaluations"))
        .await;
    let total: i64 = series
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4, "{series}");
    server.stop().await;
}

/// A metric tracked right after a remote evaluation counts toward the variation OFREP
/// answered, though the server's own writer has not yet stored that exposure: the intake writes
/// what OFREP recorded before it counts metric events.
async fn a_metric_right_after_an_ofrep_answer_finds_its_cohort(url: String) {
    let server = TestServer::in_process(&url)
        .delivery(DeliveryConfig {
            // Far beyond the test: only the intake itself can write the exposure in time.
            events_flush: Duration::from_secs(3600),
            ..DeliveryConfig::default()
        })
        .start()
        .await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{}/ofrep/v1/evaluate/flags/limit", server.base))
        .bearer_auth(&key)
        .json(&json!({"context": {"targetingKey": "user-7"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let variant = answer["variant"].as_str().unwrap().to_owned();
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let posted: Value = http
        .post(format!("{}/events/v1/bulk", server.base))
        .bearer_auth(&key)
        .json(
            &json!({"format": 1, "sdk": "test", "start_ms": at_ms, "end_ms": at_ms,
            "summaries": [], "events": [{"type": "metric", "at_ms": at_ms,
            "contexts": [{"kind": "user", "key": "user-7"}], "name": "latency_ms", "value": 5.0}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["attributed_metrics"], 1, "{posted}");
    let metrics = server
        .admin_get(&format!("{PROD}/flags/limit/metrics"))
        .await;
    assert!(
        metrics
            .to_string()
            .contains(&format!("\"variation\":\"{variant}\"")),
        "{metrics}"
    );
    server.stop().await;
}
