//! Access-control resource names and storage scopes, built in one place so the two never
//! disagree (see product.md, "Resources for access control").

pub fn project(project: &str) -> String {
    format!("proj/{project}")
}

pub fn env(project: &str, env: &str) -> String {
    format!("proj/{project}:env/{env}")
}

/// Project-level parts of a flag: variations, JSON Schema, metadata.
pub fn flag(project: &str, flag: &str) -> String {
    format!("proj/{project}:flag/{flag}")
}

/// A flag's targeting in one environment.
pub fn env_flag(project: &str, env: &str, flag: &str) -> String {
    format!("proj/{project}:env/{env}:flag/{flag}")
}

pub fn segment(project: &str, env: &str, segment: &str) -> String {
    format!("proj/{project}:env/{env}:segment/{segment}")
}

pub fn release(project: &str, env: &str, release: &str) -> String {
    format!("proj/{project}:env/{env}:release/{release}")
}

/// A release plan: one flag's release in waves over several environments.
pub fn release_plan(project: &str, id: &str) -> String {
    format!("proj/{project}:release-plan/{id}")
}

/// A metric, defined once per project (`docs/experiments.md`).
pub fn metric(project: &str, metric: &str) -> String {
    format!("proj/{project}:metric/{metric}")
}

/// An experiment on one flag in one environment.
pub fn experiment(project: &str, env: &str, id: &str) -> String {
    format!("proj/{project}:env/{env}:experiment/{id}")
}

/// A change request of one environment (`docs/governance.md`).
pub fn change_request(project: &str, env: &str, id: &str) -> String {
    format!("proj/{project}:env/{env}:change-request/{id}")
}

pub fn webhook(project: &str, webhook: &str) -> String {
    format!("proj/{project}:webhook/{webhook}")
}

pub fn sdk_key(project: &str, env: &str, id: &str) -> String {
    format!("proj/{project}:env/{env}:sdk-key/{id}")
}

pub fn account(name: &str) -> String {
    format!("account/{name}")
}

pub fn role(name: &str) -> String {
    format!("role/{name}")
}

pub fn token(account: &str, id: &str) -> String {
    format!("account/{account}:token/{id}")
}

pub const AUDIT: &str = "audit";
