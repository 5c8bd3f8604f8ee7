//! The gate every held write goes through ([`commit_gated`]): commit, propose, revise or
//! apply, as the environment and the request context say; and the change request's view.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_store::{Committed, Expected, Write};

use super::super::ctx::{Change, Ctx};
use super::super::projects::load_environment;
use crate::access::resources as res;
use crate::access::{Action, Event, random_hex};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, BaseVersion, ChangeRequestRecord, EnvironmentRecord, GLOBAL, Operation, RequestState,
    ScheduleEntry, Versioned, encode,
};

/// How long after its time a scheduled change may start before its audit record calls it late
/// (the runner looks every second; a late one was missed while no replica was running).
pub(crate) const LATE_AFTER_MS: i64 = 10_000;

/// How a handler's write is treated (a field of [`Ctx`]).
#[derive(Debug, Clone, Default)]
pub(crate) enum Gate {
    /// A person's request: it takes effect, unless its environment requires approvals.
    #[default]
    Live,
    /// A person's request to make this change at this time (Unix ms): always a change
    /// request, which the schedule runner applies then if it has the approvals it needs.
    Schedule(i64),
    /// The author revising this change request: the write replaces its proposal.
    Revise(Box<Versioned<ChangeRequestRecord>>),
    /// Applying this approved change request: the write commits if its base still holds.
    Apply(Box<Versioned<ChangeRequestRecord>>),
}

impl Gate {
    /// The id of the release a change request being revised or applied starts: the same one
    /// it was reviewed with.
    pub(crate) fn release_id(&self) -> Option<String> {
        match self {
            Gate::Revise(stored) | Gate::Apply(stored)
                if stored.record.operation == Operation::StartRelease =>
            {
                let (_, id) = stored.record.resource.rsplit_once(":release/")?;
                Some(id.to_owned())
            }
            _ => None,
        }
    }

    /// Applying a request replays its author's write: the author was authorized for it when
    /// proposing and revising; the applier is authorized for the request.
    pub(crate) fn applies(&self, action: Action, resource: &str) -> bool {
        matches!(self, Gate::Apply(stored)
            if stored.record.action == action.as_str() && stored.record.resource == resource)
    }
}

/// What a gated write is: the route (by operation and target) and the body it took.
#[derive(Debug)]
pub(crate) struct Proposal<'a> {
    pub project: &'a str,
    pub env: &'a str,
    pub operation: Operation,
    pub target: &'a str,
    pub request: Value,
}

/// A gated write's outcome: it took effect, or it is a change request now.
#[derive(Debug)]
pub(crate) enum Gated<T> {
    Done(T),
    Proposed(Box<ChangeRequest>),
}

impl<T> Gated<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Gated<U> {
        match self {
            Gated::Done(done) => Gated::Done(f(done)),
            Gated::Proposed(request) => Gated::Proposed(request),
        }
    }
}

impl<T: IntoResponse> IntoResponse for Gated<T> {
    fn into_response(self) -> Response {
        match self {
            Gated::Done(done) => done.into_response(),
            Gated::Proposed(request) => (
                StatusCode::ACCEPTED,
                Json(json!({ "change_request": request })),
            )
                .into_response(),
        }
    }
}

/// A change request as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize)]
pub struct ChangeRequest {
    #[serde(flatten)]
    pub body: ChangeRequestRecord,
    /// The stored version (changes with every step).
    pub version: i64,
    /// Approvals of the current revision, by distinct people.
    pub approved: usize,
}

impl ChangeRequest {
    /// The stored request this view shows, at its version.
    pub(crate) fn into_stored(self) -> Versioned<ChangeRequestRecord> {
        Versioned {
            key: self.body.id.clone(),
            version: self.version,
            record: self.body,
        }
    }
}

impl From<Versioned<ChangeRequestRecord>> for ChangeRequest {
    fn from(stored: Versioned<ChangeRequestRecord>) -> ChangeRequest {
        ChangeRequest {
            approved: stored.record.current_approvals(),
            body: stored.record,
            version: stored.version,
        }
    }
}

/// In an environment that requires approvals, what a change that never waits for them (a
/// kill, a release's pause, roll back or abort) says in its audit record; `None` elsewhere.
pub(crate) fn not_subject_to_approval(
    env: &EnvironmentRecord,
    comment: Option<&str>,
) -> Option<String> {
    (env.required_approvals > 0).then(|| {
        let why = "not subject to approval: safety never waits";
        match comment {
            Some(comment) => format!("{comment} ({why})"),
            None => why.to_owned(),
        }
    })
}

pub(super) fn resource_of(record: &ChangeRequestRecord) -> String {
    res::change_request(&record.project, &record.environment, &record.id)
}

/// The base versions a batch of writes expects.
fn bases(writes: &[Write]) -> Vec<BaseVersion> {
    writes
        .iter()
        .map(|write| {
            let (kind, key, expected) = match write {
                Write::Put {
                    kind,
                    key,
                    expected,
                    ..
                }
                | Write::Delete {
                    kind,
                    key,
                    expected,
                    ..
                } => (kind, key, expected),
            };
            let version = match expected {
                Expected::Version(version) => *version,
                Expected::Absent | Expected::Any => 0,
            };
            BaseVersion {
                kind: kind.clone(),
                key: key.clone(),
                version,
            }
        })
        .collect()
}

/// An audited step of a change request: `event` on its resource, from `before` to `after`.
pub(super) fn step<'a>(
    event: impl Into<&'static str>,
    resource: &'a str,
    before: Option<&ChangeRequestRecord>,
    after: &ChangeRequestRecord,
    comment: Option<&'a str>,
) -> Change<'a> {
    Change {
        action: event.into(),
        resource,
        before: before.map(encode),
        after: Some(encode(after)),
        comment,
    }
}

/// The one place the gated handlers write through: commits `writes` (their audit record
/// `change`), or turns them into a change request, revises one, or applies one, as the
/// environment and `ctx.gate` say.
pub(crate) async fn commit_gated(
    ctx: &Ctx,
    proposal: Proposal<'_>,
    mut writes: Vec<Write>,
    change: Change<'_>,
) -> ApiResult<Gated<Committed>> {
    match decide(ctx, proposal, &writes, &change).await? {
        Decision::Held(request) => Ok(Gated::Proposed(request)),
        Decision::Commit { also, note } => {
            writes.extend(also);
            let change = match &note {
                Some(note) => change.comment(Some(note)),
                None => change,
            };
            Ok(Gated::Done(ctx.commit(&writes, change).await?))
        }
    }
}

/// What becomes of a write that passed its handler's checks.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Commit it, with `also` in the same commit and `note` as its audit comment when applying
    /// a change request.
    Commit {
        also: Vec<Write>,
        note: Option<String>,
    },
    /// It is a change request now (made or revised): nothing else is written.
    Held(Box<ChangeRequest>),
}

/// Decides what `writes` (described by `change`) become: for handlers that commit in a path
/// of their own (a release start), [`commit_gated`] for the others.
pub(crate) async fn decide(
    ctx: &Ctx,
    proposal: Proposal<'_>,
    writes: &[Write],
    change: &Change<'_>,
) -> ApiResult<Decision> {
    decide_with_policy(ctx, proposal, writes, change, 0).await
}

/// [`decide`] for a write made of several changes (a config apply, a release plan): `policy`
/// is the most approvals the caller's policy requires of any of them, which `change` (the
/// whole write's action and resource) would not match; the request stores the larger count,
/// so applying it enforces it.
pub(crate) async fn decide_with_policy(
    ctx: &Ctx,
    proposal: Proposal<'_>,
    writes: &[Write],
    change: &Change<'_>,
    policy: u32,
) -> ApiResult<Decision> {
    let now = now_ms();
    let account = ctx.caller.account.clone();
    match &ctx.gate {
        Gate::Live | Gate::Schedule(_) => {
            let env = load_environment(ctx, proposal.project, proposal.env).await?;
            let by_policy = ctx
                .caller
                .required_approvals(change.action, change.resource)
                .max(policy);
            let required = env.record.required_approvals.max(by_policy);
            let run_at_ms = match ctx.gate {
                Gate::Schedule(at) => Some(at),
                _ => None,
            };
            if required == 0 && run_at_ms.is_none() {
                return Ok(Decision::Commit {
                    also: Vec::new(),
                    note: None,
                });
            }
            let mut record = ChangeRequestRecord {
                id: random_hex(4),
                project: proposal.project.to_owned(),
                environment: proposal.env.to_owned(),
                operation: proposal.operation,
                target: proposal.target.to_owned(),
                resource: change.resource.to_owned(),
                action: change.action.to_owned(),
                request: proposal.request,
                base: bases(writes),
                before: change.before.clone(),
                after: change.after.clone(),
                author: account.clone(),
                comment: change.comment.map(str::to_owned),
                state: RequestState::Pending,
                revision: 1,
                required_approvals: required,
                policy_approvals: by_policy,
                approvals: Vec::new(),
                history: Vec::new(),
                run_at_ms,
                created_ms: now,
                updated_ms: now,
            };
            record.record(now, &account, "created", record.comment.clone());
            let resource = resource_of(&record);
            let audit = step(
                Event::ChangeRequestCreate,
                &resource,
                None,
                &record,
                change.comment,
            );
            let write = records::put(proposal.project, &record.id, &record, Expected::Absent);
            ctx.commit(&[write, index_write(&record)], audit).await?;
            Ok(held(record, 1))
        }
        Gate::Revise(stored) => {
            let env = load_environment(ctx, proposal.project, proposal.env).await?;
            let before = &stored.record;
            let mut record = before.clone();
            record.request = proposal.request;
            // A revised creation may name another key: the request follows its write.
            record.target = proposal.target.to_owned();
            record.resource = change.resource.to_owned();
            record.action = change.action.to_owned();
            record.base = bases(writes);
            record.before = change.before.clone();
            record.after = change.after.clone();
            record.comment = change.comment.map(str::to_owned).or(record.comment);
            record.state = RequestState::Pending;
            // A time that passed (the run found a conflict) is not kept: the author schedules
            // the revision again, or it applies when approved.
            record.run_at_ms = record.run_at_ms.filter(|at| *at > ctx.state.clock.now_ms());
            record.revision += 1;
            // The revision may change another environment: the request waits in it now, so
            // its count (then and when applied) is that environment's.
            record.environment = proposal.env.to_owned();
            record.policy_approvals = ctx
                .caller
                .required_approvals(change.action, change.resource)
                .max(policy);
            record.required_approvals = env.record.required_approvals.max(record.policy_approvals);
            record.approvals.clear();
            record.record(now, &account, "revised", change.comment.map(str::to_owned));
            let resource = resource_of(&record);
            let audit = step(
                Event::ChangeRequestRevise,
                &resource,
                Some(before),
                &record,
                change.comment,
            );
            let write = records::put(
                proposal.project,
                &record.id,
                &record,
                Expected::Version(stored.version),
            );
            let committed = ctx.commit(&[write, index_write(&record)], audit).await?;
            Ok(held(record, committed.versions[0]))
        }
        Gate::Apply(stored) => {
            let request = &stored.record;
            // Whoever applies checked these; checked again here, the one place every apply
            // passes, so no path applies what was not approved.
            let required = super::required_now(ctx, request).await? as usize;
            if request.state != RequestState::Pending || request.current_approvals() < required {
                return Err(ApiError::new(
                    Code::Conflict,
                    format!(
                        "change request {} is {:?} with {} of the {required} approvals it needs",
                        request.id,
                        request.state,
                        request.current_approvals()
                    ),
                )
                .field("approvals"));
            }
            let now_base = bases(writes);
            if request.pins_base() && now_base != request.base {
                return Err(moved_on(request, &now_base));
            }
            let mut record = request.clone();
            record.state = RequestState::Applied;
            let note = apply_note(request, ctx.state.clock.now_ms());
            record.record(now, &account, "applied", Some(note.clone()));
            let write = records::put(
                &request.project,
                &request.id,
                &record,
                Expected::Version(stored.version),
            );
            Ok(Decision::Commit {
                also: vec![write, index_write(&record)],
                note: Some(note),
            })
        }
    }
}

/// What applying `request` at `now` (on the schedule clock) says in the audit log: whose it is,
/// who approved it, and for a scheduled change when it was due and whether it ran late.
fn apply_note(request: &ChangeRequestRecord, now: i64) -> String {
    let approvers: Vec<&str> = request
        .approvals
        .iter()
        .filter(|a| a.revision == request.revision)
        .map(|a| a.account.as_str())
        .collect();
    let approvers = if approvers.is_empty() {
        "nobody (none required)".to_owned()
    } else {
        approvers.join(", ")
    };
    let schedule = match request.run_at_ms {
        Some(at) => {
            let due = switchyard_engine::time::format_rfc3339_ms(at);
            if now < at {
                format!(", scheduled for {due} but applied before then")
            } else if now - at > LATE_AFTER_MS {
                let late = (now - at) / 1000;
                format!(", scheduled for {due}, ran late by {late} s (missed while no server ran)")
            } else {
                format!(", scheduled for {due}")
            }
        }
        None => String::new(),
    };
    let comment = request.comment.as_deref().map(|c| format!(": {c}"));
    format!(
        "change request {} (revision {}) by {}, approved by {approvers}{schedule}{}",
        request.id,
        request.revision,
        request.author,
        comment.unwrap_or_default()
    )
}

/// The write that keeps the runner's index in step with `record`, committed with every write
/// of a change request: its entry while it waits for its time, none otherwise.
pub(crate) fn index_write(record: &ChangeRequestRecord) -> Write {
    let key = ScheduleEntry::key(&record.project, &record.id);
    match record.run_at_ms {
        Some(run_at_ms) if record.state == RequestState::Pending => {
            let entry = ScheduleEntry {
                project: record.project.clone(),
                id: record.id.clone(),
                run_at_ms,
            };
            records::put(GLOBAL, &key, &entry, Expected::Any)
        }
        _ => records::delete::<ScheduleEntry>(GLOBAL, &key, Expected::Any),
    }
}

fn held(record: ChangeRequestRecord, version: i64) -> Decision {
    Decision::Held(Box::new(ChangeRequest::from(Versioned {
        key: record.id.clone(),
        version,
        record,
    })))
}

/// The 409 of a change request whose base moved on.
fn moved_on(request: &ChangeRequestRecord, now: &[BaseVersion]) -> ApiError {
    let describe = |bases: &[BaseVersion]| {
        bases
            .iter()
            .map(|b| format!("{} {:?} at version {}", b.kind, b.key, b.version))
            .collect::<Vec<_>>()
            .join(", ")
    };
    ApiError::new(
        Code::Conflict,
        format!(
            "change request {} was based on {}, but it is now {}; its author revises it",
            request.id,
            describe(&request.base),
            describe(now)
        ),
    )
    .field("base")
}
