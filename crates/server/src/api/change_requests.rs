//! Change requests (`docs/governance.md`): in an environment that requires approvals, a write to
//! targeting or segments (or a release start) does not take effect, nor, when any environment
//! requires approvals, a flag's archive, restore, definition or deletion (held in the strictest
//! one, `lifecycle::commit_project_gated`); [`commit_gated`], the one place those handlers
//! write through, stores it as a change request instead (answered `202 {"change_request": …}`).
//! Applying it runs the same handler again with the stored request body, pinned to the versions
//! the request was based on, and commits the write and the request's new state together with
//! one audit record, so it applies whole or not at all.

pub(crate) mod gate;
mod schedule;

use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::Expected;

pub use gate::ChangeRequest;
pub(crate) use gate::{
    Decision, Gate, Gated, Proposal, commit_gated, decide, not_subject_to_approval,
};
use gate::{index_write, resource_of, step};
pub(crate) use schedule::run_schedules;
pub use schedule::{Proposed, RescheduleInput, ScheduleInput};
pub(super) use schedule::{schedule_change, schedule_change_request};

use super::ctx::{Body, CommentQuery, Ctx, OptionalBody, strict_value};
use super::projects::load_environment;
use super::query::Query;
use super::{experiments, flags, lifecycle, release_plans, releases, segments};
use crate::access::{Action, Event};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, ChangeRequestRecord, Operation, RequestState, Versioned};

/// The body of approve, reject, withdraw and apply.
#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    #[serde(default)]
    pub comment: Option<String>,
    /// The revision being approved (recommended): a newer one is a 409, so nobody approves
    /// what they did not read.
    #[serde(default)]
    pub revision: Option<u32>,
}

/// A new revision of a change request: the route's body again, changed.
#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviseInput {
    /// The same body the original route takes (targeting, toggle or segment).
    pub request: Value,
    /// The revision being replaced (a newer one is a 409).
    #[serde(default)]
    pub revision: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListFilter {
    pub state: Option<RequestState>,
    pub environment: Option<String>,
    /// `true`: only scheduled changes; `false`: only unscheduled ones.
    pub scheduled: Option<bool>,
}

fn what(id: &str) -> String {
    format!("change request {id:?}")
}

/// The route a held write replays: its operation, and its project, environment and target.
pub(super) struct Route<'a> {
    pub operation: Operation,
    pub project: &'a str,
    pub env: &'a str,
    pub target: &'a str,
}

impl<'a> From<&'a ChangeRequestRecord> for Route<'a> {
    fn from(request: &'a ChangeRequestRecord) -> Route<'a> {
        Route {
            operation: request.operation,
            project: &request.project,
            env: &request.environment,
            target: &request.target,
        }
    }
}

/// Runs the handler of `route` with `body`, as `ctx.gate` says; the change request it
/// proposed, if it proposed one.
async fn replay(ctx: Ctx, route: Route<'_>, body: &Value) -> ApiResult<Option<ChangeRequest>> {
    let (project, env) = (route.project.to_owned(), route.env.to_owned());
    let path3 = Path((project.clone(), env.clone(), route.target.to_owned()));
    let flag_path = Path((project.clone(), route.target.to_owned()));
    let gated = match route.operation {
        Operation::UpdateTargeting => {
            let input = strict_value("request", body)?;
            flags::update_targeting(ctx, path3, Body(input))
                .await?
                .map(drop)
        }
        Operation::Toggle => {
            let input = strict_value("request", body)?;
            flags::toggle_flag(ctx, path3, Body(input)).await?.map(drop)
        }
        Operation::CreateSegment => {
            let input = strict_value("request", body)?;
            segments::create_segment(ctx, Path((project, env)), Body(input))
                .await?
                .map(drop)
        }
        Operation::DeleteSegment => {
            segments::delete_segment(ctx, path3, axum::extract::Query(comment_only(body)?))
                .await?
                .map(drop)
        }
        Operation::StartRelease => {
            let input = strict_value("request", body)?;
            releases::start_release(ctx, Path((project, env)), Body(input))
                .await?
                .map(drop)
        }
        Operation::UpdateSegment => {
            let input = strict_value("request", body)?;
            segments::update_segment(ctx, path3, Body(input))
                .await?
                .map(drop)
        }
        Operation::RemoveTargets => {
            let input = strict_value("request", body)?;
            flags::remove_targets(ctx, path3, Body(input))
                .await?
                .map(drop)
        }
        // Project-level flag changes: their route names no environment.
        Operation::ArchiveFlag => {
            let input = strict_value("request", body)?;
            lifecycle::archive_flag(ctx, flag_path, OptionalBody(input))
                .await?
                .map(drop)
        }
        Operation::RestoreFlag => {
            let input = strict_value("request", body)?;
            lifecycle::restore_flag(ctx, flag_path, OptionalBody(input))
                .await?
                .map(drop)
        }
        Operation::UpdateFlag => {
            let input = strict_value("request", body)?;
            flags::update_flag(ctx, flag_path, Body(input))
                .await?
                .map(drop)
        }
        Operation::DeleteFlag => flags::delete_flag(ctx, flag_path, Query(comment_only(body)?))
            .await?
            .map(drop),
        Operation::ApplyConfig => {
            let input = strict_value("request", body)?;
            super::config::apply_config(ctx, Path(project), Body(input))
                .await?
                .map(drop)
        }
        Operation::StartReleasePlan => {
            let input = strict_value("request", body)?;
            release_plans::create_release_plan(ctx, Path(project), Body(input))
                .await?
                .map(drop)
        }
        Operation::StartExperiment => experiments::replay(ctx, route, body).await?,
        Operation::ShipExperiment => experiments::replay(ctx, route, body).await?,
    };
    Ok(match gated {
        Gated::Done(()) => None,
        Gated::Proposed(request) => Some(*request),
    })
}

/// The body of a deletion (`{"comment"}`), strictly: anything else is a 422 naming it.
fn comment_only(body: &Value) -> ApiResult<CommentQuery> {
    if let Some(unknown) = body
        .as_object()
        .and_then(|fields| fields.keys().find(|k| *k != "comment"))
    {
        let message = format!("unknown field `{unknown}`: a deletion takes a comment only");
        return Err(ApiError::invalid(format!("request.{unknown}"), message));
    }
    serde_json::from_value(body.clone()).map_err(|e| ApiError::invalid("request", e.to_string()))
}

/// The same caller, writing as `gate` says.
pub(super) fn gated_ctx(ctx: &Ctx, gate: Gate) -> Ctx {
    Ctx {
        state: ctx.state.clone(),
        caller: ctx.caller.clone(),
        headers: HeaderMap::new(),
        gate,
    }
}

pub(super) async fn load(
    ctx: &Ctx,
    project: &str,
    id: &str,
) -> ApiResult<Versioned<ChangeRequestRecord>> {
    ctx.load_or_404(project, id, || what(id)).await
}

/// Loads a change request, then checks `action` on it: its resource names its environment,
/// which only the stored request knows, so an unknown id is a 404 to anyone (ids are random
/// and say nothing else).
pub(super) async fn load_authorized(
    ctx: &Ctx,
    project: &str,
    id: &str,
    action: Action,
) -> ApiResult<Versioned<ChangeRequestRecord>> {
    let stored = load(ctx, project, id).await?;
    ctx.authorize(action, &resource_of(&stored.record)).await?;
    Ok(stored)
}

pub(super) fn refuse_closed(record: &ChangeRequestRecord, what: &str) -> ApiResult<()> {
    if record.state.is_open() {
        return Ok(());
    }
    Err(ApiError::new(
        Code::Conflict,
        format!(
            "cannot {what} change request {}: it is {:?}",
            record.id, record.state
        ),
    )
    .field("state"))
}

/// A pending request, or the 409 saying why it cannot be `what`-ed (closed, or in conflict).
pub(super) fn refuse_unless_pending(record: &ChangeRequestRecord, what: &str) -> ApiResult<()> {
    if record.state == RequestState::Pending {
        return Ok(());
    }
    refuse_closed(record, what)?;
    Err(ApiError::new(
        Code::Conflict,
        format!(
            "change request {} is in conflict: its author revises it first",
            record.id
        ),
    )
    .field("state"))
}

/// Who decides when an approved request applies (applies it, or schedules it): its author,
/// or anyone who may approve it.
pub(super) async fn authorize_author_or_approver(
    ctx: &Ctx,
    record: &ChangeRequestRecord,
) -> ApiResult<()> {
    let resource = resource_of(record);
    let is_author = record.author == ctx.caller.account;
    if ctx.allows(Action::ChangeRequestApprove, &resource)
        || (is_author && ctx.allows(Action::ChangeRequestUpdate, &resource))
    {
        return Ok(());
    }
    Err(ctx.deny(Action::ChangeRequestUpdate, &resource).await)
}

pub(super) fn check_revision(record: &ChangeRequestRecord, revision: Option<u32>) -> ApiResult<()> {
    match revision {
        Some(revision) if revision != record.revision => {
            let mut error = ApiError::new(
                Code::Conflict,
                format!(
                    "change request {} is at revision {}, not {revision}; read it again",
                    record.id, record.revision
                ),
            )
            .field("revision");
            error.current_version = Some(i64::from(record.revision));
            Err(error)
        }
        _ => Ok(()),
    }
}

/// A 403 for what only the author (or only someone else) may do, audited as a denial.
async fn refuse_person(ctx: &Ctx, action: Action, resource: &str, why: &str) -> ApiError {
    let mut error = ctx.deny(action, resource).await;
    error.message = format!("{why} ({})", error.message);
    error
}

pub(super) async fn list_change_requests(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(filter): Query<ListFilter>,
) -> ApiResult<Json<Vec<ChangeRequest>>> {
    let all = records::list::<ChangeRequestRecord>(&ctx.state.store, &project).await?;
    let mut requests: Vec<ChangeRequest> = all
        .into_iter()
        .filter(|stored| {
            let record = &stored.record;
            filter.state.is_none_or(|s| s == record.state)
                && filter
                    .environment
                    .as_ref()
                    .is_none_or(|e| *e == record.environment)
                && filter
                    .scheduled
                    .is_none_or(|s| s == record.run_at_ms.is_some())
                && ctx.allows(Action::ChangeRequestRead, &resource_of(record))
        })
        .map(ChangeRequest::from)
        .collect();
    requests.sort_by_key(|r| std::cmp::Reverse(r.body.created_ms));
    Ok(Json(requests))
}

pub(super) async fn get_change_request(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Json<ChangeRequest>> {
    let stored = load_authorized(&ctx, &project, &id, Action::ChangeRequestRead).await?;
    Ok(Json(stored.into()))
}

pub(super) async fn revise_change_request(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
    Body(input): Body<ReviseInput>,
) -> ApiResult<Json<ChangeRequest>> {
    if !input.request.is_object() {
        return Err(ApiError::invalid(
            "request",
            "the route's request body, a JSON object such as {\"on\": true}",
        ));
    }
    let stored = load_authorized(&ctx, &project, &id, Action::ChangeRequestUpdate).await?;
    let resource = resource_of(&stored.record);
    if stored.record.author != ctx.caller.account {
        let why = "only its author revises a change request";
        return Err(refuse_person(&ctx, Action::ChangeRequestUpdate, &resource, why).await);
    }
    refuse_closed(&stored.record, "revise")?;
    check_revision(&stored.record, input.revision)?;
    let record = stored.record.clone();
    let revised = replay(
        gated_ctx(&ctx, Gate::Revise(Box::new(stored))),
        Route::from(&record),
        &input.request,
    )
    .await?;
    revised
        .map(Json)
        .ok_or_else(|| ApiError::internal("a revision took effect instead of being proposed"))
}

/// Moves `stored` to `state` as `ctx`'s caller: one history step named `step`, audited as
/// `event` with `comment`, committed at the version read (so a request that moved meanwhile
/// refuses it).
pub(super) async fn enter_state(
    ctx: &Ctx,
    stored: &Versioned<ChangeRequestRecord>,
    (state, step, event): (RequestState, &str, Event),
    comment: Option<&str>,
) -> ApiResult<ChangeRequest> {
    let mut record = stored.record.clone();
    record.state = state;
    let comment_text = comment.map(str::to_owned);
    record.record(
        ctx.state.clock.now_ms(),
        &ctx.caller.account,
        step,
        comment_text,
    );
    commit_step(ctx, stored, &record, event, comment).await
}

/// Commits one step of a change request that changes nothing else.
pub(super) async fn commit_step(
    ctx: &Ctx,
    stored: &Versioned<ChangeRequestRecord>,
    record: &ChangeRequestRecord,
    event: impl Into<&'static str>,
    comment: Option<&str>,
) -> ApiResult<ChangeRequest> {
    let resource = resource_of(record);
    let audit = step(event, &resource, Some(&stored.record), record, comment);
    let write = records::put(
        &record.project,
        &record.id,
        record,
        Expected::Version(stored.version),
    );
    let committed = ctx.commit(&[write, index_write(record)], audit).await?;
    Ok(ChangeRequest::from(Versioned {
        key: record.id.clone(),
        version: committed.versions[0],
        record: record.clone(),
    }))
}

pub(super) async fn approve_change_request(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<ReviewInput>,
) -> ApiResult<Json<ChangeRequest>> {
    let stored = load_authorized(&ctx, &project, &id, Action::ChangeRequestApprove).await?;
    let resource = resource_of(&stored.record);
    if stored.record.author == ctx.caller.account {
        let why = "nobody approves their own change request";
        return Err(refuse_person(&ctx, Action::ChangeRequestApprove, &resource, why).await);
    }
    refuse_unless_pending(&stored.record, "approve")?;
    check_revision(&stored.record, input.revision)?;
    let mut record = stored.record.clone();
    let account = ctx.caller.account.clone();
    if record
        .approvals
        .iter()
        .any(|a| a.account == account && a.revision == record.revision)
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!("you already approved revision {}", record.revision),
        ));
    }
    let now = now_ms();
    record.approvals.push(records::Approval {
        account: account.clone(),
        revision: record.revision,
        at_ms: now,
        comment: input.comment.clone(),
    });
    record.record(now, &account, "approved", input.comment.clone());
    let approved = commit_step(
        &ctx,
        &stored,
        &record,
        Action::ChangeRequestApprove,
        input.comment.as_deref(),
    )
    .await?;
    // The last approval needed applies the request at once, unless it is scheduled for later:
    // then the schedule runner applies it at its time.
    let later = record
        .run_at_ms
        .is_some_and(|at| at > ctx.state.clock.now_ms());
    if !later && approved.approved >= required_now(&ctx, &record).await? as usize {
        return apply_now(&ctx, approved.into_stored()).await.map(Json);
    }
    Ok(Json(approved))
}

/// The approvals the request needs now: its environment's count now (an administrator may
/// have changed it since the request was made; for a project-level change, the strictest
/// environment's), or what its author's policy required.
pub(super) async fn required_now(ctx: &Ctx, record: &ChangeRequestRecord) -> ApiResult<u32> {
    let by_environment = if record.operation.is_project_level() {
        // It changes every environment: the strictest one's count now.
        super::lifecycle::strictest_environment(ctx, &record.project)
            .await?
            .map_or(0, |env| env.required_approvals)
    } else {
        let env = load_environment(ctx, &record.project, &record.environment).await?;
        env.record.required_approvals
    };
    Ok(by_environment.max(record.policy_approvals))
}

/// Applies `stored` — exactly the version whose approvals the caller checked: the commit
/// expects that version, so a revision, rejection or withdrawal made meanwhile refuses it —
/// as `ctx`'s caller. A base that moved on marks it `conflict` (audited) and answers the 409.
/// Answers the request as it is afterwards.
pub(super) async fn apply_now(
    ctx: &Ctx,
    stored: Versioned<ChangeRequestRecord>,
) -> ApiResult<ChangeRequest> {
    let record = stored.record.clone();
    let applied_version = stored.version;
    let result = replay(
        gated_ctx(ctx, Gate::Apply(Box::new(stored))),
        Route::from(&record),
        &record.request,
    )
    .await;
    let (project, id) = (&record.project, &record.id);
    match result {
        Ok(_) => Ok(load(ctx, project, id).await?.into()),
        Err(error) if matches!(error.code, Code::Conflict | Code::PreconditionFailed) => {
            let now = load(ctx, project, id).await?;
            if now.version != applied_version {
                // The request itself moved (revised, closed, applied elsewhere): not a
                // conflict of its base, and nothing was applied.
                return Err(ApiError::new(
                    Code::Conflict,
                    format!(
                        "change request {id} changed while it was being applied; read it again"
                    ),
                )
                .field("version"));
            }
            if now.record.state.is_open() {
                let conflict = (
                    RequestState::Conflict,
                    "conflict",
                    Event::ChangeRequestConflict,
                );
                enter_state(ctx, &now, conflict, Some(&error.message)).await?;
            }
            Err(ApiError {
                field: error.field.or(Some("base".into())),
                ..error
            })
        }
        Err(error) => Err(error),
    }
}

pub(super) async fn apply_change_request(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<ReviewInput>,
) -> ApiResult<Json<ChangeRequest>> {
    let stored = load(&ctx, &project, &id).await?;
    authorize_author_or_approver(&ctx, &stored.record).await?;
    refuse_unless_pending(&stored.record, "apply")?;
    check_revision(&stored.record, input.revision)?;
    let required = required_now(&ctx, &stored.record).await?;
    let approved = stored.record.current_approvals();
    if approved < required as usize {
        return Err(ApiError::new(
            Code::Conflict,
            format!("change request {id} has {approved} of the {required} approvals it needs"),
        )
        .field("approvals"));
    }
    apply_now(&ctx, stored).await.map(Json)
}

/// Reject (an approver) or withdraw (the author): the request closes without effect.
async fn close(
    ctx: Ctx,
    (project, id): (String, String),
    input: ReviewInput,
    withdraw: bool,
) -> ApiResult<Json<ChangeRequest>> {
    let (action, event, state, step_name) = if withdraw {
        (
            Action::ChangeRequestUpdate,
            Event::ChangeRequestWithdraw,
            RequestState::Withdrawn,
            "withdrawn",
        )
    } else {
        (
            Action::ChangeRequestApprove,
            Event::ChangeRequestReject,
            RequestState::Rejected,
            "rejected",
        )
    };
    let stored = load_authorized(&ctx, &project, &id, action).await?;
    if withdraw && stored.record.author != ctx.caller.account {
        let resource = resource_of(&stored.record);
        let why = "only its author withdraws a change request";
        return Err(refuse_person(&ctx, action, &resource, why).await);
    }
    refuse_closed(&stored.record, if withdraw { "withdraw" } else { "reject" })?;
    check_revision(&stored.record, input.revision)?;
    enter_state(
        &ctx,
        &stored,
        (state, step_name, event),
        input.comment.as_deref(),
    )
    .await
    .map(Json)
}

pub(super) async fn reject_change_request(
    ctx: Ctx,
    Path(path): Path<(String, String)>,
    OptionalBody(input): OptionalBody<ReviewInput>,
) -> ApiResult<Json<ChangeRequest>> {
    close(ctx, path, input, false).await
}

pub(super) async fn withdraw_change_request(
    ctx: Ctx,
    Path(path): Path<(String, String)>,
    OptionalBody(input): OptionalBody<ReviewInput>,
) -> ApiResult<Json<ChangeRequest>> {
    close(ctx, path, input, true).await
}
