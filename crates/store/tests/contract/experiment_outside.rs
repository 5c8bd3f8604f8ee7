//! Exposures the server names outside an experiment (the untracked rest of a partial-traffic
//! rollout, served the previous variation) make no unit of it, in that batch only; other
//! experiments of the batch still count them.

use switchyard_store::Store;
use switchyard_store::events::{ContextPart, EventBatch, ExperimentTag, Exposure, MetricTag};

const START: i64 = 1_700_000_000_000;

fn tag(id: &str, outside: Vec<usize>) -> ExperimentTag {
    ExperimentTag {
        id: id.into(),
        phase: 1,
        flag: "checkout".into(),
        started_ms: START,
        metrics: vec![MetricTag {
            event: "purchase".into(),
            window_ms: 86_400_000,
            denominator: None,
        }],
        pre_period_ms: 0,
        outside,
    }
}

fn exposure(user: u64, variation: &str) -> Exposure {
    Exposure {
        at_ms: START + user as i64,
        contexts: vec![ContextPart {
            kind: "user".into(),
            key: format!("u{user}"),
        }],
        flag: "checkout".into(),
        version: 1,
        variation: variation.into(),
        reason: "FALLTHROUGH".into(),
        release: None,
    }
}

/// (variation, units, excluded) per arm.
async fn arms(store: &Store, id: &str) -> Vec<(String, i64, i64)> {
    let totals = store.experiment_totals("web", "prod", id, 1).await.unwrap();
    totals
        .arms
        .into_iter()
        .map(|arm| (arm.variation, arm.units, arm.excluded))
        .collect()
}

pub(crate) async fn exposures_outside_an_experiment_make_no_unit(store: Store) {
    // u1 and u3 got the control from the untracked slice: outside `e-partial`, not `e-full`.
    let mut batch = EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: START,
        counts: Vec::new(),
        exposures: vec![
            exposure(0, "control"),
            exposure(1, "control"),
            exposure(2, "treatment"),
            exposure(3, "control"),
        ],
        metrics: Vec::new(),
        metric_flags: None,
        experiments: vec![tag("e-partial", vec![1, 3]), tag("e-full", Vec::new())],
    };
    store.ingest_events(&batch).await.unwrap();
    assert_eq!(
        arms(&store, "e-partial").await,
        vec![("control".into(), 1, 0), ("treatment".into(), 1, 0)]
    );
    assert_eq!(
        arms(&store, "e-full").await,
        vec![("control".into(), 3, 0), ("treatment".into(), 1, 0)]
    );
    // An exposure outside never excludes a unit that is in: u2 seen again on the control,
    // outside, stays a treatment unit; u1, in this time, becomes a unit.
    batch.exposures = vec![exposure(2, "control"), exposure(1, "control")];
    batch.experiments = vec![tag("e-partial", vec![0])];
    store.ingest_events(&batch).await.unwrap();
    assert_eq!(
        arms(&store, "e-partial").await,
        vec![("control".into(), 2, 0), ("treatment".into(), 1, 0)]
    );
}
