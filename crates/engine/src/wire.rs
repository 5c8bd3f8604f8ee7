//! The delivery format (version [`FORMAT`]) that servers and relays send to SDKs: a full
//! [`FlagData`] snapshot, then [`Patch`]es. Documented in `docs/delivery.md`. Pure data: the
//! server encodes it, the SDK decodes it, neither shares any other code with the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Dataset, Flag, Segment};

/// The version of the snapshot and stream format. A breaking change gets a new number (and a new
/// path, `/sdk/v2/…`); adding optional fields does not.
pub const FORMAT: u32 = 1;

/// Everything one environment serves, at one revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagData {
    pub format: u32,
    /// The store revision this data reflects; streams use it as the event id.
    pub revision: i64,
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
    #[serde(default)]
    pub segments: BTreeMap<String, Segment>,
}

/// What changed between two revisions: the new state of every changed flag and segment, `null`
/// for a deleted one. Applying a patch to data at any revision from `base` to `revision`
/// yields the data at `revision` (patches carry whole values, so re-applying is harmless).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    pub base: i64,
    pub revision: i64,
    #[serde(default)]
    pub flags: BTreeMap<String, Option<Flag>>,
    #[serde(default)]
    pub segments: BTreeMap<String, Option<Segment>>,
}

impl FlagData {
    pub fn apply(&mut self, patch: Patch) {
        for (key, flag) in patch.flags {
            match flag {
                Some(flag) => self.flags.insert(key, flag),
                None => self.flags.remove(&key),
            };
        }
        for (key, segment) in patch.segments {
            match segment {
                Some(segment) => self.segments.insert(key, segment),
                None => self.segments.remove(&key),
            };
        }
        self.revision = patch.revision;
    }

    /// The flags and segments as the compiler takes them.
    pub fn dataset(&self) -> Dataset {
        Dataset {
            flags: self.flags.values().cloned().collect(),
            segments: self.segments.values().cloned().collect(),
        }
    }

    /// The patch that turns `self` into `next`.
    pub fn diff(&self, next: &FlagData) -> Patch {
        Patch {
            base: self.revision,
            revision: next.revision,
            flags: changed(&self.flags, &next.flags),
            segments: changed(&self.segments, &next.segments),
        }
    }
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty() && self.segments.is_empty()
    }

    /// This patch followed by `later`.
    pub fn then(mut self, later: &Patch) -> Patch {
        self.flags
            .extend(later.flags.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.segments
            .extend(later.segments.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.revision = later.revision;
        self
    }
}

fn changed<T: Clone + PartialEq>(
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
) -> BTreeMap<String, Option<T>> {
    let mut patch: BTreeMap<String, Option<T>> = after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(value))
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    for key in before.keys().filter(|key| !after.contains_key(*key)) {
        patch.insert(key.clone(), None);
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(key: &str, on: bool) -> Flag {
        serde_json::from_value(serde_json::json!({
            "key": key, "kind": "boolean",
            "variations": [{"key": "on", "value": true}, {"key": "off", "value": false}],
            "on": on, "off_variation": 1, "fallthrough": {"variation": 0}
        }))
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn data(revision: i64, flags: &[Flag]) -> FlagData {
        FlagData {
            format: FORMAT,
            revision,
            flags: flags.iter().map(|f| (f.key.clone(), f.clone())).collect(),
            segments: BTreeMap::new(),
        }
    }

    #[test]
    fn diff_then_apply_reproduces_the_target_and_chained_patches_merge() {
        let v1 = data(1, &[flag("a", false), flag("b", false)]);
        let v2 = data(2, &[flag("a", true), flag("b", false), flag("c", true)]);
        let v3 = data(3, &[flag("a", true), flag("c", false)]);
        let (p12, p23) = (v1.diff(&v2), v2.diff(&v3));
        assert_eq!(p12.flags.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(p23.flags.get("b"), Some(&None), "a deletion is a null");
        let mut applied = v1.clone();
        applied.apply(p12.clone());
        applied.apply(p23.clone());
        assert_eq!(applied, v3);
        let mut merged = v1.clone();
        merged.apply(p12.then(&p23));
        assert_eq!(merged, v3);
        assert!(v3.diff(&v3).is_empty());
    }
}

/// The version of the events format (`POST /events/v1/bulk`, documented in `docs/events.md`).
pub const EVENTS_FORMAT: u32 = 1;

/// What an SDK sends in one `POST /events/v1/bulk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub format: u32,
    /// The sender's id for this batch, the same on every retry of it: the server counts a batch
    /// once per id (`docs/events.md`, "Batch ids"). Absent from older senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The sender, such as `switchyard-rust/0.1.0`.
    #[serde(default)]
    pub sdk: String,
    /// The window the summaries cover, in Unix ms.
    pub start_ms: i64,
    pub end_ms: i64,
    #[serde(default)]
    pub summaries: Vec<EvaluationSummary>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Events the sender dropped since its previous batch (its queue was full).
    #[serde(default)]
    pub dropped: u64,
    /// Set by a relay on a batch a public client key posted to it: the receiver counts its
    /// metric events only toward client-visible flags, whatever key forwards it. It only
    /// narrows what a batch may count toward, so any key may set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_visible_only: bool,
}

/// Evaluations of one flag version's variation for one reason kind, within the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    pub flag: String,
    pub version: u64,
    /// `None`: the caller's default was served.
    pub variation: Option<String>,
    /// The reason's kind: `OFF`, `TARGET_MATCH`, `RULE_MATCH`, `FALLTHROUGH`,
    /// `PREREQUISITE_FAILED` or `ERROR`.
    pub reason: String,
    /// Set when a release layer decided the serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseCohortRef>,
    pub count: u64,
}

/// The release stage and cohort an evaluation fell in (owned [`crate::ReleaseCohort`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReleaseCohortRef {
    pub stage: String,
    pub cohort: crate::Cohort,
}

impl From<crate::ReleaseCohort<'_>> for ReleaseCohortRef {
    fn from(cohort: crate::ReleaseCohort<'_>) -> ReleaseCohortRef {
        ReleaseCohortRef {
            stage: cohort.stage.to_owned(),
            cohort: cohort.cohort,
        }
    }
}

/// One context part an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRef {
    pub kind: String,
    pub key: String,
}

/// An exposure (a context's first sight of a flag variation) or a metric event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Exposure {
        at_ms: i64,
        contexts: Vec<ContextRef>,
        flag: String,
        version: u64,
        variation: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohortRef>,
    },
    Metric {
        at_ms: i64,
        contexts: Vec<ContextRef>,
        name: String,
        value: f64,
    },
}
