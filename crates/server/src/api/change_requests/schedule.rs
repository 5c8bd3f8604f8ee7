//! Scheduled changes (`docs/governance.md`, "Scheduled changes"): a change request with a
//! time. Creating one replays the route's handler with [`Gate::Schedule`], so it is validated
//! and authorized exactly as the write itself; the runner ([`run_schedules`], started by
//! `serve`) applies it when it is due through the same path an approver's apply takes.
//!
//! Exactly once: applying commits the write together with the request's `applied` state at
//! the version it read, so of two replicas (or a replica and a person) racing, one commits and
//! the other's whole commit is refused. A time missed while no replica ran is applied by the
//! first pass after start, and its audit record says it ran late.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::Expected;

use super::gate::{Gate, index_write, resource_of, step};
use super::{
    ChangeRequest, Route, apply_now, authorize_author_or_approver, check_revision, enter_state,
    gated_ctx, load, refuse_unless_pending, replay, required_now,
};
use crate::access::{Caller, Event};
use crate::api::ctx::{Body, Ctx};
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, ChangeRequestRecord, GLOBAL, Operation, RequestState, ScheduleEntry, Versioned,
};
use crate::state::AppState;

/// How often the runner looks for due changes.
const RUN_EVERY: Duration = Duration::from_secs(1);

/// A change to make at a time: the route (operation, environment, target) and the body it
/// takes, as a change request would hold them.
#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub environment: String,
    pub operation: Operation,
    /// The flag or segment the route writes (not for `create_segment`, whose key is in the
    /// body, nor `start_release`, whose flag is).
    #[serde(default)]
    pub target: Option<String>,
    /// The body the route takes, e.g. `{"on": false, "comment": "end of the promotion"}`.
    pub request: Value,
    /// When it applies (RFC 3339, in the future).
    pub at: String,
}

/// A new time for an open change request, or none (`null`: it applies when approved).
#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleInput {
    /// Required, so a body that forgets it never takes a time away (which may apply it).
    #[serde(deserialize_with = "present_or_null")]
    pub at: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// The revision being scheduled (a newer one is a 409).
    #[serde(default)]
    pub revision: Option<u32>,
}

/// `null` or a string, but never absent: serde would read an absent `Option` as `null`.
fn present_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// The answer of a write that became a change request.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Proposed {
    pub change_request: ChangeRequest,
}

/// A future time, or the 422 naming `at`.
fn future_time(ctx: &Ctx, at: &str) -> ApiResult<i64> {
    let at_ms = switchyard_engine::time::parse_rfc3339_ms(at)
        .ok_or_else(|| ApiError::invalid("at", "an RFC 3339 time such as 2027-01-31T18:00:00Z"))?;
    if at_ms <= ctx.state.clock.now_ms() {
        return Err(ApiError::invalid(
            "at",
            format!("{at} is not in the future"),
        ));
    }
    Ok(at_ms)
}

pub(in crate::api) async fn schedule_change(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ScheduleInput>,
) -> ApiResult<(StatusCode, Json<Proposed>)> {
    let at_ms = future_time(&ctx, &input.at)?;
    if !input.request.is_object() {
        return Err(ApiError::invalid(
            "request",
            "the route's request body, a JSON object such as {\"on\": false}",
        ));
    }
    let names_its_target = !matches!(
        input.operation,
        Operation::CreateSegment | Operation::StartRelease
    );
    let target = match (&input.target, names_its_target) {
        (Some(target), true) => target.clone(),
        (None, false) => String::new(),
        (None, true) => {
            return Err(ApiError::invalid(
                "target",
                "the flag or segment this operation changes",
            ));
        }
        (Some(_), false) => {
            return Err(ApiError::invalid(
                "target",
                "this operation names what it creates or releases in its request body",
            ));
        }
    };
    let route = Route {
        operation: input.operation,
        project: &project,
        env: &input.environment,
        target: &target,
    };
    let proposed = replay(
        gated_ctx(&ctx, Gate::Schedule(at_ms)),
        route,
        &input.request,
    )
    .await?;
    let change_request =
        proposed.ok_or_else(|| ApiError::internal("a scheduled change took effect at once"))?;
    Ok((StatusCode::ACCEPTED, Json(Proposed { change_request })))
}

pub(in crate::api) async fn schedule_change_request(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
    Body(input): Body<RescheduleInput>,
) -> ApiResult<Json<ChangeRequest>> {
    let stored = load(&ctx, &project, &id).await?;
    authorize_author_or_approver(&ctx, &stored.record).await?;
    refuse_unless_pending(&stored.record, "schedule")?;
    if stored.record.operation.is_project_level() {
        return Err(ApiError::invalid(
            "at",
            "a flag's archive, restore, definition or deletion cannot be scheduled: it belongs \
             to no one environment",
        ));
    }
    let resource = resource_of(&stored.record);
    check_revision(&stored.record, input.revision)?;
    let at_ms = input
        .at
        .as_deref()
        .map(|at| future_time(&ctx, at))
        .transpose()?;
    let mut record = stored.record.clone();
    record.run_at_ms = at_ms;
    let step_name = if at_ms.is_some() {
        "scheduled"
    } else {
        "unscheduled"
    };
    let now = ctx.state.clock.now_ms();
    record.record(now, &ctx.caller.account, step_name, input.comment.clone());
    let audit = step(
        Event::ChangeRequestSchedule,
        &resource,
        Some(&stored.record),
        &record,
        input.comment.as_deref(),
    );
    let write = records::put(&project, &id, &record, Expected::Version(stored.version));
    let committed = ctx.commit(&[write, index_write(&record)], audit).await?;
    let scheduled = ChangeRequest::from(Versioned {
        key: id.clone(),
        version: committed.versions[0],
        record,
    });
    // Taking the time away from a request that has its approvals applies it now, as the
    // last approval would have.
    if at_ms.is_none() && scheduled.approved >= required_now(&ctx, &scheduled.body).await? as usize
    {
        return apply_now(&ctx, scheduled.into_stored()).await.map(Json);
    }
    Ok(Json(scheduled))
}

/// The schedule runner: every [`RUN_EVERY`] (and at once when it starts, which applies what
/// was missed while no replica ran) it applies the scheduled changes that are due.
pub(crate) async fn run_schedules(
    state: Arc<AppState>,
    stopping: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(stopping);
    let mut ticks = tokio::time::interval(RUN_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = &mut stopping => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = run_due(&state).await {
            tracing::warn!(error = %error.message, "scheduled changes pass failed");
        }
    }
}

async fn run_due(state: &Arc<AppState>) -> ApiResult<()> {
    let now = state.clock.now_ms();
    let mut due: Vec<Versioned<ScheduleEntry>> =
        records::list::<ScheduleEntry>(&state.store, GLOBAL)
            .await?
            .into_iter()
            .filter(|entry| entry.record.run_at_ms <= now)
            .collect();
    due.sort_by_key(|entry| entry.record.run_at_ms);
    for entry in due {
        let (project, id) = (&entry.record.project, &entry.record.id);
        if let Err(error) = run_one(state, &entry).await {
            tracing::warn!(project, id, error = %error.message, "scheduled change failed");
        }
    }
    Ok(())
}

/// Applies one due change request, or closes it as expired or failed. Every write of a
/// request keeps its entry in step, so an entry means a pending request due at its time.
async fn run_one(state: &Arc<AppState>, entry: &Versioned<ScheduleEntry>) -> ApiResult<()> {
    let ScheduleEntry { project, id, .. } = &entry.record;
    match records::get::<ChangeRequestRecord>(&state.store, project, id).await? {
        Some(stored) if stored.record.state == RequestState::Pending => {
            run_request(state, stored).await
        }
        // Its project was deleted, or another replica just closed it.
        _ => Ok(()),
    }
}

async fn run_request(
    state: &Arc<AppState>,
    stored: Versioned<ChangeRequestRecord>,
) -> ApiResult<()> {
    let record = &stored.record;
    let runner = runner_ctx(state, Caller::schedule_runner(&record.id));
    let outcome = async {
        // Its author's rights now, not when it was made: a schedule does not outlive them.
        let author = Caller::for_schedule(&state.store, &record.author, &record.id).await?;
        if !author.allows_named(&record.action, &record.resource) {
            return Err(ApiError::new(
                Code::Forbidden,
                format!(
                    "its author {:?} may no longer {} on {}",
                    record.author, record.action, record.resource
                ),
            ));
        }
        let by_policy = author.required_approvals(&record.action, &record.resource);
        let required = required_now(&runner, record).await?.max(by_policy);
        let approved = record.current_approvals();
        if approved < required as usize {
            let why = format!("its time came with {approved} of the {required} approvals it needs");
            return close(&runner, &stored, RequestState::Expired, &why).await;
        }
        apply_now(&runner_ctx(state, author), stored.clone())
            .await
            .map(drop)
    }
    .await;
    match outcome {
        Ok(_) => Ok(()),
        // The base moved on (marked `conflict`, audited), or the request moved (another
        // replica applied it first, or a person changed it): the next pass reads it again.
        Err(error) if matches!(error.code, Code::Conflict | Code::PreconditionFailed) => Ok(()),
        // The store or something else failed for now: the next pass tries again.
        Err(error) if error.code.status().is_server_error() => Err(error),
        Err(error) => {
            // Refused (no longer valid, its environment gone, its author no longer allowed):
            // closed, unless another replica got to it first.
            let now: Option<Versioned<ChangeRequestRecord>> =
                records::get(&state.store, &record.project, &record.id).await?;
            match now {
                Some(now) if now.version == stored.version => {
                    close(&runner, &now, RequestState::Failed, &error.message).await
                }
                _ => Ok(()),
            }
        }
    }
}

/// Closes a due request that cannot apply, saying why in its history and the audit log.
async fn close(
    runner: &Ctx,
    stored: &Versioned<ChangeRequestRecord>,
    state: RequestState,
    why: &str,
) -> ApiResult<()> {
    let step = match state {
        RequestState::Expired => (state, "expired", Event::ChangeRequestExpire),
        _ => (state, "failed", Event::ChangeRequestFail),
    };
    match enter_state(runner, stored, step, Some(why)).await {
        // Another replica closed or applied it meanwhile.
        Err(error) if error.code == Code::Conflict => Ok(()),
        other => other.map(drop),
    }
}

fn runner_ctx(state: &Arc<AppState>, caller: Caller) -> Ctx {
    Ctx {
        state: state.clone(),
        caller,
        headers: HeaderMap::new(),
        gate: Gate::Live,
    }
}
