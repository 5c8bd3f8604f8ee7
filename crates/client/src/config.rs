//! Config as code (`docs/config-as-code.md`): the project as one document — export it, plan a
//! document against the live project, apply it. An apply that needs approvals is answered with
//! the one change request it became, which [`ConfigApply`] keeps apart from an apply that took
//! effect.

use reqwest::{Method, StatusCode};

use crate::types::{ChangeRequest, ConfigApplied, ConfigApplyInput, ConfigExport, ConfigPlan};
use crate::{ApiFailure, Client, ClientError, Result};

const CONFIG: &str = "/projects/{project}/config";
const PLAN: &str = "/projects/{project}/config/plan";
const APPLY: &str = "/projects/{project}/config/apply";

/// What an apply did: took effect, or became one change request (`202`) waiting for approvals.
#[derive(Debug, Clone)]
pub enum ConfigApply {
    Applied(ConfigApplied),
    ChangeRequest(Box<ChangeRequest>),
}

impl ConfigApply {
    /// The applied answer, if the apply took effect.
    pub fn applied(&self) -> Option<&ConfigApplied> {
        match self {
            ConfigApply::Applied(applied) => Some(applied),
            ConfigApply::ChangeRequest(_) => None,
        }
    }

    /// The change request the apply became, if it waits for approvals.
    pub fn change_request(&self) -> Option<&ChangeRequest> {
        match self {
            ConfigApply::ChangeRequest(request) => Some(request),
            ConfigApply::Applied(_) => None,
        }
    }
}

impl Client {
    /// The project as one document, with its revision.
    pub async fn project_config(&self, project: &str) -> Result<ConfigExport> {
        let request = self.endpoint(Method::GET, CONFIG, &[project])?;
        self.send(request).await
    }

    /// What applying `input` would change, against the live revision. A document with problems
    /// is a 422 whose message lists every one by file and field.
    pub async fn plan_config(&self, project: &str, input: &ConfigApplyInput) -> Result<ConfigPlan> {
        let request = self.endpoint(Method::POST, PLAN, &[project])?;
        self.send(request.json(input)).await
    }

    /// Applies `input`: all of it in one commit, or one change request when any change needs
    /// approval; a stale `expect_revision` is a 409.
    pub async fn apply_config(
        &self,
        project: &str,
        input: &ConfigApplyInput,
    ) -> Result<ConfigApply> {
        let request = self.endpoint(Method::POST, APPLY, &[project])?;
        let (status, url, bytes) = self.execute(request.json(input)).await?;
        let decode = |source| ClientError::Decode {
            url: url.clone(),
            source,
        };
        match status {
            StatusCode::OK => Ok(ConfigApply::Applied(
                serde_json::from_slice(&bytes).map_err(decode)?,
            )),
            StatusCode::ACCEPTED => {
                #[derive(serde::Deserialize)]
                struct Held {
                    change_request: Box<ChangeRequest>,
                }
                let held: Held = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(ConfigApply::ChangeRequest(held.change_request))
            }
            _ => {
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                Err(ApiFailure::from_body(status, &body).into())
            }
        }
    }
}
