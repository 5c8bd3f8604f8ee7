//! The running experiments an intake batch counts toward (`docs/experiments.md`, "Reading the
//! results"): read once per batch from the environment's experiment documents, never per event.
//! A relay has no store and tags nothing: its upstream tags what it forwards.
//!
//! An exposure says which variation a context got and the reason's kind, not `in_experiment`;
//! with `traffic_percent` below 100 the untracked rest gets the previous variation (often the
//! control) from the same rollout. So per batch each experiment's rollout is compiled once and
//! every exposure of its flag re-bucketed as the SDK did: those outside are named in
//! [`ExperimentTag::outside`] and make no unit.

use serde_json::{Map, Value};
use switchyard_engine::Snapshot;
use switchyard_engine::context::{Context, SingleContext};
use switchyard_engine::eval::{Env, Reason};
use switchyard_engine::model::{Dataset, Flag, FlagKind, Serve, Targeting, Variation};
use switchyard_store::Store;
use switchyard_store::events::{EventBatch, ExperimentTag, Exposure, MetricTag};

use crate::error::ApiError;
use crate::records::{self, Experiment, ExperimentState};

const HOUR_MS: i64 = 3_600_000;

/// Stands in for the variation the untracked rest is served: never a flag's variation key, so
/// it is never taken for a compared variation.
const PREVIOUS: &str = "\u{0}previous";

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
        .filter_map(|stored| tag(&stored.record, &batch.exposures))
        .collect();
    Ok(())
}

/// What the store needs of a running experiment: which flag's exposures make units from when
/// (and which of the batch's do not), and which events count per unit within which windows.
fn tag(experiment: &Experiment, exposures: &[Exposure]) -> Option<ExperimentTag> {
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
        outside: outside(experiment, exposures),
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
fn outside(experiment: &Experiment, exposures: &[Exposure]) -> Vec<usize> {
    let plan = &experiment.plan;
    if !exposures.iter().any(|e| e.flag == plan.flag) {
        return Vec::new();
    }
    let keys: Vec<String> = plan
        .variations
        .iter()
        .cloned()
        .chain([PREVIOUS.to_owned()])
        .collect();
    let Ok(rollout) = experiment.rollout(&keys, plan.variations.len()) else {
        // Not a servable plan (validated at start, so not expected): count as before.
        return Vec::new();
    };
    let kind = rollout.context_kind.clone();
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
    let served_by = if plan.rule.is_some() {
        "RULE_MATCH"
    } else {
        "FALLTHROUGH"
    };
    let in_experiment = |exposure: &Exposure| {
        if exposure.reason != served_by {
            return false;
        }
        let Some(part) = exposure.contexts.iter().find(|part| part.kind == kind) else {
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
