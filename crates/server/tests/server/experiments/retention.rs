//! The hourly event retention deletes a stopped experiment's unit rows once it has been stopped
//! for `UNIT_RETENTION_MS`, and keeps its totals.

use serde_json::json;
use switchyard_server::delivery::apply_event_retention;
use switchyard_store::events::experiments::UNIT_RETENTION_MS;
use switchyard_store::events::{ContextPart, EventBatch, ExperimentTag, Exposure, MetricTag};
use switchyard_testkit::server::TestServer;

use super::{EXPERIMENTS, conversion_metric, layout_flag, plan};

switchyard_testkit::backend_tests! {
    sqlite: [a_stopped_experiments_units_go_after_the_retention],
    postgres: [],
}

async fn a_stopped_experiments_units_go_after_the_retention(url: String) {
    let server = TestServer::in_process(&url).start().await;
    layout_flag(&server).await;
    conversion_metric(&server).await;
    let id = server.admin_post(EXPERIMENTS, plan()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{EXPERIMENTS}/{id}");
    let started = server.admin_post(&format!("{one}/start"), json!({})).await;
    let started_ms = started["started_ms"].as_i64().unwrap();
    let store = server.state().unwrap().store.clone();
    let user = |key: &str| ContextPart {
        kind: "user".into(),
        key: key.into(),
    };
    // Written as the intake writes a batch tagged with the running experiment.
    let tags = vec![ExperimentTag {
        id: id.clone(),
        phase: 1,
        flag: "layout".into(),
        started_ms,
        metrics: vec![MetricTag {
            event: "purchase".into(),
            window_ms: 72 * 3_600_000,
            denominator: None,
        }],
        pre_period_ms: 168 * 3_600_000,
        outside: Vec::new(),
    }];
    let batch = EventBatch {
        project: "default".into(),
        env: "production".into(),
        counted_at_ms: started_ms,
        counts: Vec::new(),
        exposures: ["u1", "u2"]
            .map(|key| Exposure {
                at_ms: started_ms,
                contexts: vec![user(key)],
                flag: "layout".into(),
                version: 1,
                variation: "a".into(),
                reason: "FALLTHROUGH".into(),
                release: None,
            })
            .into(),
        metrics: Vec::new(),
        metric_flags: None,
        experiments: tags,
    };
    store.ingest_events(&batch).await.unwrap();
    let stopped = server.admin_post(&format!("{one}/stop"), json!({})).await;
    let stopped_ms = stopped["stopped_ms"].as_i64().unwrap();
    let units = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM experiment_units")
            .fetch_one(store.pool())
            .await
            .unwrap();
        n
    };
    assert_eq!(units().await, 2);
    apply_event_retention(&store, stopped_ms + UNIT_RETENTION_MS - 60_000).await;
    assert_eq!(units().await, 2, "not yet");
    apply_event_retention(&store, stopped_ms + UNIT_RETENTION_MS + 60_000).await;
    assert_eq!(units().await, 0);
    let totals = store
        .experiment_totals("default", "production", &id, 1)
        .await
        .unwrap();
    assert_eq!(
        totals.arms.iter().map(|arm| arm.units).sum::<i64>(),
        2,
        "totals stay"
    );
    server.stop().await;
}
