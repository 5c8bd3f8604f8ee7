//! Projects and their environments.

use crate::types::{Deleted, Environment, EnvironmentInput, Project, ProjectInput};
use crate::{Client, Result, in_env};

impl Client {
    pub async fn projects(&self) -> Result<Vec<Project>> {
        self.get(&["projects"]).await
    }

    pub async fn project(&self, project: &str) -> Result<Project> {
        self.get(&["projects", project]).await
    }

    pub async fn create_project(&self, input: &ProjectInput) -> Result<Project> {
        self.post(&["projects"], input).await
    }

    pub async fn update_project(&self, project: &str, input: &ProjectInput) -> Result<Project> {
        self.put(&["projects", project], input).await
    }

    pub async fn delete_project(&self, project: &str, comment: Option<&str>) -> Result<Deleted> {
        self.delete(&["projects", project], comment).await
    }

    pub async fn environments(&self, project: &str) -> Result<Vec<Environment>> {
        self.get(&["projects", project, "environments"]).await
    }

    pub async fn environment(&self, project: &str, env: &str) -> Result<Environment> {
        self.get(&in_env((project, env), &[])).await
    }

    pub async fn create_environment(
        &self,
        project: &str,
        input: &EnvironmentInput,
    ) -> Result<Environment> {
        self.post(&["projects", project, "environments"], input)
            .await
    }

    pub async fn update_environment(
        &self,
        project: &str,
        env: &str,
        input: &EnvironmentInput,
    ) -> Result<Environment> {
        self.put(&in_env((project, env), &[]), input).await
    }

    /// Deletes an environment with its targeting, segments and SDK keys.
    pub async fn delete_environment(
        &self,
        project: &str,
        env: &str,
        comment: Option<&str>,
    ) -> Result<Deleted> {
        self.delete(&in_env((project, env), &[]), comment).await
    }
}
