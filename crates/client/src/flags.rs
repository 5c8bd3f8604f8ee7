//! Flags, their targeting per environment, the kill switch and kill triggers, segments, and what
//! the events say about a flag (evaluations, exposures, metrics).

use serde::Serialize;
use serde_json::{Value, json};
use switchyard_engine::Segment;

use crate::types::{
    ActionInput, CohortStatistics, Deleted, EvaluationPoint, ExposedContextView, FlagInput,
    FlagView, Killed, SegmentView, TargetingInput, TargetingView, ToggleInput, Trigger,
    TriggerInput,
};
use crate::{Client, ClientError, Result, in_env, in_flag};

/// The filters of `GET /projects/{project}/flags`; `None` filters nothing.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagFilter<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// A time range in Unix milliseconds; the server's default (the last 24 h) where `None`.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TimeRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
}

/// The filters of a flag's exposures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ExposureQuery<'a> {
    #[serde(flatten)]
    pub range: TimeRange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// A segment to create or replace, with the version it is expected at and the audit comment.
/// (Built as JSON: the server's `SegmentInput` would name `version` twice when serialized, once
/// from the segment and once as the expected version.)
fn segment_body(segment: &Segment, version: Option<i64>, comment: Option<&str>) -> Result<Value> {
    let mut body = serde_json::to_value(segment).map_err(ClientError::Encode)?;
    body["version"] = json!(version);
    body["comment"] = json!(comment);
    Ok(body)
}

impl Client {
    pub async fn flags(&self, project: &str, filter: &FlagFilter<'_>) -> Result<Vec<FlagView>> {
        self.get_query(&["projects", project, "flags"], filter)
            .await
    }

    /// A flag with the targeting of every environment the caller may read.
    pub async fn flag(&self, project: &str, flag: &str) -> Result<FlagView> {
        self.get(&["projects", project, "flags", flag]).await
    }

    pub async fn create_flag(&self, project: &str, input: &FlagInput) -> Result<FlagView> {
        self.post(&["projects", project, "flags"], input).await
    }

    pub async fn update_flag(&self, project: &str, input: &FlagInput) -> Result<FlagView> {
        let key = input.spec.key.as_str();
        self.put(&["projects", project, "flags", key], input).await
    }

    pub async fn delete_flag(
        &self,
        project: &str,
        flag: &str,
        comment: Option<&str>,
    ) -> Result<Deleted> {
        self.delete(&["projects", project, "flags", flag], comment)
            .await
    }

    pub async fn targeting(&self, project: &str, env: &str, flag: &str) -> Result<TargetingView> {
        self.get(&in_flag((project, env, flag), &[])).await
    }

    pub async fn update_targeting(
        &self,
        project: &str,
        env: &str,
        flag: &str,
        input: &TargetingInput,
    ) -> Result<TargetingView> {
        self.put(&in_flag((project, env, flag), &[]), input).await
    }

    /// Turns a flag on or off in one environment (flips it when `on` is `None`).
    pub async fn toggle(
        &self,
        project: &str,
        env: &str,
        flag: &str,
        input: &ToggleInput,
    ) -> Result<TargetingView> {
        let path = in_flag((project, env, flag), &["toggle"]);
        self.post(&path, input).await
    }

    /// The kill switch: off in `env`, and the flag's active releases there aborted.
    pub async fn kill(
        &self,
        project: &str,
        env: &str,
        flag: &str,
        input: &ActionInput,
    ) -> Result<Killed> {
        let path = in_flag((project, env, flag), &["kill"]);
        self.post(&path, input).await
    }

    pub async fn triggers(&self, project: &str, env: &str, flag: &str) -> Result<Vec<Trigger>> {
        let path = in_flag((project, env, flag), &["triggers"]);
        self.get(&path).await
    }

    /// Creates a kill trigger; its URL is in the answer, once.
    pub async fn create_trigger(
        &self,
        project: &str,
        env: &str,
        flag: &str,
        input: &TriggerInput,
    ) -> Result<Trigger> {
        let path = in_flag((project, env, flag), &["triggers"]);
        self.post(&path, input).await
    }

    pub async fn delete_trigger(
        &self,
        (project, env, flag): (&str, &str, &str),
        id: &str,
        comment: Option<&str>,
    ) -> Result<Deleted> {
        let path = in_flag((project, env, flag), &["triggers", id]);
        self.delete(&path, comment).await
    }

    /// A flag's evaluations per minute, version, variation and reason.
    pub async fn evaluations(
        &self,
        (project, env, flag): (&str, &str, &str),
        range: &TimeRange,
    ) -> Result<Vec<EvaluationPoint>> {
        let path = in_flag((project, env, flag), &["evaluations"]);
        self.get_query(&path, range).await
    }

    /// Contexts exposed to a flag, most recently seen first.
    pub async fn exposures(
        &self,
        (project, env, flag): (&str, &str, &str),
        query: &ExposureQuery<'_>,
    ) -> Result<Vec<ExposedContextView>> {
        let path = in_flag((project, env, flag), &["exposures"]);
        self.get_query(&path, query).await
    }

    /// Each metric's statistics per variation cohort of a flag.
    pub async fn metrics(
        &self,
        (project, env, flag): (&str, &str, &str),
        range: &TimeRange,
    ) -> Result<Vec<CohortStatistics>> {
        let path = in_flag((project, env, flag), &["metrics"]);
        self.get_query(&path, range).await
    }

    pub async fn segments(&self, project: &str, env: &str) -> Result<Vec<SegmentView>> {
        self.get(&in_env((project, env), &["segments"])).await
    }

    pub async fn segment(&self, project: &str, env: &str, segment: &str) -> Result<SegmentView> {
        let path = in_env((project, env), &["segments", segment]);
        self.get(&path).await
    }

    /// Creates `segment`. (The server's `SegmentInput` would name `version` twice when
    /// serialized, once from the segment, so the body is built here.)
    pub async fn create_segment(
        &self,
        project: &str,
        env: &str,
        segment: &Segment,
        comment: Option<&str>,
    ) -> Result<SegmentView> {
        let body = segment_body(segment, None, comment)?;
        self.post(&in_env((project, env), &["segments"]), &body)
            .await
    }

    /// Replaces a segment that is at `version`.
    pub async fn update_segment(
        &self,
        (project, env): (&str, &str),
        segment: &Segment,
        version: i64,
        comment: Option<&str>,
    ) -> Result<SegmentView> {
        let key = segment.key.as_str();
        let path = in_env((project, env), &["segments", key]);
        let body = segment_body(segment, Some(version), comment)?;
        self.put(&path, &body).await
    }

    pub async fn delete_segment(
        &self,
        project: &str,
        env: &str,
        segment: &str,
        comment: Option<&str>,
    ) -> Result<Deleted> {
        let path = in_env((project, env), &["segments", segment]);
        self.delete(&path, comment).await
    }
}
