//! Release plans (`docs/releases.md`, "Waves"): the typed calls of
//! `/api/v1/projects/{project}/release-plans`.

use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::types::{ActionInput, ChangeRequest, Proposed, ReleasePlan, ReleasePlanInput};
use crate::{ApiFailure, Client, ClientError, Result};

const PLANS: &str = "/projects/{project}/release-plans";
const PLAN: &str = "/projects/{project}/release-plans/{id}";

/// What starting a release plan did.
#[derive(Debug, Clone)]
pub enum PlanStarted {
    /// The plan runs (`201`): the guard starts its first wave at its next pass.
    Started(Box<ReleasePlan>),
    /// An environment it touches requires approvals (`202`): the whole plan is this change
    /// request; applying it starts the plan.
    Held(Box<ChangeRequest>),
}

/// What a person can do to a release plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleasePlanAction {
    /// Hold the running wave's release; start no new wave.
    Pause,
    Resume,
    /// Abort the running wave's release; start no new wave.
    Abort,
}

impl ReleasePlanAction {
    /// The action's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleasePlanAction::Pause => "pause",
            ReleasePlanAction::Resume => "resume",
            ReleasePlanAction::Abort => "abort",
        }
    }
}

#[derive(Debug, Serialize)]
struct PlanFilter<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<&'a str>,
}

impl Client {
    /// Starts a release plan, or proposes it as one change request.
    pub async fn create_release_plan(
        &self,
        project: &str,
        input: &ReleasePlanInput,
    ) -> Result<PlanStarted> {
        let request = self.endpoint(Method::POST, PLANS, &[project])?;
        let (status, url, bytes) = self.execute(request.json(input)).await?;
        let decode = |source| ClientError::Decode {
            url: url.clone(),
            source,
        };
        match status {
            StatusCode::CREATED | StatusCode::OK => {
                let plan: ReleasePlan = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(PlanStarted::Started(Box::new(plan)))
            }
            StatusCode::ACCEPTED => {
                let proposed: Proposed = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(PlanStarted::Held(Box::new(proposed.change_request)))
            }
            _ => {
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                Err(ApiFailure::from_body(status, &body).into())
            }
        }
    }

    /// A project's release plans (of one flag, if given), newest first.
    pub async fn release_plans(
        &self,
        project: &str,
        flag: Option<&str>,
    ) -> Result<Vec<ReleasePlan>> {
        let request = self.endpoint(Method::GET, PLANS, &[project])?;
        self.send(request.query(&PlanFilter { flag })).await
    }

    /// A release plan with every wave's state.
    pub async fn release_plan(&self, project: &str, id: &str) -> Result<ReleasePlan> {
        let request = self.endpoint(Method::GET, PLAN, &[project, id])?;
        self.send(request).await
    }

    /// Pauses, resumes or aborts a release plan.
    pub async fn release_plan_action(
        &self,
        project: &str,
        id: &str,
        action: ReleasePlanAction,
        input: &ActionInput,
    ) -> Result<ReleasePlan> {
        let template = format!("{PLAN}/{}", action.as_str());
        let request = self.endpoint(Method::POST, &template, &[project, id])?;
        self.send(request.json(input)).await
    }
}
