//! Retention of experiment units (`docs/events.md`, "Experiment units"): the hourly event
//! retention names every stopped or shipped experiment, and the store deletes the unit rows of
//! those stopped long enough ago (once each), keeping their totals.

use switchyard_store::Store;
use switchyard_store::events::StoppedExperiment;

use crate::records::{self, Experiment, ExperimentState, GLOBAL, ProjectRecord};

/// Deletes, as of `now_ms`, the unit rows of experiments stopped more than
/// `switchyard_store::events::experiments::UNIT_RETENTION_MS` ago.
pub(super) async fn prune_stopped_experiments(store: &Store, now_ms: i64) {
    let mut stopped = Vec::new();
    let projects = match records::list_readable::<ProjectRecord>(store, GLOBAL).await {
        Ok(projects) => projects,
        Err(error) => {
            tracing::warn!(error = %error.message, "could not list projects to prune experiment units");
            return;
        }
    };
    for project in projects {
        let Ok(experiments) = records::list_readable::<Experiment>(store, &project.key).await
        else {
            continue;
        };
        for experiment in experiments.into_iter().map(|stored| stored.record) {
            let ended = matches!(
                experiment.state,
                ExperimentState::Stopped | ExperimentState::Shipped
            );
            if let (true, Some(stopped_ms)) = (ended, experiment.stopped_ms) {
                stopped.push(StoppedExperiment {
                    project: experiment.project,
                    env: experiment.environment,
                    experiment: experiment.id,
                    stopped_ms,
                });
            }
        }
    }
    if let Err(error) = store.prune_experiment_units(&stopped, now_ms).await {
        tracing::warn!(%error, "could not prune the units of stopped experiments");
    }
}
