//! Guarded releases and their actions, and webhooks.

use crate::types::{
    ActionInput, Deleted, Release, ReleaseInput, ReleaseStatus, WebhookInput, WebhookView,
};
use crate::{Client, Result, in_env};

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
    /// An environment's releases, newest first.
    pub async fn releases(&self, project: &str, env: &str) -> Result<Vec<Release>> {
        self.get(&in_env((project, env), &["releases"])).await
    }

    /// A release's status: stage, cohorts, each guardrail's evidence, next decision.
    pub async fn release(&self, project: &str, env: &str, id: &str) -> Result<ReleaseStatus> {
        self.get(&in_env((project, env), &["releases", id])).await
    }

    /// Starts (or schedules) a guarded release of a flag.
    pub async fn start_release(
        &self,
        project: &str,
        env: &str,
        input: &ReleaseInput,
    ) -> Result<ReleaseStatus> {
        self.post(&in_env((project, env), &["releases"]), input)
            .await
    }

    pub async fn release_action(
        &self,
        (project, env, id): (&str, &str, &str),
        action: ReleaseAction,
        input: &ActionInput,
    ) -> Result<ReleaseStatus> {
        let path = in_env((project, env), &["releases", id, action.as_str()]);
        self.post(&path, input).await
    }

    pub async fn webhooks(&self, project: &str) -> Result<Vec<WebhookView>> {
        self.get(&["projects", project, "webhooks"]).await
    }

    /// Subscribes a URL to release and kill events; the secret is in the answer, once.
    pub async fn create_webhook(&self, project: &str, input: &WebhookInput) -> Result<WebhookView> {
        self.post(&["projects", project, "webhooks"], input).await
    }

    pub async fn delete_webhook(&self, project: &str, id: &str) -> Result<Deleted> {
        self.delete(&["projects", project, "webhooks", id], None)
            .await
    }
}
