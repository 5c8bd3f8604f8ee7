//! Change requests (`docs/governance.md`): the typed calls of
//! `/api/v1/projects/{project}/change-requests`, and scheduled changes
//! (`/api/v1/projects/{project}/scheduled-changes`), which are change requests with a time.

use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::types::{
    ChangeRequest, Proposed, RescheduleInput, ReviewInput, ReviseInput, ScheduleInput,
};
use crate::{ApiFailure, Client, ClientError, Result};

/// The filters of `GET /projects/{project}/change-requests`; `None` filters nothing.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChangeRequestFilter<'a> {
    /// `pending`, `applied`, `rejected`, `withdrawn`, `conflict`, `expired` or `failed`.
    pub state: Option<&'a str>,
    pub environment: Option<&'a str>,
    /// `true`: only requests with a time to apply by themselves; `false`: only those without.
    pub scheduled: Option<bool>,
}

/// What a reviewer or the author does to a change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Approve,
    Reject,
    Withdraw,
    Apply,
}

impl Review {
    fn verb(self) -> &'static str {
        match self {
            Review::Approve => "approve",
            Review::Reject => "reject",
            Review::Withdraw => "withdraw",
            Review::Apply => "apply",
        }
    }
}

const REQUESTS: &str = "/projects/{project}/change-requests";
const REQUEST: &str = "/projects/{project}/change-requests/{id}";
const SCHEDULED_CHANGES: &str = "/projects/{project}/scheduled-changes";

impl Client {
    /// A project's change requests, newest first.
    pub async fn change_requests(
        &self,
        project: &str,
        filter: &ChangeRequestFilter<'_>,
    ) -> Result<Vec<ChangeRequest>> {
        let request = self.endpoint(Method::GET, REQUESTS, &[project])?;
        self.send(request.query(filter)).await
    }

    pub async fn change_request(&self, project: &str, id: &str) -> Result<ChangeRequest> {
        let request = self.endpoint(Method::GET, REQUEST, &[project, id])?;
        self.send(request).await
    }

    /// A new revision of the caller's own change request.
    pub async fn revise_change_request(
        &self,
        project: &str,
        id: &str,
        input: &ReviseInput,
    ) -> Result<ChangeRequest> {
        let request = self.endpoint(Method::PUT, REQUEST, &[project, id])?;
        self.send(request.json(input)).await
    }

    /// Approves, rejects, withdraws or applies a change request.
    pub async fn review_change_request(
        &self,
        project: &str,
        id: &str,
        review: Review,
        input: &ReviewInput,
    ) -> Result<ChangeRequest> {
        let template = format!("{REQUEST}/{}", review.verb());
        let request = self.endpoint(Method::POST, &template, &[project, id])?;
        self.send(request.json(input)).await
    }

    /// Schedules a change: the change request that will apply it at `input.at` (if it has
    /// its approvals then). The server answers 202 with the request, always, so this reads
    /// that answer rather than treating it as a write held for approval.
    pub async fn schedule_change(
        &self,
        project: &str,
        input: &ScheduleInput,
    ) -> Result<ChangeRequest> {
        let request = self.endpoint(Method::POST, SCHEDULED_CHANGES, &[project])?;
        let (status, url, bytes) = self.execute(request.json(input)).await?;
        if status != StatusCode::ACCEPTED {
            let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            return Err(ApiFailure::from_body(status, &body).into());
        }
        let proposed: Proposed =
            serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode { url, source })?;
        Ok(proposed.change_request)
    }

    /// Gives an open change request a time to apply by itself (`at`), or takes it away
    /// (`at: None`: it then applies at once if it has its approvals).
    pub async fn schedule_change_request(
        &self,
        project: &str,
        id: &str,
        input: &RescheduleInput,
    ) -> Result<ChangeRequest> {
        let template = format!("{REQUEST}/schedule");
        let request = self.endpoint(Method::POST, &template, &[project, id])?;
        self.send(request.json(input)).await
    }
}
