//! Environments side by side (`docs/environments.md`): comparing two environments' targeting,
//! and promoting a flag's targeting (or parts of it) from one to another.

use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::types::{ChangeRequest, EnvironmentComparison, PromoteInput, Proposed, TargetingView};
use crate::{ApiFailure, Client, ClientError, Result};

const COMPARE: &str = "/projects/{project}/environments/{env}/compare/{to}";
const PROMOTE: &str = "/projects/{project}/flags/{flag}/promote";

/// What a promotion did.
#[derive(Debug)]
pub enum Promoted {
    /// The target's targeting now (`200`).
    Done(Box<TargetingView>),
    /// The target requires approvals (`202`): the promotion is this `update_targeting` change
    /// request; applying it writes the targeting.
    Held(Box<ChangeRequest>),
}

#[derive(Debug, Serialize)]
struct CompareQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<&'a str>,
}

impl Client {
    /// Each flag's targeting in `from` against `to` (`before` is `from`'s), in words; one flag
    /// when `flag` is given.
    pub async fn compare_environments(
        &self,
        project: &str,
        from: &str,
        to: &str,
        flag: Option<&str>,
    ) -> Result<EnvironmentComparison> {
        let request = self.endpoint(Method::GET, COMPARE, &[project, from, to])?;
        self.send(request.query(&CompareQuery { flag })).await
    }

    /// Copies `flag`'s targeting (or `input.parts` of it) from `input.from` into `input.to`.
    pub async fn promote_flag(
        &self,
        project: &str,
        flag: &str,
        input: &PromoteInput,
    ) -> Result<Promoted> {
        let request = self.endpoint(Method::POST, PROMOTE, &[project, flag])?;
        let (status, url, bytes) = self.execute(request.json(input)).await?;
        let decode = |source| ClientError::Decode {
            url: url.clone(),
            source,
        };
        match status {
            StatusCode::ACCEPTED => {
                let proposed: Proposed = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(Promoted::Held(Box::new(proposed.change_request)))
            }
            status if status.is_success() => {
                let view: TargetingView = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(Promoted::Done(Box::new(view)))
            }
            _ => {
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                Err(ApiFailure::from_body(status, &body).into())
            }
        }
    }
}
