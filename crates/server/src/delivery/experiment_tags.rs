//! The running experiments an intake batch counts toward (`docs/experiments.md`, "How events
//! become results"): read once per batch from the environment's experiment documents, never per
//! event. A relay has no store and tags nothing: its upstream tags what it forwards.

use switchyard_store::Store;
use switchyard_store::events::EventBatch;

use crate::error::ApiError;
use crate::records::{self, Experiment};
use crate::releases::experiment_analysis::tags;

/// Fills `batch.experiments` with the running experiments of its environment (nothing to read
/// when the batch has no exposure nor metric event).
pub(super) async fn tag_running_experiments(
    store: &Store,
    batch: &mut EventBatch,
) -> Result<(), ApiError> {
    if batch.exposures.is_empty() && batch.metrics.is_empty() {
        return Ok(());
    }
    let experiments: Vec<Experiment> = records::list::<Experiment>(store, &batch.project)
        .await?
        .into_iter()
        .map(|stored| stored.record)
        .filter(|experiment| experiment.environment == batch.env)
        .collect();
    batch.experiments = tags(&experiments);
    Ok(())
}
