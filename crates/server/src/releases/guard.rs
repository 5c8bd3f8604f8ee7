//! The guard: every `interval` it reads each active release's cohorts, assesses them
//! ([`super::assess`]) and acts on the verdict through [`super::transition`]. Replicas may all
//! run it: two guards deciding the same thing race on the documents' versions and one commit
//! wins.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use switchyard_store::{Store, StoreOp};

use super::assess::{Assessment, Freshness, Verdict, assess};
use super::document::{BreachAction, Release, State};
use super::transition::{
    Actor, Change, Services, advance, begin_stage, finish, hold, removed, transition,
};
use super::webhooks::Webhooks;
use crate::access::Event;
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::records::{self, GLOBAL};

/// The guard's settings.
#[derive(Debug, Clone, Copy)]
pub struct GuardConfig {
    /// How often active releases are assessed. Each look costs one cohort read per running
    /// release; at 1 s the look adds at most a second (half on average) between the evidence
    /// reaching the store and the roll back (`benches/guard.sh` splits the stages).
    pub interval: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            interval: Duration::from_secs(1),
        }
    }
}

/// The guard: its settings and what it remembers between passes.
#[derive(Debug, Default)]
pub struct Guard {
    pub config: GuardConfig,
    /// Stage key → when its evaluation count last moved (for the stale-data hold).
    freshness: Mutex<HashMap<String, Freshness>>,
    /// What the guard decided, per release (`switchyard_release_guard_decisions_total`).
    pub decisions: GuardDecisions,
    /// Checks that failed: a release's, or listing the releases.
    pub errors: Counter,
}

/// Releases whose decisions carry their own labels at once: beyond it, the series of the
/// release decided about least recently are dropped, so the metric stays bounded however many
/// releases a project runs over time.
const MAX_LABELLED_RELEASES: usize = 100;

/// What one look at a release decided: a [`Verdict`] for a running release, `start` for a
/// scheduled one whose time came, `hold_timeout` for a hold nobody resolved in time.
const DECISIONS: [&str; 6] = [
    "start",
    "continue",
    "advance",
    "hold",
    "breach",
    "hold_timeout",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    release: String,
    flag: String,
    environment: String,
    decision: &'static str,
}

/// The guard's decisions per release, labelled for the [`MAX_LABELLED_RELEASES`] decided about
/// most recently. Counted once per look (every `interval` for a running release), by each
/// replica that runs the guard.
#[derive(Debug, Default)]
pub struct GuardDecisions {
    pub family: Family<DecisionLabels, Counter>,
    /// The labelled releases, least recently decided first.
    recent: Mutex<VecDeque<DecisionLabels>>,
}

impl GuardDecisions {
    fn count(&self, release: &Release, decision: &'static str) {
        let labels = DecisionLabels {
            release: release.id.clone(),
            flag: release.flag.clone(),
            environment: format!("{}/{}", release.project, release.environment),
            decision,
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            let known = recent.iter().position(|r| r.release == labels.release);
            if let Some(at) = known {
                recent.remove(at);
            }
            recent.push_back(labels.clone());
            while recent.len() > MAX_LABELLED_RELEASES {
                let Some(oldest) = recent.pop_front() else {
                    break;
                };
                for decision in DECISIONS {
                    self.family.remove(&DecisionLabels {
                        decision,
                        ..oldest.clone()
                    });
                }
            }
        }
        self.family.get_or_create(&labels).inc();
    }
}

fn decision_of(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Continue { .. } => "continue",
        Verdict::Advance => "advance",
        Verdict::Hold { .. } => "hold",
        Verdict::Breach { .. } => "breach",
    }
}

impl Guard {
    pub fn new(config: GuardConfig) -> Arc<Guard> {
        Arc::new(Guard {
            config,
            freshness: Mutex::default(),
            decisions: GuardDecisions::default(),
            errors: Counter::default(),
        })
    }

    /// The guard loop: a pass every `interval` until `stopping` resolves (a pass under way
    /// finishes first). Its owner spawns it.
    pub async fn run(
        self: Arc<Guard>,
        store: Store,
        webhooks: Webhooks,
        stopping: impl Future<Output = ()>,
    ) {
        let services = Services {
            store: &store,
            webhooks: &webhooks,
        };
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping = std::pin::pin!(stopping);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stopping => return,
            }
            if let Err(error) = check_all(services, &self).await {
                self.errors.inc();
                tracing::warn!(error = %error.message, "release guard pass failed");
            }
            // After the releases, so a wave sees what its release just did.
            if let Err(error) = super::waves::drive_all(services).await {
                self.errors.inc();
                tracing::warn!(error = %error.message, "release plan pass failed");
            }
        }
    }

    /// A running release's assessment now (for status), with the guard's view of freshness.
    pub async fn assess(&self, store: &Store, release: &Release) -> ApiResult<Assessment> {
        assess_now(store, release, &self.freshness, now_ms()).await
    }
}

async fn check_all(services: Services<'_>, guard: &Guard) -> ApiResult<()> {
    for stored in records::list_readable::<Release>(services.store, GLOBAL).await? {
        if !stored.record.state.is_active() {
            continue;
        }
        if let Err(error) = check(services, stored.record, guard).await {
            guard.errors.inc();
            tracing::warn!(release = %stored.key, error = %error.message, "release guard check failed");
        }
    }
    Ok(())
}

/// One look at one active release.
async fn check(services: Services<'_>, release: Release, guard: &Guard) -> ApiResult<()> {
    let now = now_ms();
    let actor = Actor::release(&release.id);
    match release.state {
        State::Scheduled => {
            if release.start_at_ms.is_none_or(|t| t <= now) && release.in_window(now) {
                guard.decisions.count(&release, "start");
                transition(services, &release.id, &actor, |r, flag, now| {
                    if r.state != State::Scheduled {
                        return Ok(None);
                    }
                    begin_stage(r, flag, now)?;
                    Ok(Some(Change::new(
                        Event::ReleaseStart,
                        "release.started",
                        format!("started at stage 0 ({})", r.current_stage().name),
                    )))
                })
                .await?;
            }
        }
        State::Holding => {
            let due = release
                .hold
                .as_ref()
                .and_then(|h| h.rolls_back_at_ms)
                .is_some_and(|t| t <= now);
            if due {
                guard.decisions.count(&release, "hold_timeout");
                transition(services, &release.id, &actor, |r, flag, _| {
                    if r.state != State::Holding {
                        return Ok(None);
                    }
                    let reason = r
                        .hold
                        .as_ref()
                        .map(|h| h.reason.clone())
                        .unwrap_or_default();
                    finish(r, flag, State::RolledBack)?;
                    Ok(Some(Change::new(
                        Event::ReleaseRollBack,
                        "release.rolled_back",
                        format!("the hold timed out unresolved ({reason})"),
                    )))
                })
                .await?;
            }
        }
        State::Running => {
            let assessment = assess_now(services.store, &release, &guard.freshness, now).await?;
            guard
                .decisions
                .count(&release, decision_of(&assessment.verdict));
            act(services, &release, &actor, assessment).await?;
        }
        State::Completed | State::RolledBack | State::Aborted => {}
    }
    Ok(())
}

/// Reads the stage's cohorts and assesses them, keeping track of when data last arrived.
async fn assess_now(
    store: &Store,
    release: &Release,
    freshness: &Mutex<HashMap<String, Freshness>>,
    now: i64,
) -> ApiResult<Assessment> {
    let stage = release.stage_key();
    let cohorts = store.stage_cohorts(
        &release.project,
        &release.environment,
        &release.flag,
        &stage,
    );
    let cohorts = store.timed(StoreOp::StageCohorts, cohorts).await?;
    let total: i64 = cohorts.evaluations.values().sum();
    let seen = {
        let mut map = freshness.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(stage).or_insert(Freshness {
            evaluations: total,
            changed_ms: now,
        });
        if total != entry.evaluations {
            *entry = Freshness {
                evaluations: total,
                changed_ms: now,
            };
        }
        *entry
    };
    Ok(assess(release, &cohorts, seen, now))
}

async fn act(
    services: Services<'_>,
    release: &Release,
    actor: &Actor,
    assessment: Assessment,
) -> ApiResult<()> {
    let stage = release.stage;
    let still_here = |r: &Release| r.state == State::Running && r.stage == stage;
    match assessment.verdict.clone() {
        Verdict::Continue { .. } => {}
        Verdict::Advance => {
            transition(services, &release.id, actor, |r, flag, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                if !r.layer_present(flag.targeting) {
                    return removed(r, flag);
                }
                advance(r, flag, now, Some(&assessment)).map(Some)
            })
            .await?;
        }
        Verdict::Breach { reason } => {
            transition(services, &release.id, actor, |r, flag, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                if r.on_breach == BreachAction::Hold {
                    hold(r, format!("guardrail breached: {reason}"), now, true);
                    return Ok(Some(
                        Change::new(
                            Event::ReleaseHold,
                            "release.breached",
                            format!("guardrail breached, holding: {reason}"),
                        )
                        .decided_on(&assessment),
                    ));
                }
                finish(r, flag, State::RolledBack)?;
                Ok(Some(
                    Change::new(
                        Event::ReleaseRollBack,
                        "release.rolled_back",
                        format!("guardrail breached: {reason}"),
                    )
                    .decided_on(&assessment),
                ))
            })
            .await?;
        }
        Verdict::Hold { reason } => {
            transition(services, &release.id, actor, |r, _, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                hold(r, reason.clone(), now, true);
                Ok(Some(
                    Change::new(
                        Event::ReleaseHold,
                        "release.held",
                        format!("holding: {reason}"),
                    )
                    .decided_on(&assessment),
                ))
            })
            .await?;
        }
    }
    Ok(())
}
