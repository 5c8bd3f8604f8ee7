//! Release plans' pure transitions: waves in order, bakes, a failure, restores, the controls.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use switchyard_engine::model::Serve;

use super::*;

fn wave(environment: &str, bake_s: u64) -> WaveInput {
    serde_json::from_value(json!({"environment": environment, "bake_s": bake_s,
                                  "stages": [{"percent": 50}]}))
    .unwrap()
}

fn plan(roll_back_earlier: bool) -> ReleasePlan {
    let input = ReleasePlanInput {
        flag: "checkout".into(),
        variation: "on".into(),
        rule: None,
        waves: vec![wave("staging", 0), wave("eu", 60), wave("us", 0)],
        roll_back_earlier,
        comment: None,
    };
    ReleasePlan::new("p1".into(), "web", &input, "token:t", 1000)
}

/// Releases by id, as the driver would read them.
fn seen(states: &[(&str, State)]) -> impl Fn(&str) -> Option<Seen> {
    let map: BTreeMap<String, State> = states.iter().map(|(k, s)| (k.to_string(), *s)).collect();
    move |id: &str| {
        map.get(id).map(|state| Seen {
            state: *state,
            detail: Some("guardrail breached".into()),
        })
    }
}

fn states(plan: &ReleasePlan) -> Vec<WaveState> {
    plan.waves.iter().map(|w| w.state).collect()
}

#[test]
fn the_input_is_strict_and_takes_the_release_defaults() {
    let wave: WaveInput = serde_json::from_value(json!({"environment": "eu"})).unwrap();
    assert_eq!(wave.alpha, 0.01);
    assert_eq!(
        (wave.hold_timeout_s, wave.stale_after_s, wave.bake_s),
        (3600, 600, 0)
    );
    let typo = serde_json::from_value::<WaveInput>(json!({"environment": "eu", "bake": 5}));
    assert!(typo.unwrap_err().to_string().contains("bake"));
    let start = serde_json::from_value::<WaveInput>(json!({"environment": "eu", "start_at_ms": 5}));
    assert!(start.is_err(), "a wave starts when its turn comes");
}

#[test]
fn waves_start_in_order_after_the_previous_one_completed_and_baked() {
    let mut plan = plan(false);
    assert_eq!(plan.due(|_| false), Some(Due::Start(0)));
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    assert_eq!(plan.due(|_| true), None, "wave 1 runs");
    assert!(
        plan.observe(2000, "a", seen(&[("p1-1", State::Running)]))
            .is_empty()
    );

    // No bake: completed and baked at once, wave 2 is due.
    let happened = plan.observe(3000, "a", seen(&[("p1-1", State::Completed)]));
    assert_eq!(happened.len(), 2, "{happened:?}");
    assert_eq!(states(&plan)[0], WaveState::Completed);
    assert_eq!(plan.due(|_| false), Some(Due::Start(1)));
    plan.started(1, "p1-2", Serve::Variation(1), 3000);

    // Wave 2 bakes 60 s before wave 3.
    plan.observe(4000, "a", seen(&[("p1-2", State::Completed)]));
    assert_eq!(states(&plan)[1], WaveState::Baking);
    assert_eq!(plan.waves[1].baking_until_ms, Some(64_000));
    assert_eq!(plan.due(|_| false), None);
    assert!(plan.observe(63_999, "a", seen(&[])).is_empty());
    plan.observe(64_000, "a", seen(&[]));
    assert_eq!(plan.due(|_| false), Some(Due::Start(2)));
    plan.started(2, "p1-3", Serve::Variation(1), 64_000);
    let happened = plan.observe(65_000, "a", seen(&[("p1-3", State::Completed)]));
    assert_eq!(plan.state, PlanState::Completed);
    assert_eq!(happened.last().unwrap().event, Event::ReleasePlanComplete);
    assert!(!plan.needs_driving());
}

#[test]
fn a_roll_back_fails_the_plan_and_later_waves_never_start() {
    let mut plan = plan(false);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.observe(2000, "a", seen(&[("p1-1", State::Completed)]));
    plan.started(1, "p1-2", Serve::Variation(1), 2000);
    let happened = plan.observe(3000, "a", seen(&[("p1-2", State::RolledBack)]));
    assert_eq!(happened[0].event, Event::ReleasePlanFail);
    assert_eq!(plan.state, PlanState::Failed);
    assert_eq!(
        states(&plan),
        [
            WaveState::Completed,
            WaveState::RolledBack,
            WaveState::NotStarted
        ]
    );
    assert_eq!(plan.waves[1].detail.as_deref(), Some("guardrail breached"));
    assert_eq!(
        plan.due(|_| false),
        None,
        "without roll_back_earlier wave 1 stays"
    );
    assert!(!plan.needs_driving());
}

#[test]
fn roll_back_earlier_puts_back_each_completed_wave_once() {
    let mut plan = plan(true);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.observe(2000, "a", seen(&[("p1-1", State::Completed)]));
    plan.started(1, "p1-2", Serve::Variation(1), 2000);
    plan.observe(3000, "a", seen(&[("p1-2", State::RolledBack)]));
    assert_eq!(plan.due(|_| false), Some(Due::Restore(0)));
    assert!(plan.needs_driving());
    plan.restored(0, Ok(()), 4000);
    assert_eq!(states(&plan)[0], WaveState::RolledBack);
    assert_eq!(plan.due(|_| false), None);
    assert!(!plan.needs_driving());

    // One that cannot be put back says why, and is not tried again.
    let mut plan = self::plan(true);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.observe(2000, "a", seen(&[("p1-1", State::Completed)]));
    plan.started(1, "p1-2", Serve::Variation(1), 2000);
    plan.observe(3000, "a", seen(&[("p1-2", State::RolledBack)]));
    plan.restored(0, Err("changed since".into()), 4000);
    assert_eq!(states(&plan)[0], WaveState::Completed);
    assert!(
        plan.waves[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("changed since")
    );
    assert_eq!(plan.due(|_| false), None);
}

#[test]
fn pause_starts_nothing_and_abort_stops_the_running_wave() {
    let mut plan = plan(false);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.pause().unwrap();
    assert!(plan.pause().is_err(), "already paused");
    // A wave completing while paused bakes, but the next one waits.
    plan.observe(2000, "a", seen(&[("p1-1", State::Completed)]));
    assert_eq!(states(&plan)[0], WaveState::Completed);
    assert_eq!(plan.due(|_| false), None);
    plan.resume().unwrap();
    assert_eq!(plan.due(|_| false), Some(Due::Start(1)));
    plan.started(1, "p1-2", Serve::Variation(1), 3000);

    plan.abort(4000).unwrap();
    assert_eq!(plan.state, PlanState::Aborted);
    assert_eq!(states(&plan)[2], WaveState::NotStarted);
    assert!(plan.abort(4000).is_err());
    assert!(plan.resume().is_err());
    // The running wave's release is aborted next, then the wave ends.
    assert_eq!(
        plan.due(|id| id == "p1-2"),
        Some(Due::AbortRelease("p1-2".into()))
    );
    plan.observe(5000, "a", seen(&[("p1-2", State::Aborted)]));
    assert_eq!(states(&plan)[1], WaveState::Aborted);
    assert!(!plan.needs_driving());
}

#[test]
fn a_release_aborted_by_hand_or_missing_ends_the_plan() {
    let mut plan = plan(true);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.observe(2000, "a", seen(&[("p1-1", State::Aborted)]));
    assert_eq!(plan.state, PlanState::Aborted);
    assert_eq!(plan.due(|_| false), None, "an abort puts nothing back");

    let mut plan = self::plan(false);
    plan.started(0, "p1-1", Serve::Variation(1), 1000);
    plan.observe(2000, "a", seen(&[]));
    assert_eq!(plan.state, PlanState::Aborted);
    assert!(
        plan.waves[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("no longer exists")
    );
}

#[test]
fn a_wave_that_cannot_start_fails_the_plan() {
    let mut plan = plan(false);
    let happened = plan.refused(0, "rule \"r1\" is gone".into(), 2000);
    assert_eq!(happened.event, Event::ReleasePlanFail);
    assert_eq!(plan.state, PlanState::Failed);
    assert_eq!(
        states(&plan),
        [
            WaveState::Aborted,
            WaveState::NotStarted,
            WaveState::NotStarted
        ]
    );
}

#[test]
fn the_release_input_of_a_wave_carries_the_plan_s_flag_variation_and_rule() {
    let input = ReleasePlanInput {
        flag: "checkout".into(),
        variation: "on".into(),
        rule: Some("r1".into()),
        waves: vec![wave("eu", 5)],
        roll_back_earlier: false,
        comment: None,
    };
    let release = input.waves[0].release_input(&input);
    assert_eq!(
        (release.flag.as_str(), release.variation.as_str()),
        ("checkout", "on")
    );
    assert_eq!(release.rule.as_deref(), Some("r1"));
    assert_eq!(release.start_at_ms, None);
    assert_eq!(wave_release_id("p1", 0), "p1-1");
}
