//! What a person can do to a running release. (The other release and webhook endpoints are in
//! the `endpoints!` table.)

use reqwest::Method;

use crate::types::{ActionInput, ReleaseStatus};
use crate::{Client, Result};

/// What a person can do to a running release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseAction {
    /// Hold until resumed.
    Pause,
    Resume,
    /// Go to the next stage now (or complete after the last).
    Advance,
    /// Restore the flag's serving from before the release.
    Rollback,
    /// Stop the release and restore the previous serving.
    Abort,
}

impl ReleaseAction {
    /// The action's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseAction::Pause => "pause",
            ReleaseAction::Resume => "resume",
            ReleaseAction::Advance => "advance",
            ReleaseAction::Rollback => "rollback",
            ReleaseAction::Abort => "abort",
        }
    }
}

impl Client {
    /// Pauses, resumes, advances, rolls back or aborts a release.
    pub async fn release_action(
        &self,
        project: &str,
        env: &str,
        id: &str,
        action: ReleaseAction,
        input: &ActionInput,
    ) -> Result<ReleaseStatus> {
        let path = "/projects/{project}/environments/{env}/releases/{id}/{action}";
        let request = self.endpoint(Method::POST, path, &[project, env, id, action.as_str()])?;
        self.send(request.json(input)).await
    }
}
