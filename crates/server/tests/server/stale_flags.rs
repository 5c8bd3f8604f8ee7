//! The stale-flags report (issue 20, item 3): flags not evaluated, or serving one variation to
//! everyone, for N days, and temporary flags past their planned removal, from event aggregates
//! written with chosen timestamps; the same from an SDK's real traffic on a server whose clock
//! the test moves a month on; and strict input for the window and `remove_by`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_store::events::{EvaluationCount, EventBatch};
use switchyard_testkit::server::{Clock, SdkKeyKind, TestServer, wait_for};

use crate::PROD;

switchyard_testkit::backend_tests![stale_flags_report, stale_flags_follow_the_servers_clock];

const FLAGS: &str = "/api/v1/projects/default/flags";
const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Evaluation counts of `flag` filed under `at_ms`, per variation.
fn counted(flag: &str, at_ms: i64, variations: &[(&str, i64)]) -> EventBatch {
    EventBatch {
        project: "default".into(),
        env: "production".into(),
        counted_at_ms: at_ms,
        counts: variations
            .iter()
            .map(|(variation, count)| EvaluationCount {
                flag: flag.into(),
                version: 1,
                variation: (*variation).into(),
                reason: "FALLTHROUGH".into(),
                release: None,
                count: *count,
            })
            .collect(),
        exposures: Vec::new(),
        metrics: Vec::new(),
        metric_flags: None,
        experiments: Vec::new(),
    }
}

async fn stale_flags_report(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let store = server.state().unwrap().store.clone();
    let flag = |key: &str, extra: Value| {
        let mut body = json!({"key": key, "kind": "boolean"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for body in [
        flag("idle", json!({})),
        flag("uniform", json!({})),
        flag("mixed", json!({})),
        flag("young", json!({})),
        flag("fresh", json!({})),
        flag("retired", json!({})),
        flag(
            "overdue",
            json!({"temporary": true, "remove_by": "2020-01-31"}),
        ),
        flag(
            "planned",
            json!({"temporary": true, "remove_by": "2999-12-31"}),
        ),
    ] {
        server.admin_post(FLAGS, body).await;
    }
    let now = now_ms();
    let long_ago = now - 40 * DAY_MS;
    let lately = now - 2 * DAY_MS;
    for batch in [
        counted("idle", long_ago, &[("on", 7)]),
        counted("uniform", long_ago, &[("on", 3)]),
        counted("uniform", lately, &[("on", 50)]),
        counted("mixed", long_ago, &[("on", 3)]),
        counted("mixed", lately, &[("on", 5), ("off", 5)]),
        counted("young", lately, &[("on", 9)]),
        counted("retired", long_ago, &[("on", 1)]),
        counted("overdue", lately, &[("on", 2), ("off", 1)]),
        counted("planned", lately, &[("on", 2), ("off", 1)]),
    ] {
        store.ingest_events(&batch).await.unwrap();
    }
    server
        .admin_post(&format!("{FLAGS}/retired/archive"), json!({}))
        .await;

    let report = server.admin_get(&format!("{PROD}/stale-flags")).await;
    assert_eq!(report["days"], 30);
    let listed: Vec<(&str, Vec<&Value>)> = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let reasons = f["reasons"].as_array().unwrap().iter().collect();
            (f["flag"].as_str().unwrap(), reasons)
        })
        .collect();
    let keys: Vec<&str> = listed.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["idle", "overdue", "uniform"], "{report}");
    let idle = &listed[0].1;
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0]["reason"], "not_evaluated");
    assert_eq!(
        idle[0]["last_evaluated_ms"],
        long_ago - long_ago.rem_euclid(60_000)
    );
    let overdue = &listed[1].1;
    assert_eq!(overdue[0]["reason"], "past_removal");
    assert_eq!(overdue[0]["remove_by"], "2020-01-31");
    assert!(overdue[0]["days_overdue"].as_i64().unwrap() > 300);
    let uniform = &listed[2].1;
    assert_eq!(uniform[0]["reason"], "one_variation");
    assert_eq!(uniform[0]["variation"], "on");
    assert_eq!(uniform[0]["evaluations"], 50);

    // A window that reaches back to the old evaluations: idle and uniform were evaluated in it,
    // and uniform's first evaluation is inside it.
    let report = server
        .admin_get(&format!("{PROD}/stale-flags?days=60"))
        .await;
    let keys: Vec<&str> = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flag"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["overdue"], "{report}");

    // Strict input: the window, and the planned removal.
    for (path, field) in [
        (format!("{PROD}/stale-flags?days=0"), "days"),
        (format!("{PROD}/stale-flags?days=soon"), "days"),
    ] {
        let (status, body) = server
            .call(Some(&server.admin), Method::GET, &path, None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, _) = server
        .call(
            Some(&server.admin),
            Method::GET,
            &format!("{PROD}/stale-flags?dayz=3"),
            None,
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    for (body, why) in [
        (
            flag(
                "bad-day",
                json!({"temporary": true, "remove_by": "2026-02-30"}),
            ),
            "no such day",
        ),
        (
            flag(
                "bad-form",
                json!({"temporary": true, "remove_by": "31/01/2026"}),
            ),
            "not ISO",
        ),
        (
            flag(
                "bad-time",
                json!({"temporary": true, "remove_by": "2026-01-31T00:00:00Z"}),
            ),
            "a time",
        ),
        (
            flag("permanent", json!({"remove_by": "2026-01-31"})),
            "not temporary",
        ),
    ] {
        let (status, answer) = server
            .call(Some(&server.admin), Method::POST, FLAGS, Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {answer}");
        assert_eq!(answer["error"]["field"], "remove_by", "{why}: {answer}");
    }
    server.stop().await;
}

/// The report's flags: each key with its reasons.
fn listed(report: &Value) -> Vec<(String, Vec<Value>)> {
    let flags = report["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    flags
        .iter()
        .map(|f| {
            let key = f["flag"].as_str().unwrap().to_owned();
            (key, f["reasons"].as_array().unwrap().clone())
        })
        .collect()
}

/// The evaluations of `flag` the aggregates hold, over all time.
async fn evaluations(server: &TestServer, flag: &str) -> i64 {
    let path = format!("{PROD}/flags/{flag}/evaluations?from=0&to=4102444800000");
    let points = server.admin_get(&path).await;
    let points = points.as_array().unwrap_or_else(|| panic!("{points}"));
    points.iter().map(|p| p["count"].as_i64().unwrap()).sum()
}

/// Real traffic, then a month on the server's clock: a flag nobody evaluated is listed once it
/// has gone unchanged for the window (never evaluated: `last_evaluated_ms` null), one an SDK
/// evaluated shows when it last was, and one whose later evaluations all served one variation
/// (filed a month on, as that traffic would be) is listed as serving it to everyone.
async fn stale_flags_follow_the_servers_clock(url: String) {
    let clock = Clock::default();
    let server = TestServer::in_process(&url).clock(&clock).start().await;
    let store = server.state().unwrap().store.clone();
    for key in ["unused", "used", "steady", "varied"] {
        server
            .admin_post(FLAGS, json!({"key": key, "kind": "boolean"}))
            .await;
    }
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let traffic_from = now_ms();
    let sdk = Client::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(50),
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(sdk.is_initialized());
    for i in 0..5 {
        let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
        for flag in ["used", "steady", "varied"] {
            // Off in production: everyone gets `off`.
            assert!(!sdk.bool_value(flag, &user, true), "{flag}");
        }
    }
    sdk.close().await;
    for flag in ["used", "steady", "varied"] {
        wait_for(&format!("{flag}'s 5 evaluations counted"), 30, || async {
            (evaluations(&server, flag).await == 5).then_some(())
        })
        .await;
    }
    let traffic_to = now_ms();

    // Today: everything was created or evaluated within the window.
    let report = server.admin_get(&format!("{PROD}/stale-flags")).await;
    assert_eq!(listed(&report), [], "{report}");

    clock.advance(Duration::from_secs(31 * 86_400));
    let month_on = clock.now_ms();
    assert!(month_on >= traffic_to + 31 * DAY_MS);
    // Later traffic, filed when it happened: `steady` served only `off`, `varied` both.
    for batch in [
        counted("steady", month_on, &[("off", 20)]),
        counted("varied", month_on, &[("on", 4), ("off", 6)]),
    ] {
        store.ingest_events(&batch).await.unwrap();
    }
    let report = server.admin_get(&format!("{PROD}/stale-flags")).await;
    let since_ms = report["since_ms"].as_i64().unwrap();
    assert!(
        (month_on - 30 * DAY_MS..=clock.now_ms() - 30 * DAY_MS).contains(&since_ms),
        "the window ends at the server's clock: {report}"
    );
    let flags = listed(&report);
    let keys: Vec<&str> = flags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["steady", "unused", "used"], "{report}");
    let minute = |ms: i64| ms - ms.rem_euclid(60_000);
    let evaluated_during_traffic = |at: &Value| {
        let at = at.as_i64().unwrap_or_else(|| panic!("a time, not {at}"));
        (minute(traffic_from)..=traffic_to).contains(&at) && at == minute(at)
    };

    let steady = &flags[0].1;
    assert_eq!(steady.len(), 1, "{report}");
    assert_eq!(steady[0]["reason"], "one_variation");
    assert_eq!(steady[0]["variation"], "off");
    assert_eq!(steady[0]["evaluations"], 20);
    assert!(
        evaluated_during_traffic(&steady[0]["first_evaluated_ms"]),
        "{report}"
    );
    assert_eq!(steady[0]["last_evaluated_ms"], minute(month_on));

    let unused = &flags[1].1;
    assert_eq!(unused.len(), 1, "{report}");
    assert_eq!(unused[0]["reason"], "not_evaluated");
    assert_eq!(unused[0]["last_evaluated_ms"], Value::Null, "{report}");
    let changed = unused[0]["last_changed_ms"].as_i64().unwrap();
    assert!(changed > 0 && changed <= traffic_from, "{report}");

    let used = &flags[2].1;
    assert_eq!(used.len(), 1, "{report}");
    assert_eq!(used[0]["reason"], "not_evaluated");
    assert!(
        evaluated_during_traffic(&used[0]["last_evaluated_ms"]),
        "{report}"
    );

    // A window reaching back past the traffic lists none of them: `used` was evaluated in it,
    // `unused` changed in it, `steady` was first evaluated in it.
    let report = server
        .admin_get(&format!("{PROD}/stale-flags?days=60"))
        .await;
    assert_eq!(listed(&report), [], "{report}");
    server.stop().await;
}
