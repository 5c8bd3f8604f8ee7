//! A metric: what an experiment measures, defined once per project (kind `metric`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::record::Record;
use crate::error::Invalid;

/// The longest analysis or pre-period window, in hours (90 days).
pub const MAX_WINDOW_HOURS: u32 = 2160;

/// What a metric counts per unit (`docs/experiments.md`, "Input").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Converted at least once (the unit sent the event at least once).
    Proportion,
    /// How many times the unit sent the event.
    Count,
    /// The sum of the event's values per unit.
    Mean,
    /// The event's values over `denominator_event`'s (revenue per order).
    Ratio,
}

/// Which way a metric should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    IncreaseIsGood,
    DecreaseIsGood,
}

/// The analysis window when a metric names none, in hours.
pub const DEFAULT_WINDOW_HOURS: u32 = 72;

fn default_window_hours() -> u32 {
    DEFAULT_WINDOW_HOURS
}

/// A metric, defined once per project (kind `metric`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The `track` event name it reads.
    pub event: String,
    pub kind: MetricKind,
    /// Ratio metrics only (required there): the event whose values are the denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_event: Option<String>,
    pub direction: Direction,
    /// The relative minimum detectable effect (0.02 = 2 %), above 0.
    pub mde: f64,
    /// The analysis window after a unit's first exposure, in hours (default 72, 1..=2160).
    #[serde(default = "default_window_hours")]
    pub window_hours: u32,
}

impl Record for Metric {
    const KIND: &'static str = "metric";
}

impl Metric {
    /// Checks the fields together; the key is checked by the API with every other key.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.event.trim().is_empty() {
            return Err(Invalid::new(
                "event",
                "name the `track` event the metric reads",
            ));
        }
        match (self.kind, &self.denominator_event) {
            (MetricKind::Ratio, None) => {
                return Err(Invalid::new(
                    "denominator_event",
                    "a ratio metric needs a denominator_event (orders, for revenue per order)",
                ));
            }
            (MetricKind::Ratio, Some(event)) if event.trim().is_empty() => {
                return Err(Invalid::new("denominator_event", "must name an event"));
            }
            (kind, Some(_)) if kind != MetricKind::Ratio => {
                return Err(Invalid::new(
                    "denominator_event",
                    "only a ratio metric has a denominator_event",
                ));
            }
            _ => {}
        }
        if !(self.mde.is_finite() && self.mde > 0.0) {
            return Err(Invalid::new(
                "mde",
                "the minimum detectable effect is a relative change above 0 (0.02 = 2 %)",
            ));
        }
        if !(1..=MAX_WINDOW_HOURS).contains(&self.window_hours) {
            return Err(Invalid::new(
                "window_hours",
                format!("must be 1 to {MAX_WINDOW_HOURS} hours"),
            ));
        }
        Ok(())
    }
}
