//! Change requests as stored (kind `change_request`, scope the project, keyed by id): a write to
//! an environment that requires approvals, held until enough other people approve it. It keeps
//! the request body the route took, so applying it runs that route's validated path again, and
//! the versions it was based on, so it never overwrites a change made meanwhile.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::Record;

/// The route a change request replays when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `PUT …/environments/{env}/flags/{flag}` (`target`: the flag).
    UpdateTargeting,
    /// `POST …/environments/{env}/flags/{flag}/toggle` (`target`: the flag).
    Toggle,
    /// `POST …/environments/{env}/segments` (`target`: the new segment's key).
    CreateSegment,
    /// `PUT …/environments/{env}/segments/{segment}` (`target`: the segment).
    UpdateSegment,
    /// `DELETE …/environments/{env}/segments/{segment}` (`target`: the segment; the request
    /// is `{"comment"}`).
    DeleteSegment,
    /// `POST …/environments/{env}/releases` (`target`: the flag; the release's id is in
    /// `resource`).
    StartRelease,
    /// `POST …/environments/{env}/flags/{flag}/remove-targets` (`target`: the flag).
    RemoveTargets,
    /// `POST /projects/{p}/flags/{flag}/archive` (`target`: the flag). This and the next three
    /// change the flag in every environment; they are held in the project's strictest
    /// environment (the most required approvals), which is the request's `environment`.
    ArchiveFlag,
    /// `POST /projects/{p}/flags/{flag}/restore` (`target`: the flag).
    RestoreFlag,
    /// `PUT /projects/{p}/flags/{flag}`, the definition (`target`: the flag).
    UpdateFlag,
    /// `DELETE /projects/{p}/flags/{flag}` (`target`: the flag; the request is `{"comment"}`).
    DeleteFlag,
    /// `POST /projects/{p}/config/apply` (`target`: the project): a whole document, held in the
    /// environment requiring the most approvals among those its changes count in.
    ApplyConfig,
    /// `POST /projects/{p}/release-plans` (`target`: the flag; the plan's id is in `resource`).
    /// Held in the strictest of the plan's environments; once applied its waves start as the
    /// guard drives them, not gated again.
    StartReleasePlan,
    /// `POST …/environments/{env}/experiments/{id}/start` (`target`: the experiment).
    StartExperiment,
    /// `POST …/environments/{env}/experiments/{id}/ship` (`target`: the experiment).
    ShipExperiment,
}

impl Operation {
    /// A flag's archive, restore, definition or deletion: it changes every environment.
    pub fn is_project_level(self) -> bool {
        matches!(
            self,
            Operation::ArchiveFlag
                | Operation::RestoreFlag
                | Operation::UpdateFlag
                | Operation::DeleteFlag
        )
    }
}

impl ChangeRequestRecord {
    /// Whether applying it requires what it was based on to be unchanged. A removal of
    /// targets and a turn-off say what to change, not the whole result, so they apply to the
    /// targeting as it is then without overwriting anything (the direction of a turn-off is
    /// always the safe one). A turn-on stays pinned, so it never undoes a kill made after it
    /// was approved. The others (the project-level flag changes too) replace or delete a whole
    /// document, which would undo a change made meanwhile.
    pub fn pins_base(&self) -> bool {
        match self.operation {
            Operation::RemoveTargets => false,
            Operation::Toggle => self.request.get("on") != Some(&Value::Bool(false)),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvals (or for `apply` once it has them).
    Pending,
    Applied,
    Rejected,
    Withdrawn,
    /// What it was based on changed before it applied; the author revises it.
    Conflict,
    /// Its scheduled time came before it had the approvals it needs: it never applies.
    Expired,
    /// Its scheduled run was refused (the history says why: the change is no longer valid,
    /// or its author may no longer make it).
    Failed,
}

impl RequestState {
    /// Whether the request can still change (be revised, approved, rejected or withdrawn).
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::Pending | RequestState::Conflict)
    }
}

/// A stored record the change expects at one version (0: that it does not exist yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BaseVersion {
    pub kind: String,
    pub key: String,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    pub account: String,
    pub revision: u32,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One step of a change request's life, as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    pub at_ms: i64,
    pub account: String,
    /// `created`, `revised`, `approved`, `rejected`, `withdrawn`, `scheduled`, `unscheduled`,
    /// `applied`, `conflict`, `expired`, `failed`.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeRequestRecord {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub operation: Operation,
    /// The flag or segment the change writes.
    pub target: String,
    /// Its access-control resource, and the action the write is checked and audited as.
    pub resource: String,
    pub action: String,
    /// The body the route took (replayed on apply).
    pub request: Value,
    /// What the change expects to find when it applies.
    pub base: Vec<BaseVersion>,
    /// The target before and after the change, as the audit log would show it.
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub state: RequestState,
    /// 1 when created; each revision adds one and drops the earlier approvals.
    pub revision: u32,
    /// The approvals it needs, as of when it was made or last revised: the most of its
    /// environment's count and `policy_approvals`.
    pub required_approvals: u32,
    /// What its author's roles (or token) required of this write by a `require_approval`
    /// statement when it was made or last revised (0: nothing).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_approvals: u32,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub history: Vec<Step>,
    /// When it applies by itself (a scheduled change); `None`: when approved, or when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl ChangeRequestRecord {
    /// The approvals that count: of the current revision, one per account.
    pub fn current_approvals(&self) -> usize {
        let mut accounts: Vec<&str> = self
            .approvals
            .iter()
            .filter(|a| a.revision == self.revision)
            .map(|a| a.account.as_str())
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        accounts.len()
    }

    /// Adds a step to the history and marks the request updated.
    pub fn record(&mut self, at_ms: i64, account: &str, step: &str, comment: Option<String>) {
        self.updated_ms = at_ms;
        self.history.push(Step {
            at_ms,
            account: account.to_owned(),
            step: step.to_owned(),
            comment,
        });
    }
}

impl Record for ChangeRequestRecord {
    const KIND: &'static str = "change_request";
}

/// The runner's index of scheduled changes (kind `schedule`, global scope, keyed
/// `{project}/{id}`), so finding what is due never reads every change request. Every write of a
/// request writes or deletes its entry in the same commit (`gate::index_write`), so an entry
/// means a pending request due at its time; one whose request is gone is skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    pub project: String,
    pub id: String,
    pub run_at_ms: i64,
}

impl ScheduleEntry {
    pub fn key(project: &str, id: &str) -> String {
        format!("{project}/{id}")
    }
}

impl Record for ScheduleEntry {
    const KIND: &'static str = "schedule";
}
