//! A batch's experiment units, within the batch's transaction (`experiments.rs` describes the
//! data). Per running experiment the batch names, in this order:
//! 1. the experiment's head row is locked (PostgreSQL replicas writing the same experiment take
//!    turns; experiments are taken in id order, so two batches cannot deadlock);
//! 2. the units the batch touches are read with their per-metric values, one statement per
//!    kind (the keys as one JSON array);
//! 3. exposures (oldest first) make units, or exclude a unit exposed to a second variation (its
//!    contributions leave its arm's totals); then metric events add to a unit's window values or
//!    its pre-period covariate;
//! 4. the changed unit rows, and the totals' and days' changes, are written in one script (one
//!    call on SQLite).
//!
//! A batch naming no experiment costs nothing here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;

use super::experiments::{ExperimentTag, Moments, day_of};
use super::{AnyQuery, EventBatch, Exposure, MetricEvent};
use crate::{Result, Store};

mod rows;

use rows::{load_units, save};

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;
/// (context kind, context key).
type UnitKey = (String, String);
/// (unit kind, variation, metric, denominator): a totals row.
type TotalsKey = (String, String, String, String);

#[derive(Debug, Clone)]
struct Unit {
    /// `""`: not exposed yet (only pre-period values).
    variation: String,
    first_exposure: i64,
    excluded_at: Option<i64>,
    changed: bool,
}

/// A unit's own numbers for one metric event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct UnitValues {
    value_sum: f64,
    value_count: i64,
    pre_sum: f64,
    pre_count: i64,
}

impl UnitValues {
    /// The unit's contribution to its arm's [`Moments`] (without the ratio cross).
    fn moments(&self) -> Moments {
        let b = f64::from(u8::from(self.value_count > 0));
        let pb = f64::from(u8::from(self.pre_count > 0));
        let (c, pc) = (self.value_count as f64, self.pre_count as f64);
        let (s, ps) = (self.value_sum, self.pre_sum);
        Moments {
            converted: b,
            pre_converted: pb,
            converted_cross: b * pb,
            count_sum: c,
            count_sum_sq: c * c,
            pre_count_sum: pc,
            pre_count_sum_sq: pc * pc,
            count_cross: c * pc,
            value_sum: s,
            value_sum_sq: s * s,
            pre_value_sum: ps,
            pre_value_sum_sq: ps * ps,
            value_cross: s * ps,
            ratio_cross: 0.0,
        }
    }
}

/// A change to one totals row.
#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    units: i64,
    excluded: i64,
    moments: Moments,
}

/// One experiment's share of a batch, worked out in memory.
struct Work<'b> {
    tag: &'b ExperimentTag,
    /// metric event → its analysis window.
    windows: BTreeMap<&'b str, i64>,
    /// (numerator, denominator) events of ratio metrics.
    ratios: BTreeSet<(&'b str, &'b str)>,
    units: HashMap<UnitKey, Unit>,
    values: HashMap<(UnitKey, String), (UnitValues, bool)>,
    totals: BTreeMap<TotalsKey, Delta>,
    daily: BTreeMap<(i64, TotalsKey), Delta>,
    /// Units the phase may still store.
    room: u64,
    added: i64,
    overflow: i64,
}

impl<'b> Work<'b> {
    fn new(tag: &'b ExperimentTag, room: u64) -> Self {
        let mut windows = BTreeMap::new();
        let mut ratios = BTreeSet::new();
        for metric in &tag.metrics {
            windows
                .entry(metric.event.as_str())
                .or_insert(metric.window_ms);
            if let Some(denominator) = &metric.denominator {
                windows
                    .entry(denominator.as_str())
                    .or_insert(metric.window_ms);
                ratios.insert((metric.event.as_str(), denominator.as_str()));
            }
        }
        Work {
            tag,
            windows,
            ratios,
            units: HashMap::new(),
            values: HashMap::new(),
            totals: BTreeMap::new(),
            daily: BTreeMap::new(),
            room,
            added: 0,
            overflow: 0,
        }
    }

    fn value(&self, unit: &UnitKey, metric: &str) -> UnitValues {
        self.values
            .get(&(unit.clone(), metric.to_owned()))
            .map(|(values, _)| *values)
            .unwrap_or_default()
    }

    /// Files `delta` under the totals row and the day's row.
    fn file(&mut self, day: i64, key: TotalsKey, delta: Delta) {
        for slot in [
            self.totals.entry(key.clone()).or_default(),
            self.daily.entry((day, key)).or_default(),
        ] {
            slot.units += delta.units;
            slot.excluded += delta.excluded;
            slot.moments.add(&delta.moments, 1.0);
        }
    }

    /// Adds (`sign` 1) or removes (−1) every contribution of `unit` to the arm `variation`.
    fn contribute(&mut self, unit: &UnitKey, variation: &str, day: i64, sign: f64) {
        let arm = |metric: &str, denominator: &str| {
            (
                unit.0.clone(),
                variation.to_owned(),
                metric.to_owned(),
                denominator.to_owned(),
            )
        };
        let metrics: Vec<&str> = self.windows.keys().copied().collect();
        for metric in metrics {
            let values = self.value(unit, metric);
            if values != UnitValues::default() {
                let mut moments = Moments::default();
                moments.add(&values.moments(), sign);
                let delta = Delta {
                    moments,
                    ..Delta::default()
                };
                self.file(day, arm(metric, ""), delta);
            }
        }
        let ratios: Vec<(&str, &str)> = self.ratios.iter().copied().collect();
        for (numerator, denominator) in ratios {
            let cross =
                self.value(unit, numerator).value_sum * self.value(unit, denominator).value_sum;
            if cross != 0.0 {
                let moments = Moments {
                    ratio_cross: sign * cross,
                    ..Moments::default()
                };
                self.file(
                    day,
                    arm(numerator, denominator),
                    Delta {
                        moments,
                        ..Delta::default()
                    },
                );
            }
        }
    }

    /// A new stored unit, if the phase has room for it.
    fn admit(&mut self, part: &UnitKey, variation: &str, at_ms: i64) -> bool {
        if self.room == 0 {
            return false;
        }
        self.room -= 1;
        self.added += 1;
        let unit = Unit {
            variation: variation.to_owned(),
            first_exposure: if variation.is_empty() { 0 } else { at_ms },
            excluded_at: None,
            changed: true,
        };
        self.units.insert(part.clone(), unit);
        true
    }

    fn expose(&mut self, exposure: &Exposure, part: UnitKey) {
        let (at, day) = (exposure.at_ms, day_of(exposure.at_ms));
        let variation = exposure.variation.as_str();
        let arm_units = |units: i64, excluded: i64| Delta {
            units,
            excluded,
            moments: Moments::default(),
        };
        let Some(unit) = self.units.get_mut(&part) else {
            if self.admit(&part, variation, at) {
                self.file(
                    day,
                    (part.0, variation.to_owned(), String::new(), String::new()),
                    arm_units(1, 0),
                );
            } else {
                self.overflow += 1;
            }
            return;
        };
        if unit.excluded_at.is_some() || unit.variation == variation {
            return;
        }
        unit.changed = true;
        if unit.variation.is_empty() {
            unit.variation = variation.to_owned();
            unit.first_exposure = at;
            self.file(
                day,
                (
                    part.0.clone(),
                    variation.to_owned(),
                    String::new(),
                    String::new(),
                ),
                arm_units(1, 0),
            );
            self.contribute(&part, variation, day, 1.0);
        } else {
            unit.excluded_at = Some(at);
            let first = unit.variation.clone();
            self.file(
                day,
                (part.0.clone(), first.clone(), String::new(), String::new()),
                arm_units(-1, 1),
            );
            self.contribute(&part, &first, day, -1.0);
        }
    }

    fn measure(&mut self, event: &MetricEvent, part: UnitKey) {
        let Some(&window) = self.windows.get(event.name.as_str()) else {
            return;
        };
        let at = event.at_ms;
        let exposed = self
            .units
            .get(&part)
            .is_some_and(|unit| !unit.variation.is_empty());
        // A unit not exposed yet has only a pre-period: a later event is no covariate, and its
        // outcome counts only after an exposure the store has seen.
        if !exposed && at >= self.tag.started_ms {
            return;
        }
        if !self.units.contains_key(&part) && !self.admit(&part, "", at) {
            return;
        }
        let Some(unit) = self.units.get(&part).cloned() else {
            return;
        };
        if unit.excluded_at.is_some() {
            return;
        }
        // A pre-period event enters the arm's totals with its unit, on the exposure's day: the
        // daily cut must not count it before the unit is counted (a batch may span two days).
        let day = day_of(at.max(unit.first_exposure));
        let in_window = exposed
            && unit.first_exposure <= at
            && at <= unit.first_exposure.saturating_add(window);
        let before = !exposed || at < unit.first_exposure;
        if !in_window && !before {
            return;
        }
        let ratios: Vec<(&str, &str)> = self
            .ratios
            .iter()
            .copied()
            .filter(|(n, d)| *n == event.name || *d == event.name)
            .collect();
        let crosses_before: Vec<f64> = ratios
            .iter()
            .map(|(n, d)| self.value(&part, n).value_sum * self.value(&part, d).value_sum)
            .collect();
        let old = self.value(&part, &event.name);
        let mut new = old;
        if in_window {
            new.value_sum += event.value;
            new.value_count += 1;
        } else {
            new.pre_sum += event.value;
            new.pre_count += 1;
        }
        self.values
            .insert((part.clone(), event.name.clone()), (new, true));
        if !exposed {
            return;
        }
        let mut moments = new.moments();
        moments.add(&old.moments(), -1.0);
        let key = |metric: &str, denominator: &str| {
            (
                part.0.clone(),
                unit.variation.clone(),
                metric.to_owned(),
                denominator.to_owned(),
            )
        };
        self.file(
            day,
            key(&event.name, ""),
            Delta {
                moments,
                ..Delta::default()
            },
        );
        for ((n, d), before) in ratios.into_iter().zip(crosses_before) {
            let after = self.value(&part, n).value_sum * self.value(&part, d).value_sum;
            let moments = Moments {
                ratio_cross: after - before,
                ..Moments::default()
            };
            self.file(
                day,
                key(n, d),
                Delta {
                    moments,
                    ..Delta::default()
                },
            );
        }
    }
}

impl EventBatch {
    /// A statement on one experiment phase, with `$1`…`$4` bound to the batch's project and env,
    /// the experiment and its phase.
    fn on_experiment<'q>(&'q self, tag: &'q ExperimentTag, sql: &'q str) -> AnyQuery<'q> {
        self.statement(sql).bind(&tag.id).bind(tag.phase)
    }
}

impl Store {
    /// Adds the batch's exposures and metric events to each experiment it names.
    pub(super) async fn write_experiments(
        &self,
        tx: &mut Tx<'_>,
        batch: &EventBatch,
    ) -> Result<()> {
        if batch.experiments.is_empty() {
            return Ok(());
        }
        let mut tags: Vec<&ExperimentTag> = batch.experiments.iter().collect();
        tags.sort_by(|a, b| (&a.id, a.phase).cmp(&(&b.id, b.phase)));
        tags.dedup_by(|a, b| (&a.id, a.phase) == (&b.id, b.phase));
        for tag in tags {
            self.write_experiment(tx, batch, tag).await?;
        }
        Ok(())
    }

    async fn write_experiment(
        &self,
        tx: &mut Tx<'_>,
        batch: &EventBatch,
        tag: &ExperimentTag,
    ) -> Result<()> {
        // Exposures the server found outside the experiment (its untracked rest) make no unit.
        let outside: BTreeSet<usize> = tag.outside.iter().copied().collect();
        let mut exposures: Vec<&Exposure> = batch
            .exposures
            .iter()
            .enumerate()
            .filter(|(i, _)| !outside.contains(i))
            .map(|(_, e)| e)
            .filter(|e| e.flag == tag.flag && e.at_ms >= tag.started_ms)
            .collect();
        exposures.sort_by_key(|e| e.at_ms);
        let earliest = tag.started_ms.saturating_sub(tag.pre_period_ms);
        let probe = Work::new(tag, 0);
        // A public client key's batch counts toward client-visible flags only.
        let counts = batch
            .metric_flags
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&tag.flag));
        let mut metrics: Vec<&MetricEvent> = if counts {
            batch
                .metrics
                .iter()
                .filter(|m| m.at_ms >= earliest && probe.windows.contains_key(m.name.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        // In time order, as the exposures: a unit's running sums are cut by UTC day, and a
        // non-linear sum (a square, a ratio's cross) filed out of order lands on the wrong day.
        metrics.sort_by_key(|m| m.at_ms);
        if exposures.is_empty() && metrics.is_empty() {
            return Ok(());
        }
        let head = batch
            .on_experiment(
                tag,
                "INSERT INTO experiment_heads (project, env, experiment, phase, stored, overflow) \
                 VALUES ($1, $2, $3, $4, 0, 0) ON CONFLICT (project, env, experiment, phase) \
                 DO UPDATE SET stored = experiment_heads.stored RETURNING stored",
            )
            .fetch_one(&mut **tx)
            .await?;
        let stored: i64 = head.try_get(0)?;
        let room = self
            .experiment_unit_cap
            .saturating_sub(u64::try_from(stored).unwrap_or(0));
        let mut work = Work::new(tag, room);
        let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let parts = exposures
            .iter()
            .flat_map(|e| &e.contexts)
            .chain(metrics.iter().flat_map(|m| &m.contexts));
        for part in parts {
            keys.entry(&part.kind).or_default().insert(&part.key);
        }
        load_units(tx, self.backend, batch, &mut work, &keys).await?;
        for exposure in exposures {
            for part in &exposure.contexts {
                work.expose(exposure, (part.kind.clone(), part.key.clone()));
            }
        }
        for event in metrics {
            for part in &event.contexts {
                work.measure(event, (part.kind.clone(), part.key.clone()));
            }
        }
        save(tx, self.backend, batch, &work).await
    }
}
