//! The filters of flag lists and of what the events say about a flag, and the segment writes,
//! whose body the client builds. (The other endpoints are in the `endpoints!` table.)
//!
//! A query's `None` sends nothing: the query string leaves it out.

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_engine::Segment;

use crate::types::SegmentView;
use crate::{Client, ClientError, Result};

/// The filters of `GET /projects/{project}/flags`; `None` filters nothing.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagFilter<'a> {
    pub q: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub archived: Option<bool>,
}

/// The window of the stale-flags report, in days (`None`: the server's default, 30).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct StaleQuery {
    pub days: Option<i64>,
}

/// A time range in Unix milliseconds; the server's default (the last 24 h) where `None`.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The filters of a flag's exposures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ExposureQuery<'a> {
    #[serde(flatten)]
    pub range: TimeRange,
    pub variation: Option<&'a str>,
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
        let path = "/projects/{project}/environments/{env}/segments";
        let request = self.endpoint(Method::POST, path, &[project, env])?;
        self.send(request.json(&body)).await
    }

    /// Replaces a segment that is at `version`.
    pub async fn update_segment(
        &self,
        project: &str,
        env: &str,
        segment: &Segment,
        version: i64,
        comment: Option<&str>,
    ) -> Result<SegmentView> {
        let body = segment_body(segment, Some(version), comment)?;
        let path = "/projects/{project}/environments/{env}/segments/{segment}";
        let request = self.endpoint(Method::PUT, path, &[project, env, &segment.key])?;
        self.send(request.json(&body)).await
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::{ExposureQuery, FlagFilter, TimeRange};
    use crate::{AuditQuery, MeQuery};

    /// The query string `query` makes: absent filters send nothing.
    fn query_of(query: &impl Serialize) -> Option<String> {
        let request = reqwest::Client::new().get("http://switchyard.test/");
        let request = request.query(query).build().ok()?;
        request.url().query().map(str::to_owned)
    }

    #[test]
    fn absent_filters_send_nothing() {
        let range = TimeRange {
            from: Some(1),
            to: None,
        };
        let exposures = ExposureQuery {
            range,
            variation: None,
            limit: Some(5),
        };
        assert_eq!(query_of(&exposures).as_deref(), Some("from=1&limit=5"));
        assert_eq!(query_of(&ExposureQuery::default()), None);
        let filter = FlagFilter {
            archived: Some(false),
            ..FlagFilter::default()
        };
        assert_eq!(query_of(&filter).as_deref(), Some("archived=false"));
        assert_eq!(query_of(&AuditQuery::default()), None);
        assert_eq!(query_of(&MeQuery::default()), None);
    }
}
