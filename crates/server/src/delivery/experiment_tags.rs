//! The running experiments an intake batch counts toward (`docs/experiments.md`, "Reading the
//! results"). [`RunningExperiments`] keeps each environment's running experiments, with their
//! rollouts compiled, until a commit touches an experiment: every change a store announces is
//! looked at before the cache is read (a lagged or resynced announcer empties it), so a batch
//! after an experiment's start or stop commits sees it as reading the documents would.
//! A relay has no store and tags nothing: its upstream tags what it forwards.
//!
//! An exposure says which variation a context got and the reason's kind, not `in_experiment`;
//! with `traffic_percent` below 100 the untracked rest gets the previous variation (often the
//! control) from the same rollout. So per batch each experiment's rollout is compiled once and
//! every exposure of its flag re-bucketed as the SDK did: those outside are named in
//! [`ExperimentTag::outside`] and make no unit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use switchyard_engine::Snapshot;
use switchyard_engine::context::{Context, SingleContext};
use switchyard_engine::eval::{Env, Reason};
use switchyard_engine::model::{Dataset, Flag, FlagKind, Serve, Targeting, Variation};
use switchyard_store::events::{EventBatch, ExperimentTag, Exposure, MetricTag};
use switchyard_store::{Store, StoreEvent};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use crate::error::ApiError;
use crate::records::{self, Experiment, ExperimentState, Record};

const HOUR_MS: i64 = 3_600_000;

/// Stands in for the variation the untracked rest is served: never a flag's variation key, so
/// it is never taken for a compared variation.
const PREVIOUS: &str = "\u{0}previous";

/// Fills `batch.experiments` with the running experiments of its environment (nothing to look
/// up when the batch has no exposure nor metric event).
pub(super) async fn tag_running_experiments(
    running: &RunningExperiments,
    store: &Store,
    batch: &mut EventBatch,
) -> Result<(), ApiError> {
    if batch.exposures.is_empty() && batch.metrics.is_empty() {
        return Ok(());
    }
    let experiments = running.of(store, &batch.project, &batch.env).await?;
    batch.experiments = experiments
        .iter()
        .filter_map(|running| tag(running, &batch.exposures))
        .collect();
    Ok(())
}

/// A running experiment with its rollout compiled for re-bucketing exposures.
pub(super) struct Running {
    experiment: Experiment,
    /// `None`: not a servable plan (validated at start, so not expected); counted as before.
    rollout: Option<Rollout>,
}

struct Rollout {
    snapshot: Snapshot,
    context_kind: String,
}

/// How long a cached list is trusted. This process's own commits empty the cache at once, but
/// another replica's (on PostgreSQL) arrive only if its LISTEN/NOTIFY note gets through, so an
/// entry is re-read after at most this long whatever was announced.
const RUNNING_MAX_AGE: Duration = Duration::from_secs(1);

/// The running experiments per (project, environment), read at most [`RUNNING_MAX_AGE`] ago
/// and kept until then or until a commit touches an experiment document.
#[derive(Default)]
pub(super) struct RunningExperiments {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// The store's change announcements, subscribed on first use (before the first read).
    changes: Option<Receiver<StoreEvent>>,
    /// Bumped whenever the cache is emptied: a read that started before is not kept.
    generation: u64,
    by_env: HashMap<(String, String), CachedRunning>,
}

/// A cached list with when its read started.
type CachedRunning = (Instant, Arc<Vec<Running>>);

impl std::fmt::Debug for RunningExperiments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningExperiments").finish_non_exhaustive()
    }
}

impl RunningExperiments {
    /// The environment's running experiments, from the cache or else the store.
    pub(super) async fn of(
        &self,
        store: &Store,
        project: &str,
        env: &str,
    ) -> Result<Arc<Vec<Running>>, ApiError> {
        let key = (project.to_owned(), env.to_owned());
        let generation = {
            let mut state = self.lock();
            state.catch_up(store);
            if let Some(running) = state.fresh(&key, Instant::now()) {
                return Ok(running);
            }
            state.generation
        };
        let read_at = Instant::now();
        let running: Vec<Running> = records::list::<Experiment>(store, project)
            .await?
            .into_iter()
            .map(|stored| stored.record)
            .filter(|experiment| {
                experiment.environment == env && experiment.state == ExperimentState::Running
            })
            .map(Running::new)
            .collect();
        let running = Arc::new(running);
        let mut state = self.lock();
        state.catch_up(store);
        if state.generation == generation {
            state.by_env.insert(key, (read_at, running.clone()));
        }
        Ok(running)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is a cache: one a panic left half-written is emptied, not trusted.
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            state.forget();
            state
        })
    }
}

impl CacheState {
    /// The cached list, unless it was read more than [`RUNNING_MAX_AGE`] before `now`.
    fn fresh(&self, key: &(String, String), now: Instant) -> Option<Arc<Vec<Running>>> {
        let (read_at, running) = self.by_env.get(key)?;
        (now.saturating_duration_since(*read_at) <= RUNNING_MAX_AGE).then(|| running.clone())
    }

    /// Looks at every change announced since the last look; one that may have touched an
    /// experiment (or announcements missed) empties the cache.
    fn catch_up(&mut self, store: &Store) {
        let changes = self.changes.get_or_insert_with(|| store.changes());
        let mut stale = false;
        loop {
            match changes.try_recv() {
                Ok(StoreEvent::Committed(note)) => {
                    stale |= note.touches(|touched| touched.kind == Experiment::KIND);
                }
                Ok(StoreEvent::Resync) | Err(TryRecvError::Lagged(_)) => stale = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    self.changes = None;
                    stale = true;
                    break;
                }
            }
        }
        if stale {
            self.forget();
        }
    }

    fn forget(&mut self) {
        self.by_env.clear();
        self.generation += 1;
    }
}

impl Running {
    fn new(experiment: Experiment) -> Running {
        let rollout = compile_rollout(&experiment);
        Running {
            experiment,
            rollout,
        }
    }
}

/// What the store needs of a running experiment: which flag's exposures make units from when
/// (and which of the batch's do not), and which events count per unit within which windows.
fn tag(running: &Running, exposures: &[Exposure]) -> Option<ExperimentTag> {
    let experiment = &running.experiment;
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
        outside: outside(running, exposures),
    })
}

/// The indices of `exposures` to the experiment's flag whose unit is not in the experiment.
///
/// Bucketed with the engine on a one-flag dataset whose fallthrough is the experiment's rollout
/// (its compared variations, weights, traffic, seed and context kind; the previous variation
/// as a stand-in): in the experiment iff the evaluation is `in_experiment`. An exposure whose
/// reason the experiment's serving cannot give is outside too: on the fallthrough only
/// `FALLTHROUGH`; on a rule only `RULE_MATCH` (the reason's kind does not say which rule, so a
/// context that matched another rule of the flag and buckets into a tracked slice still
/// counts). Bucketed natively: an imported flag of another dialect buckets otherwise.
fn outside(running: &Running, exposures: &[Exposure]) -> Vec<usize> {
    let plan = &running.experiment.plan;
    if !exposures.iter().any(|e| e.flag == plan.flag) {
        return Vec::new();
    }
    let Some(Rollout {
        snapshot,
        context_kind: kind,
    }) = &running.rollout
    else {
        return Vec::new();
    };
    let served_by = if plan.rule.is_some() {
        "RULE_MATCH"
    } else {
        "FALLTHROUGH"
    };
    let in_experiment = |exposure: &Exposure| {
        if exposure.reason != served_by {
            return false;
        }
        let Some(part) = exposure.contexts.iter().find(|part| &part.kind == kind) else {
            return false;
        };
        let context = Context::single(SingleContext::new(&part.kind, &part.key, Map::new()));
        let env = Env {
            now_ms: exposure.at_ms,
            random: 0,
        };
        let evaluation = snapshot.evaluate(&plan.flag, &context, &env);
        // The served variation is not compared: an exposure in a tracked slice naming another
        // variation is a broken assignment, which the sample ratio check is there to show.
        matches!(
            evaluation.reason,
            Reason::Fallthrough { rollout: Some(info), .. } if info.in_experiment
        )
    };
    exposures
        .iter()
        .enumerate()
        .filter(|(_, e)| e.flag == plan.flag && !in_experiment(e))
        .map(|(i, _)| i)
        .collect()
}

/// The experiment's rollout as the only flag of a dataset: its compared variations, weights,
/// traffic, seed and context kind, with the previous variation as a stand-in.
fn compile_rollout(experiment: &Experiment) -> Option<Rollout> {
    let plan = &experiment.plan;
    let keys: Vec<String> = plan
        .variations
        .iter()
        .cloned()
        .chain([PREVIOUS.to_owned()])
        .collect();
    let rollout = experiment.rollout(&keys, plan.variations.len()).ok()?;
    let context_kind = rollout.context_kind.clone();
    let flag = Flag {
        key: plan.flag.clone(),
        version: 0,
        kind: FlagKind::String,
        variations: keys
            .iter()
            .map(|key| Variation {
                key: key.clone(),
                value: Value::String(key.clone()),
                name: None,
                description: None,
                payload: None,
            })
            .collect(),
        salt: String::new(),
        dialect: Default::default(),
        client_visible: false,
        json_schema: None,
        targeting: Targeting {
            on: true,
            off_variation: None,
            prerequisites: Vec::new(),
            targets: Vec::new(),
            rules: Vec::new(),
            fallthrough: Serve::Rollout(rollout),
        },
    };
    let snapshot = Snapshot::compile(&Dataset {
        flags: vec![flag],
        segments: Vec::new(),
    });
    Some(Rollout {
        snapshot,
        context_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_list_older_than_the_max_age_is_read_again() {
        let key = ("project".to_owned(), "env".to_owned());
        let read_at = Instant::now();
        let mut state = CacheState::default();
        state
            .by_env
            .insert(key.clone(), (read_at, Arc::new(Vec::new())));
        assert!(state.fresh(&key, read_at + RUNNING_MAX_AGE).is_some());
        assert!(
            state
                .fresh(&key, read_at + RUNNING_MAX_AGE + Duration::from_millis(1))
                .is_none()
        );
    }
}
