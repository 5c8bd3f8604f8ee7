//! Experiment units: a generated stream of exposures and metric events, replayed in identified
//! batches, against a computation of its own straight from the stream (units, exclusion, the
//! analysis windows, the pre-period covariate, ratios, the daily cut), plus idempotence, the cap
//! and retention.

mod bench;

use std::collections::{BTreeMap, BTreeSet};

use switchyard_store::Store;
use switchyard_store::events::experiments::{UNIT_RETENTION_MS, day_of};
use switchyard_store::events::{
    ArmTotals, ContextPart, EventBatch, ExperimentTag, Exposure, MetricEvent, MetricTag,
    MetricTotals, Moments, StoppedExperiment,
};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const START: i64 = 20_000 * DAY + 3 * HOUR;

fn tags() -> Vec<ExperimentTag> {
    vec![
        ExperimentTag {
            id: "e-checkout".into(),
            phase: 2,
            flag: "checkout".into(),
            started_ms: START,
            metrics: vec![
                MetricTag {
                    event: "purchase".into(),
                    window_ms: DAY,
                    denominator: None,
                },
                MetricTag {
                    event: "revenue".into(),
                    window_ms: 3 * DAY,
                    denominator: Some("orders".into()),
                },
            ],
            pre_period_ms: 2 * DAY,
            outside: Vec::new(),
        },
        ExperimentTag {
            id: "e-search".into(),
            phase: 1,
            flag: "search".into(),
            started_ms: START + DAY / 2,
            metrics: vec![MetricTag {
                event: "purchase".into(),
                window_ms: 2 * DAY,
                denominator: None,
            }],
            pre_period_ms: DAY,
            outside: Vec::new(),
        },
    ]
}

#[derive(Clone)]
enum Item {
    Exposure(Exposure),
    Metric(MetricEvent),
}

impl Item {
    fn at(&self) -> i64 {
        match self {
            Item::Exposure(e) => e.at_ms,
            Item::Metric(m) => m.at_ms,
        }
    }
}

fn part(kind: &str, key: String) -> ContextPart {
    ContextPart {
        kind: kind.into(),
        key,
    }
}

/// A time-ordered stream: exposures to both flags and another (some before the start, some
/// units seeing a second variation, some with an org part too), and metric events of tracked
/// and untracked names, some from units never exposed.
fn stream(seed: u64, users: u64) -> Vec<Item> {
    let mut seed = seed;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let mut items = Vec::new();
    let contexts = |next: &mut dyn FnMut(u64) -> u64, user: u64| {
        let mut parts = vec![part("user", format!("u{user}"))];
        if user.is_multiple_of(4) {
            parts.push(part("org", format!("o{}", next(3))));
        }
        parts
    };
    let variations = ["control", "treatment", "third"];
    for user in 0..users {
        for flag in ["checkout", "search", "other"] {
            let exposures = match next(10) {
                0..=1 => 0,
                2..=7 => 1,
                _ => 2,
            };
            for _ in 0..exposures {
                let at_ms = START - DAY + (next(5 * 24) as i64) * HOUR + next(HOUR as u64) as i64;
                items.push(Item::Exposure(Exposure {
                    at_ms,
                    contexts: contexts(&mut next, user),
                    flag: flag.into(),
                    version: 1,
                    variation: variations[next(2) as usize].into(),
                    reason: "FALLTHROUGH".into(),
                    release: None,
                }));
            }
        }
    }
    let names = ["purchase", "revenue", "orders", "pageview"];
    for _ in 0..users * 8 {
        let user = next(users + users / 5);
        let at_ms = START - 3 * DAY + (next(9 * 24) as i64) * HOUR + next(HOUR as u64) as i64;
        items.push(Item::Metric(MetricEvent {
            at_ms,
            contexts: contexts(&mut next, user),
            name: names[next(4) as usize].into(),
            // Quarters: every sum and product stays exact in binary floating point.
            value: next(40) as f64 * 0.25,
            about: None,
        }));
    }
    items.sort_by_key(Item::at);
    items
}

/// Batches of the stream, of varying size and sometimes across a UTC day, each holding its
/// events in reverse time order (the store must put them back in order).
fn batches(items: &[Item], seed: u64) -> Vec<EventBatch> {
    let mut out: Vec<EventBatch> = Vec::new();
    let mut size = 0;
    for (i, item) in items.iter().enumerate() {
        let cut = (i as u64 * 7 + seed).is_multiple_of(23);
        if out.is_empty() || cut || size > 40 {
            out.push(EventBatch {
                project: "web".into(),
                env: "prod".into(),
                counted_at_ms: item.at(),
                counts: Vec::new(),
                exposures: Vec::new(),
                metrics: Vec::new(),
                metric_flags: None,
                experiments: tags(),
            });
            size = 0;
        }
        size += 1;
        let Some(batch) = out.last_mut() else {
            continue;
        };
        match item {
            Item::Exposure(e) => batch.exposures.insert(0, e.clone()),
            Item::Metric(m) => batch.metrics.insert(0, m.clone()),
        }
    }
    out
}

/// The stream's items as the store receives them: each with the index of its batch.
fn arrivals(batches: &[EventBatch]) -> Vec<(usize, Item)> {
    let mut items: Vec<(usize, Item)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            let exposures = b
                .exposures
                .iter()
                .map(move |e| (i, Item::Exposure(e.clone())));
            let metrics = b.metrics.iter().map(move |m| (i, Item::Metric(m.clone())));
            exposures.chain(metrics)
        })
        .collect();
    items.sort_by_key(|(batch, item)| (*batch, item.at()));
    items
}

/// A unit's numbers, straight from the stream.
#[derive(Default, Clone, Copy)]
struct Own {
    value_sum: f64,
    value_count: f64,
    pre_sum: f64,
    pre_count: f64,
}

/// What the totals must be for `tag` over the items (see [`arrivals`]) before `until`.
fn expected(tag: &ExperimentTag, items: &[(usize, Item)], until: i64) -> Vec<ArmTotals> {
    let items: Vec<&(usize, Item)> = items.iter().filter(|(_, i)| i.at() < until).collect();
    // unit → (first exposure, variation, excluded, the batch of the first exposure)
    let mut units: BTreeMap<(String, String), (i64, String, bool, usize)> = BTreeMap::new();
    for (batch, item) in &items {
        let Item::Exposure(e) = item else { continue };
        if e.flag != tag.flag || e.at_ms < tag.started_ms {
            continue;
        }
        for p in &e.contexts {
            let unit = units.entry((p.kind.clone(), p.key.clone())).or_insert((
                e.at_ms,
                e.variation.clone(),
                false,
                *batch,
            ));
            if unit.1 != e.variation {
                unit.2 = true;
            }
        }
    }
    let mut windows = BTreeMap::new();
    let mut ratios = Vec::new();
    for m in &tag.metrics {
        windows.entry(m.event.clone()).or_insert(m.window_ms);
        if let Some(d) = &m.denominator {
            windows.entry(d.clone()).or_insert(m.window_ms);
            ratios.push((m.event.clone(), d.clone()));
        }
    }
    let mut own: BTreeMap<((String, String), String), Own> = BTreeMap::new();
    for (batch, item) in &items {
        let Item::Metric(m) = item else { continue };
        let Some(window) = windows.get(&m.name) else {
            continue;
        };
        for p in &m.contexts {
            let key = (p.kind.clone(), p.key.clone());
            let Some((first, _, false, exposed_in)) = units.get(&key) else {
                continue;
            };
            // After the start, an event of a unit whose exposure has not arrived yet is lost.
            let seen_exposed = m.at_ms < tag.started_ms || exposed_in <= batch;
            let slot = own.entry((key, m.name.clone())).or_default();
            if *first <= m.at_ms && m.at_ms <= first + window {
                slot.value_sum += m.value;
                slot.value_count += 1.0;
            } else if tag.started_ms - tag.pre_period_ms <= m.at_ms
                && m.at_ms < *first
                && seen_exposed
            {
                slot.pre_sum += m.value;
                slot.pre_count += 1.0;
            }
        }
    }
    let mut arms: BTreeMap<(String, String), ArmTotals> = BTreeMap::new();
    for (unit, (_, variation, excluded, _)) in &units {
        let arm = arms
            .entry((unit.0.clone(), variation.clone()))
            .or_insert_with(|| ArmTotals {
                unit_kind: unit.0.clone(),
                variation: variation.clone(),
                ..ArmTotals::default()
            });
        if *excluded {
            arm.excluded += 1;
            continue;
        }
        arm.units += 1;
        for metric in windows.keys() {
            let o = own
                .get(&(unit.clone(), metric.clone()))
                .copied()
                .unwrap_or_default();
            let b = if o.value_count > 0.0 { 1.0 } else { 0.0 };
            let pb = if o.pre_count > 0.0 { 1.0 } else { 0.0 };
            let m = &mut arm.metrics.entry(metric.clone()).or_default().moments;
            m.converted += b;
            m.pre_converted += pb;
            m.converted_cross += b * pb;
            m.count_sum += o.value_count;
            m.count_sum_sq += o.value_count * o.value_count;
            m.pre_count_sum += o.pre_count;
            m.pre_count_sum_sq += o.pre_count * o.pre_count;
            m.count_cross += o.value_count * o.pre_count;
            m.value_sum += o.value_sum;
            m.value_sum_sq += o.value_sum * o.value_sum;
            m.pre_value_sum += o.pre_sum;
            m.pre_value_sum_sq += o.pre_sum * o.pre_sum;
            m.value_cross += o.value_sum * o.pre_sum;
        }
        for (n, d) in &ratios {
            let value = |metric: &String| {
                own.get(&(unit.clone(), metric.clone()))
                    .map_or(0.0, |o| o.value_sum)
            };
            *arm.metrics
                .entry(n.clone())
                .or_default()
                .ratio_cross
                .entry(d.clone())
                .or_default() += value(n) * value(d);
        }
    }
    normalized(arms.into_values().collect())
}

/// Without the entries that are all zero (the store keeps a row a unit left; the computation
/// lists every metric).
fn normalized(arms: Vec<ArmTotals>) -> Vec<ArmTotals> {
    arms.into_iter()
        .map(|mut arm| {
            arm.metrics = std::mem::take(&mut arm.metrics)
                .into_iter()
                .map(|(metric, mut totals)| {
                    totals.ratio_cross.retain(|_, cross| *cross != 0.0);
                    (metric, totals)
                })
                .filter(|(_, t): &(String, MetricTotals)| {
                    t.moments != Moments::default() || !t.ratio_cross.is_empty()
                })
                .collect();
            arm
        })
        .filter(|arm| arm.units != 0 || arm.excluded != 0 || !arm.metrics.is_empty())
        .collect()
}

pub(crate) async fn experiment_totals_are_exact(store: Store) {
    let batches = batches(&stream(7, 120), 3);
    assert!(batches.len() > 20, "{} batches", batches.len());
    let span = |b: &EventBatch| {
        let days: BTreeSet<i64> = (b.exposures.iter().map(|e| e.at_ms))
            .chain(b.metrics.iter().map(|m| m.at_ms))
            .map(day_of)
            .collect();
        days.len()
    };
    assert!(
        batches.iter().any(|b| span(b) > 1),
        "a batch holds events of two UTC days"
    );
    let items = arrivals(&batches);
    for (i, batch) in batches.iter().enumerate() {
        let done = store
            .ingest_events_once(batch, &format!("batch-{i}"), batch.counted_at_ms)
            .await
            .unwrap();
        assert!(!done.duplicate);
    }
    // Retried batches change nothing.
    for i in [0, 5, batches.len() - 1] {
        let again = store
            .ingest_events_once(&batches[i], &format!("batch-{i}"), 0)
            .await
            .unwrap();
        assert!(again.duplicate);
    }
    for tag in tags() {
        let totals = store
            .experiment_totals("web", "prod", &tag.id, tag.phase)
            .await
            .unwrap();
        let want = expected(&tag, &items, i64::MAX);
        assert_eq!(normalized(totals.arms.clone()), want, "{}", tag.id);
        assert_eq!(totals.overflow, 0);
        let excluded: i64 = want.iter().map(|arm| arm.excluded).sum();
        let in_arms: i64 = want.iter().map(|arm| arm.units).sum();
        assert!(
            excluded > 0 && in_arms > 50,
            "{}: {excluded} excluded, {in_arms} units",
            tag.id
        );
        assert!(
            totals.stored >= in_arms + excluded,
            "pending units are stored too"
        );
        // Other phases and experiments see nothing.
        let other = store
            .experiment_totals("web", "prod", &tag.id, tag.phase + 1)
            .await
            .unwrap();
        assert!(other.arms.is_empty());
        let days = store
            .experiment_daily("web", "prod", &tag.id, tag.phase)
            .await
            .unwrap();
        assert!(days.len() >= 4, "{} days", days.len());
        for day in &days {
            assert_eq!(
                normalized(day.arms.clone()),
                expected(&tag, &items, day.day_ms + DAY),
                "{} as of {}",
                tag.id,
                day.day_ms
            );
        }
        let last = days.last().map(|d| normalized(d.arms.clone()));
        assert_eq!(last, Some(want));
    }
    // The statistics see a unit's value per kind: a proportion converts once, a count counts.
    let totals = store
        .experiment_totals("web", "prod", "e-checkout", 2)
        .await
        .unwrap();
    let arm = totals
        .arms
        .iter()
        .find(|a| a.unit_kind == "user" && a.variation == "control")
        .unwrap();
    use switchyard_stats::experiments::MetricKind;
    let proportion = arm.aggregate(MetricKind::Proportion, "purchase", None);
    let count = arm.aggregate(MetricKind::Count, "purchase", None);
    assert!(proportion.sum <= proportion.units as f64 && proportion.sum < count.sum);
    let ratio = arm.aggregate(MetricKind::Ratio, "revenue", Some("orders"));
    assert!(
        ratio
            .denominator
            .is_some_and(|d| d.sum > 0.0 && d.cross > 0.0)
    );
}

/// Units before the start, other flags, and metric events a client key may not count are out;
/// the cap stores a phase's first units and counts the rest; retention deletes unit rows of an
/// experiment stopped long enough ago and keeps its totals.
pub(crate) async fn experiment_units_are_bounded(store: Store) {
    let store = store.with_experiment_unit_cap(5);
    let tag = &tags()[0];
    let exposure = |user: u64, at_ms: i64| Exposure {
        at_ms,
        contexts: vec![part("user", format!("u{user}"))],
        flag: "checkout".into(),
        version: 1,
        variation: "treatment".into(),
        reason: "RULE_MATCH".into(),
        release: None,
    };
    let purchase = |user: u64, at_ms: i64| MetricEvent {
        at_ms,
        contexts: vec![part("user", format!("u{user}"))],
        name: "purchase".into(),
        value: 1.0,
        about: None,
    };
    let mut batch = EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: START,
        counts: Vec::new(),
        // u0 before the start: not a unit; u1…u3 units; u9 pending (pre-period only).
        exposures: vec![
            exposure(0, START - 1),
            exposure(1, START),
            exposure(2, START + 1),
            exposure(3, START + 2),
        ],
        metrics: vec![purchase(9, START - HOUR), purchase(1, START + HOUR)],
        metric_flags: None,
        experiments: vec![tag.clone()],
    };
    store.ingest_events(&batch).await.unwrap();
    // A client key's batch whose flags leave `checkout` out: its metric events do not count.
    batch.exposures.clear();
    batch.metrics = vec![purchase(2, START + HOUR)];
    batch.metric_flags = Some(["search".to_owned()].into());
    store.ingest_events(&batch).await.unwrap();
    let totals = store
        .experiment_totals("web", "prod", &tag.id, tag.phase)
        .await
        .unwrap();
    let arm = &totals.arms[0];
    assert_eq!((arm.variation.as_str(), arm.units), ("treatment", 3));
    assert_eq!(arm.metrics["purchase"].moments.converted, 1.0);
    assert_eq!((totals.stored, totals.overflow), (4, 0));
    // Past the cap of 5: u4 is stored, u5…u7 are counted only, u9 (already stored) joins.
    batch.metric_flags = None;
    batch.metrics.clear();
    batch.exposures = (4..8).map(|u| exposure(u, START + HOUR)).collect();
    batch.exposures.push(exposure(9, START + HOUR));
    store.ingest_events(&batch).await.unwrap();
    let totals = store
        .experiment_totals("web", "prod", &tag.id, tag.phase)
        .await
        .unwrap();
    assert_eq!(
        (totals.stored, totals.overflow, totals.arms[0].units),
        (5, 3, 5)
    );
    assert_eq!(
        totals.arms[0].metrics["purchase"].moments.pre_converted, 1.0,
        "u9's pre-period"
    );
    // Retention: not yet due, then due.
    let stopped = StoppedExperiment {
        project: "web".into(),
        env: "prod".into(),
        experiment: tag.id.clone(),
        stopped_ms: START + DAY,
    };
    let before_due = START + DAY + UNIT_RETENTION_MS - 1;
    assert_eq!(
        store
            .prune_experiment_units(std::slice::from_ref(&stopped), before_due)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_experiment_units(std::slice::from_ref(&stopped), before_due + 1)
            .await
            .unwrap(),
        5
    );
    // Once: the retention task names it again every hour.
    assert_eq!(
        store
            .prune_experiment_units(std::slice::from_ref(&stopped), before_due + 2)
            .await
            .unwrap(),
        0
    );
    let (left,): (i64,) =
        sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM experiment_unit_metrics")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(left, 0);
    let kept = store
        .experiment_totals("web", "prod", &tag.id, tag.phase)
        .await
        .unwrap();
    assert_eq!(kept, totals, "totals outlive the units");
}

/// Batches written at once (replicas, on PostgreSQL) add to the same units one after the other:
/// no update of a unit's numbers is lost, so Σ count² is what sequential writes give.
pub(crate) async fn concurrent_batches_lose_no_unit_update(store: Store) {
    let tag = tags()[0].clone();
    let user = |u: u64| vec![part("user", format!("u{u}"))];
    let batch = |exposures: Vec<Exposure>, metrics: Vec<MetricEvent>| EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: START,
        counts: Vec::new(),
        exposures,
        metrics,
        metric_flags: None,
        experiments: vec![tag.clone()],
    };
    let exposures = (0..10)
        .map(|u| Exposure {
            at_ms: START,
            contexts: user(u),
            flag: "checkout".into(),
            version: 1,
            variation: "control".into(),
            reason: "FALLTHROUGH".into(),
            release: None,
        })
        .collect();
    store
        .ingest_events(&batch(exposures, Vec::new()))
        .await
        .unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let metrics = (0..10)
                .map(|u| MetricEvent {
                    // A minute each: the flag's cohort rows (per minute) do not serialize them.
                    at_ms: START + HOUR + i * 60_000,
                    contexts: user(u),
                    name: "purchase".into(),
                    value: 1.0,
                    about: None,
                })
                .collect();
            let batch = batch(Vec::new(), metrics);
            tokio::spawn(async move { store.ingest_events(&batch).await.unwrap() })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let totals = store
        .experiment_totals("web", "prod", &tag.id, tag.phase)
        .await
        .unwrap();
    let purchase = totals.arms[0].metrics["purchase"].moments;
    assert_eq!((purchase.count_sum, purchase.count_sum_sq), (160.0, 2560.0));
}
