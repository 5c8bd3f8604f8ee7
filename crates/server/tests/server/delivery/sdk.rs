//! The Rust SDK and its OpenFeature provider against a real server: typed values and details,
//! change listeners, polling, the last-known-good file, and defaults without data.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_engine::hash::native_bucket;
use switchyard_sdk::openfeature::SwitchyardProvider;
use switchyard_sdk::openfeature::open_feature::provider::FeatureProvider;
use switchyard_sdk::openfeature::open_feature::{EvaluationContext, EvaluationReason};
use switchyard_sdk::{Client, DataSource, ErrorKind, Reason, SyncMode};
use switchyard_testkit::server::{SdkKeyKind, TestServer};

use super::{WAIT, quick, toggle, user, wait_until};

pub(super) async fn sdk_client(url: String, dir: &std::path::Path) {
    let server = TestServer::in_process(&url).delivery(quick()).start().await;
    server.seed_delivery_flags().await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let cache = dir.join("last-known-good.json");
    let client = Client::builder(&server.base, &key)
        .cache_file(&cache)
        .build()
        .await;
    assert!(client.is_initialized());
    assert_eq!(client.data_source(), Some(DataSource::Server));
    let de = user("u-1", "DE");
    let us = user("u-2", "US");

    // Typed getters and their details.
    assert!(client.bool_value("checkout", &us, false));
    let banner = client.string_detail("banner", &de, "fallback");
    assert_eq!(banner.value, "hallo");
    assert_eq!(banner.variation.as_deref(), Some("german"));
    assert!(matches!(
        banner.reason,
        Reason::RuleMatch { rule_index: 0, .. }
    ));
    assert_eq!(banner.openfeature_reason, "TARGETING_MATCH");
    assert_eq!(client.string_value("banner", &us, "fallback"), "hello");
    let limit = client.number_detail("limit", &us, -1.0);
    // u-2's bucket in the 50/50 split is fixed by the hashing the conformance suite pins.
    // u-2's side of the 50/50 split follows from the flag's random salt by the native hashing
    // (bucket below 50,000: `low`), which the conformance suite pins.
    let flag = server
        .admin_get("/api/v1/projects/default/flags/limit")
        .await;
    let prefix = format!("limit.{}", flag["salt"].as_str().unwrap());
    let expected = match native_bucket(&prefix, "u-2") < 50_000 {
        true => (10.0, Some("low")),
        false => (20.5, Some("high")),
    };
    assert_eq!(
        (limit.value, limit.variation.as_deref()),
        expected,
        "{limit:?}"
    );
    assert_eq!(limit.openfeature_reason, "SPLIT");
    let theme = client.json_detail("theme", &us, json!(null));
    assert_eq!(theme.value, json!({"bg": "white"}));
    assert_eq!(theme.reason, Reason::Off);
    let wrong = client.bool_detail("banner", &us, true);
    assert!(wrong.value);
    assert_eq!(wrong.reason.error_kind(), Some(ErrorKind::WrongType));
    let missing = client.bool_detail("nope", &us, true);
    assert_eq!(missing.reason.error_kind(), Some(ErrorKind::FlagNotFound));
    let all = client.all_flags(&de);
    assert_eq!(all.flags.len(), 4);
    assert_eq!(all.flags["banner"].value, json!("hallo"));

    // The OpenFeature provider resolves through the same client.
    let provider = SwitchyardProvider::new(client.clone());
    let mut context = EvaluationContext::default().with_targeting_key("u-1");
    context = context.with_custom_field("country", "DE");
    let resolved = provider
        .resolve_string_value("banner", &context)
        .await
        .unwrap();
    assert_eq!(resolved.value, "hallo");
    assert_eq!(resolved.variant.as_deref(), Some("german"));
    assert_eq!(resolved.reason, Some(EvaluationReason::TargetingMatch));
    assert!(
        provider
            .resolve_bool_value("banner", &context)
            .await
            .is_err()
    );
    let flag_missing = provider
        .resolve_bool_value("nope", &context)
        .await
        .unwrap_err();
    assert_eq!(flag_missing.code.to_string(), "FLAG_NOT_FOUND");
    let number = provider
        .resolve_float_value("limit", &context)
        .await
        .unwrap();
    assert_eq!(number.reason, Some(EvaluationReason::Split));

    // Listeners hear about changes; evaluation follows.
    let mut changes = client.subscribe();
    toggle(&server, "checkout", false).await;
    let change = tokio::time::timeout(WAIT, changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.flags, ["checkout"]);
    assert!(!client.bool_value("checkout", &us, true));
    assert_eq!(client.revision(), Some(change.revision));

    // A polling client sees the same data.
    let polling = Client::builder(&server.base, &key)
        .sync(SyncMode::Polling(Duration::from_millis(100)))
        .build()
        .await;
    assert_eq!(polling.revision(), client.revision());
    toggle(&server, "checkout", true).await;
    wait_until("the polling client to see the toggle", || {
        polling.bool_value("checkout", &us, false)
    })
    .await;
    polling.close().await;
    wait_until("the streaming client to see the toggle", || {
        client.bool_value("checkout", &us, false)
    })
    .await;

    // Close is clean; the last-known-good file starts a client while the server is down.
    client.close().await;
    let served_revision = client.revision();
    server.stop().await;
    let started = Instant::now();
    let offline = Client::builder("http://127.0.0.1:9", &key)
        .cache_file(&cache)
        .init_timeout(WAIT)
        .build()
        .await;
    assert!(started.elapsed() < WAIT, "a cached client does not wait");
    assert_eq!(offline.data_source(), Some(DataSource::CacheFile));
    assert_eq!(offline.revision(), served_revision);
    assert!(offline.bool_value("checkout", &us, false));
    offline.close().await;

    // Without server or file: defaults with a reason, after the init timeout, not forever.
    let started = Instant::now();
    let lost = Client::builder("http://127.0.0.1:9", &key)
        .init_timeout(Duration::from_millis(300))
        .build()
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(!lost.is_initialized());
    let detail = lost.bool_detail("checkout", &us, true);
    assert!(detail.value);
    assert_eq!(detail.reason.error_kind(), Some(ErrorKind::ClientNotReady));
    lost.close().await;
}
