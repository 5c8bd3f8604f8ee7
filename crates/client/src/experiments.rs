//! Metrics and experiments (`docs/experiments.md`, "Running an experiment"): the typed calls of
//! `/api/v1/projects/{project}/metrics` and `…/environments/{env}/experiments`.

use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::types::{
    ActionInput, ChangeRequest, Deleted, ExperimentInput, ExperimentView, MetricInput, MetricView,
    Proposed, ShipInput,
};
use crate::{ApiFailure, Client, ClientError, Result};

const METRICS: &str = "/projects/{project}/metrics";
const METRIC: &str = "/projects/{project}/metrics/{metric}";
const EXPERIMENTS: &str = "/projects/{project}/environments/{env}/experiments";
const EXPERIMENT: &str = "/projects/{project}/environments/{env}/experiments/{id}";

/// What a start or a ship did.
#[derive(Debug, Clone)]
pub enum ExperimentChanged {
    /// It took effect: the experiment as it is now.
    Done(Box<ExperimentView>),
    /// The environment requires approvals (`202`): it is this change request; applying it
    /// makes the change.
    Held(Box<ChangeRequest>),
}

#[derive(Serialize)]
struct Comment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

impl Client {
    /// The project's metrics.
    pub async fn metric_definitions(&self, project: &str) -> Result<Vec<MetricView>> {
        self.send(self.endpoint(Method::GET, METRICS, &[project])?)
            .await
    }

    pub async fn metric_definition(&self, project: &str, metric: &str) -> Result<MetricView> {
        self.send(self.endpoint(Method::GET, METRIC, &[project, metric])?)
            .await
    }

    pub async fn create_metric(&self, project: &str, input: &MetricInput) -> Result<MetricView> {
        let request = self.endpoint(Method::POST, METRICS, &[project])?;
        self.send(request.json(input)).await
    }

    pub async fn update_metric(&self, project: &str, input: &MetricInput) -> Result<MetricView> {
        let request = self.endpoint(Method::PUT, METRIC, &[project, &input.key])?;
        self.send(request.json(input)).await
    }

    /// Deletes a metric (refused while a running experiment uses it).
    pub async fn delete_metric(
        &self,
        project: &str,
        metric: &str,
        comment: Option<&str>,
    ) -> Result<Deleted> {
        let request = self.endpoint(Method::DELETE, METRIC, &[project, metric])?;
        self.send(request.query(&Comment { comment })).await
    }

    /// An environment's experiments, newest first.
    pub async fn experiments(&self, project: &str, env: &str) -> Result<Vec<ExperimentView>> {
        self.send(self.endpoint(Method::GET, EXPERIMENTS, &[project, env])?)
            .await
    }

    pub async fn experiment(&self, project: &str, env: &str, id: &str) -> Result<ExperimentView> {
        self.send(self.endpoint(Method::GET, EXPERIMENT, &[project, env, id])?)
            .await
    }

    /// Creates a draft experiment.
    pub async fn create_experiment(
        &self,
        project: &str,
        env: &str,
        input: &ExperimentInput,
    ) -> Result<ExperimentView> {
        let request = self.endpoint(Method::POST, EXPERIMENTS, &[project, env])?;
        self.send(request.json(input)).await
    }

    /// Edits an experiment (`input.version` is the version it replaces).
    pub async fn update_experiment(
        &self,
        project: &str,
        env: &str,
        id: &str,
        input: &ExperimentInput,
    ) -> Result<ExperimentView> {
        let request = self.endpoint(Method::PUT, EXPERIMENT, &[project, env, id])?;
        self.send(request.json(input)).await
    }

    /// Starts an experiment, or proposes the start where approvals are required.
    pub async fn start_experiment(
        &self,
        project: &str,
        env: &str,
        id: &str,
        input: &ActionInput,
    ) -> Result<ExperimentChanged> {
        let template = format!("{EXPERIMENT}/start");
        let request = self.endpoint(Method::POST, &template, &[project, env, id])?;
        self.gated(request.json(input)).await
    }

    /// Stops an experiment: its rule serves what it served before (never held).
    pub async fn stop_experiment(
        &self,
        project: &str,
        env: &str,
        id: &str,
        input: &ActionInput,
    ) -> Result<ExperimentView> {
        let template = format!("{EXPERIMENT}/stop");
        let request = self.endpoint(Method::POST, &template, &[project, env, id])?;
        self.send(request.json(input)).await
    }

    /// Ships a winner, or proposes it where approvals are required.
    pub async fn ship_experiment(
        &self,
        project: &str,
        env: &str,
        id: &str,
        input: &ShipInput,
    ) -> Result<ExperimentChanged> {
        let template = format!("{EXPERIMENT}/ship");
        let request = self.endpoint(Method::POST, &template, &[project, env, id])?;
        self.gated(request.json(input)).await
    }

    async fn gated(&self, request: reqwest::RequestBuilder) -> Result<ExperimentChanged> {
        let (status, url, bytes) = self.execute(request).await?;
        let decode = |source| ClientError::Decode {
            url: url.clone(),
            source,
        };
        match status {
            StatusCode::OK | StatusCode::CREATED => {
                let view: ExperimentView = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(ExperimentChanged::Done(Box::new(view)))
            }
            StatusCode::ACCEPTED => {
                let proposed: Proposed = serde_json::from_slice(&bytes).map_err(decode)?;
                Ok(ExperimentChanged::Held(Box::new(proposed.change_request)))
            }
            _ => {
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                Err(ApiFailure::from_body(status, &body).into())
            }
        }
    }
}
