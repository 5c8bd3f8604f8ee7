//! Checking an intake batch as a whole and converting it for the store: the first problem is a
//! `422` naming its field (`events[3].value`).

use switchyard_engine::wire::{EVENTS_FORMAT, Event, EventBatch, ReleaseCohortRef};
use switchyard_store::events::{
    ContextPart, EvaluationCount, EventBatch as StoredBatch, Exposure, MetricEvent, ReleaseTag,
};

use super::{BATCH_ID_LEN, MAX_BATCH_ITEMS, MAX_NAME_LEN};
use crate::error::{ApiError, Code};

/// Checks the whole batch and converts it for the store; the first problem names its field.
pub(super) fn check(batch: &EventBatch, project: &str, env: &str) -> Result<StoredBatch, ApiError> {
    check_taking(&mut batch.clone(), project, env)
}

/// [`check`], moving the batch's summaries and events into the stored batch instead of copying
/// them (a 2,000-event batch holds ~10,000 strings): they are left empty, whatever the result.
pub(super) fn check_taking(
    batch: &mut EventBatch,
    project: &str,
    env: &str,
) -> Result<StoredBatch, ApiError> {
    if batch.format != EVENTS_FORMAT {
        return Err(ApiError::invalid(
            "format",
            format!("events format {} is not supported (1 is)", batch.format),
        ));
    }
    if let Some(batch_id) = &batch.batch_id {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !BATCH_ID_LEN.contains(&batch_id.len()) || !batch_id.chars().all(allowed) {
            return Err(ApiError::invalid(
                "batch_id",
                "must be 16 to 64 letters, digits, '-' or '_'",
            ));
        }
    }
    if batch.summaries.len() + batch.events.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!("at most {MAX_BATCH_ITEMS} summaries and events per batch"),
        ));
    }
    let mut stored = StoredBatch {
        project: project.to_owned(),
        env: env.to_owned(),
        counted_at_ms: batch.end_ms,
        counts: Vec::with_capacity(batch.summaries.len()),
        exposures: Vec::new(),
        metrics: Vec::new(),
        metric_flags: None,
        experiments: Vec::new(),
    };
    let (summaries, events) = (
        std::mem::take(&mut batch.summaries),
        std::mem::take(&mut batch.events),
    );
    for (i, summary) in summaries.into_iter().enumerate() {
        let field = |f: &str| format!("summaries[{i}].{f}");
        stored.counts.push(EvaluationCount {
            flag: checked_name(|| field("flag"), summary.flag)?,
            version: checked_version(|| field("version"), summary.version)?,
            variation: match summary.variation {
                Some(variation) => checked_name(|| field("variation"), variation)?,
                None => String::new(),
            },
            reason: checked_name(|| field("reason"), summary.reason)?,
            release: release_tag(|| field("release"), summary.release)?,
            count: i64::try_from(summary.count)
                .map_err(|_| ApiError::invalid(field("count"), "out of range"))?,
        });
    }
    stored.exposures.reserve(events.len());
    stored.metrics.reserve(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let field = |f: &str| format!("events[{i}].{f}");
        match event {
            Event::Exposure {
                at_ms,
                contexts: parts,
                flag,
                version: v,
                variation,
                reason,
                release,
            } => stored.exposures.push(Exposure {
                at_ms,
                contexts: contexts(|| field("contexts"), parts)?,
                flag: checked_name(|| field("flag"), flag)?,
                version: checked_version(|| field("version"), v)?,
                variation: checked_name(|| field("variation"), variation)?,
                reason: checked_name(|| field("reason"), reason)?,
                release: release_tag(|| field("release"), release)?,
            }),
            Event::Metric {
                at_ms,
                contexts: parts,
                name: metric,
                value,
            } => {
                if !value.is_finite() {
                    return Err(ApiError::invalid(field("value"), "must be a finite number"));
                }
                stored.metrics.push(MetricEvent {
                    at_ms,
                    contexts: contexts(|| field("contexts"), parts)?,
                    name: checked_name(|| field("name"), metric)?,
                    value,
                    about: None,
                });
            }
        }
    }
    Ok(stored)
}

// The field names below are formatted only for an error: a batch of 2,000 events has ~10,000
// of them, and formatting each one up front was a measurable part of a batch's intake.

fn checked_name(field: impl FnOnce() -> String, value: String) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        Err(ApiError::invalid(
            field(),
            format!("must be 1 to {MAX_NAME_LEN} bytes"),
        ))
    } else {
        Ok(value)
    }
}

fn release_tag(
    field: impl FnOnce() -> String,
    release: Option<ReleaseCohortRef>,
) -> Result<Option<ReleaseTag>, ApiError> {
    release
        .map(|release| {
            Ok(ReleaseTag {
                stage: checked_name(|| format!("{}.stage", field()), release.stage)?,
                cohort: release.cohort.name().to_owned(),
            })
        })
        .transpose()
}

fn checked_version(field: impl FnOnce() -> String, version: u64) -> Result<i64, ApiError> {
    i64::try_from(version).map_err(|_| ApiError::invalid(field(), "out of range"))
}

fn contexts(
    field: impl Fn() -> String,
    parts: Vec<switchyard_engine::wire::ContextRef>,
) -> Result<Vec<ContextPart>, ApiError> {
    if parts.is_empty() {
        return Err(ApiError::invalid(field(), "at least one context"));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            Ok(ContextPart {
                kind: checked_name(|| format!("{}[{i}].kind", field()), part.kind)?,
                // An anonymous context may have an empty key; it is still a context.
                key: part.key,
            })
        })
        .collect()
}
