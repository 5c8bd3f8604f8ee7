//! The running experiments an intake batch counts toward (`docs/experiments.md`, "Reading the
//! results"): read once per batch from the environment's experiment documents, never per event.
//! A relay has no store and tags nothing: its upstream tags what it forwards.

use switchyard_store::Store;
use switchyard_store::events::{EventBatch, ExperimentTag, MetricTag};

use crate::error::ApiError;
use crate::records::{self, Experiment, ExperimentState};

const HOUR_MS: i64 = 3_600_000;

/// Fills `batch.experiments` with the running experiments of its environment (nothing to read
/// when the batch has no exposure nor metric event).
pub(super) async fn tag_running_experiments(
    store: &Store,
    batch: &mut EventBatch,
) -> Result<(), ApiError> {
    if batch.exposures.is_empty() && batch.metrics.is_empty() {
        return Ok(());
    }
    batch.experiments = records::list::<Experiment>(store, &batch.project)
        .await?
        .iter()
        .filter(|stored| stored.record.environment == batch.env)
        .filter_map(|stored| tag(&stored.record))
        .collect();
    Ok(())
}

/// What the store needs of a running experiment: which flag's exposures make units from when,
/// and which events count per unit within which windows.
fn tag(experiment: &Experiment) -> Option<ExperimentTag> {
    if experiment.state != ExperimentState::Running {
        return None;
    }
    Some(ExperimentTag {
        id: experiment.id.clone(),
        phase: i64::from(experiment.phase),
        flag: experiment.plan.flag.clone(),
        started_ms: experiment.started_ms?,
        metrics: experiment
            .metrics
            .iter()
            .map(|metric| MetricTag {
                event: metric.event.clone(),
                window_ms: i64::from(metric.window_hours) * HOUR_MS,
                denominator: metric.denominator_event.clone(),
            })
            .collect(),
        pre_period_ms: i64::from(experiment.plan.pre_period_hours) * HOUR_MS,
    })
}
