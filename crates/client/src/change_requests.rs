//! Change requests (`docs/governance.md`): the typed calls of
//! `/api/v1/projects/{project}/change-requests`.

use reqwest::Method;
use serde::Serialize;

use crate::types::{ChangeRequest, ReviewInput, ReviseInput};
use crate::{Client, Result};

/// The filters of `GET /projects/{project}/change-requests`; `None` filters nothing.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChangeRequestFilter<'a> {
    /// `pending`, `applied`, `rejected`, `withdrawn` or `conflict`.
    pub state: Option<&'a str>,
    pub environment: Option<&'a str>,
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
}
