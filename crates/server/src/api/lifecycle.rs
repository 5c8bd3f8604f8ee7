//! A flag's lifecycle (`docs/evaluation.md`, "Archived flags"): archiving takes it out of every
//! SDK, relay and OFREP payload — refused while another flag requires it, unless forced — and
//! restoring brings it back unchanged. Both keep the flag's variations and targeting as stored
//! and move its version on by one write.
//!
//! These, a flag's definition and its deletion change every environment at once: when any
//! environment requires approvals they are held as change requests (`docs/governance.md`) in
//! the strictest one, through [`commit_project_gated`].

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_store::{Committed, Expected, Write};

use super::change_requests::{Gate, Gated, Proposal, commit_gated};
use super::ctx::{Change, Ctx, OptionalBody};
use super::flags::{FlagView, environments, flag_view, load_spec};
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvData, EnvironmentRecord, FlagSpec, Operation, encode, no_new_problems,
};

/// The optional body of `POST …/flags/{flag}/archive`.
#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInput {
    /// Archive even though other flags list this one as a prerequisite: they then fail it and
    /// serve their off variation (`PREREQUISITE_FAILED`). Audited as forced, with the dependents.
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The optional body of `POST …/flags/{flag}/restore`.
#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreInput {
    #[serde(default)]
    pub comment: Option<String>,
}

/// The environment a project-level flag change waits in: the one that requires the most
/// approvals (ties: the first by key), so its approvers review it and its count applies;
/// `None` when no environment of the project requires any.
pub(super) async fn strictest_environment(
    ctx: &Ctx,
    project: &str,
) -> ApiResult<Option<EnvironmentRecord>> {
    let mut found: Option<EnvironmentRecord> = None;
    for stored in records::list::<EnvironmentRecord>(&ctx.state.store, project).await? {
        let env = stored.record;
        let stricter = match &found {
            Some(best) => {
                env.required_approvals > best.required_approvals
                    || (env.required_approvals == best.required_approvals && env.key < best.key)
            }
            None => env.required_approvals > 0,
        };
        if stricter {
            found = Some(env);
        }
    }
    Ok(found)
}

/// What a project-level flag change is: its operation, the flag, and the body its route took
/// (replayed when the change request applies).
pub(super) struct FlagChange<'a> {
    pub operation: Operation,
    pub flag: &'a str,
    pub request: Value,
}

/// The one place project-level flag changes write through: `writes` (audited as `change`) take
/// effect at once while no environment requires approvals; otherwise they become a change
/// request in the strictest environment ([`strictest_environment`]). Revising and applying keep
/// the environment the request was made in.
pub(super) async fn commit_project_gated(
    ctx: &Ctx,
    project: &str,
    what: FlagChange<'_>,
    writes: Vec<Write>,
    change: Change<'_>,
) -> ApiResult<Gated<Committed>> {
    let env = match &ctx.gate {
        Gate::Live => match strictest_environment(ctx, project).await? {
            Some(env) => env.key,
            // No environment requires approvals, but the author's policy may: the request
            // then waits in the project's first environment.
            None if ctx
                .caller
                .required_approvals(change.action, change.resource)
                > 0 =>
            {
                let first = environments(ctx, project).await?.into_iter().min();
                first.ok_or_else(|| {
                    ApiError::new(
                        Code::Conflict,
                        "this change needs approval, but the project has no environment to \
                         review it in",
                    )
                })?
            }
            None => return Ok(Gated::Done(ctx.commit(&writes, change).await?)),
        },
        Gate::Schedule(_) => {
            return Err(ApiError::invalid(
                "operation",
                "a flag's archive, restore, definition or deletion cannot be scheduled (it \
                 belongs to no one environment); make it when it is due",
            ));
        }
        Gate::Revise(stored) | Gate::Apply(stored) => stored.record.environment.clone(),
    };
    let proposal = Proposal {
        project,
        env: &env,
        operation: what.operation,
        target: what.flag,
        request: what.request,
    };
    commit_gated(ctx, proposal, writes, change).await
}

/// `env/flag` of every live (not archived) flag that lists `flag` as a prerequisite.
async fn dependents(ctx: &Ctx, project: &str, flag: &str) -> ApiResult<Vec<String>> {
    let mut found = Vec::new();
    for env in environments(ctx, project).await? {
        let data = EnvData::load(&ctx.state.store, project, &env).await?;
        for (key, other) in &data.flags {
            let requires = other.targeting.prerequisites.iter().any(|p| p.key == flag);
            if requires && key != flag && !other.spec.archived {
                found.push(format!("{env}/{key}"));
            }
        }
    }
    Ok(found)
}

pub(super) async fn archive_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<ArchiveInput>,
) -> ApiResult<Gated<Json<FlagView>>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize(Action::FlagArchive, &resource).await?;
    let stored = load_spec(&ctx, &project, &flag).await?;
    if stored.record.archived {
        return Err(ApiError::new(
            Code::Conflict,
            format!("flag {flag:?} is already archived"),
        ));
    }
    let dependents = dependents(&ctx, &project, &flag).await?;
    // A forced archive turns its dependents off: applying it turns off only those its
    // approvers saw.
    if let Gate::Apply(stored) = &ctx.gate {
        let approved = stored
            .record
            .after
            .as_ref()
            .and_then(|a| a.get("dependents"));
        let approved: Vec<String> = approved
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default();
        if approved != dependents {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "the flags that require {flag:?} changed since the archive was approved \
                     (then {approved:?}, now {dependents:?}); its author revises it"
                ),
            )
            .field("dependents"));
        }
    }
    if !dependents.is_empty() && !input.force {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "flag {flag:?} is a prerequisite of {}: remove it from their prerequisites \
                 first, or archive with \"force\": true (they will then serve their off \
                 variation)",
                dependents.join(", ")
            ),
        )
        .field("force"));
    }
    let before = stored.record;
    let spec = FlagSpec {
        archived: true,
        ..before.clone()
    };
    let mut change = Change::updated(Action::FlagArchive, &resource, &before, &spec)
        .comment(input.comment.as_deref());
    if !dependents.is_empty()
        && let Some(after) = change.after.as_mut().and_then(|a| a.as_object_mut())
    {
        after.insert("forced".into(), json!(true));
        after.insert("dependents".into(), json!(dependents));
    }
    let what = FlagChange {
        operation: Operation::ArchiveFlag,
        flag: &flag,
        request: encode(&input),
    };
    write(&ctx, &project, (spec, stored.version), what, change).await
}

pub(super) async fn restore_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<RestoreInput>,
) -> ApiResult<Gated<Json<FlagView>>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize(Action::FlagRestore, &resource).await?;
    let stored = load_spec(&ctx, &project, &flag).await?;
    if !stored.record.archived {
        return Err(ApiError::new(
            Code::Conflict,
            format!("flag {flag:?} is not archived"),
        ));
    }
    let before = stored.record;
    let spec = FlagSpec {
        archived: false,
        ..before.clone()
    };
    // Archived flags stay in every environment's validation (turned off), so this holds unless
    // something an earlier version stored is broken; checked anyway, never restored half-valid.
    for env in environments(&ctx, &project).await? {
        let mut data = EnvData::load(&ctx.state.store, &project, &env).await?;
        let old = data.dataset();
        if let Some(restored) = data.flags.get_mut(&flag) {
            restored.spec = spec.clone();
        }
        no_new_problems(&old, &data.dataset())?;
    }
    let change = Change::updated(Action::FlagRestore, &resource, &before, &spec)
        .comment(input.comment.as_deref());
    let what = FlagChange {
        operation: Operation::RestoreFlag,
        flag: &flag,
        request: encode(&input),
    };
    write(&ctx, &project, (spec, stored.version), what, change).await
}

/// Writes the spec at the version it was read at, with its audit record (or holds it for
/// approval).
async fn write(
    ctx: &Ctx,
    project: &str,
    (spec, version): (FlagSpec, i64),
    what: FlagChange<'_>,
    change: Change<'_>,
) -> ApiResult<Gated<Json<FlagView>>> {
    let write = records::put(project, &spec.key, &spec, Expected::Version(version));
    let version = match commit_project_gated(ctx, project, what, vec![write], change).await? {
        Gated::Done(committed) => committed.versions[0],
        Gated::Proposed(request) => return Ok(Gated::Proposed(request)),
    };
    let environments = environments(ctx, project).await?;
    Ok(Gated::Done(Json(
        flag_view(ctx, project, &environments, spec, version).await?,
    )))
}
