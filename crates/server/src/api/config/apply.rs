//! An apply's writes, authorization and gate: each change checked with the action its own route
//! checks (the first refusal refuses all), every write expecting the version planned against,
//! and all of them one commit with one audit record — or, where a change needs approval, one
//! change request whose applying replays this apply pinned to the same bases.

use std::collections::BTreeMap;

use switchyard_engine::model::{Segment, Targeting};
use switchyard_store::{Expected, Write};

use super::Planned;
use super::document::{ConfigApplyInput, ResourceChange};
use crate::access::resources as res;
use crate::access::{Action, Event, SdkKeyRecord};
use crate::api::change_requests::gate::decide_with_policy;
use crate::api::change_requests::{Decision, Gate, Gated, Proposal};
use crate::api::ctx::{Change, Ctx};
use crate::api::flags::environments;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvironmentRecord, FlagSpec, GLOBAL, Operation, ProjectRecord, Record, env_scope,
    expect_version,
};

/// The actions a change is checked with: those of the route that would make it alone.
pub(super) fn actions(change: &ResourceChange) -> Vec<Action> {
    let by_action = |create, update, delete| match change.action.as_str() {
        "create" => create,
        "delete" => delete,
        _ => update,
    };
    match change.kind.as_str() {
        "project" => vec![by_action(
            Action::ProjectCreate,
            Action::ProjectUpdate,
            Action::ProjectDelete,
        )],
        "environment" => vec![by_action(
            Action::EnvCreate,
            Action::EnvUpdate,
            Action::EnvDelete,
        )],
        "segment" => vec![by_action(
            Action::SegmentCreate,
            Action::SegmentUpdate,
            Action::SegmentDelete,
        )],
        "flag" if change.action == "update" => {
            // Archiving and restoring have routes of their own.
            let mut actions = Vec::new();
            for field in &change.fields {
                match (field.field.as_str(), field.after.as_deref()) {
                    ("archived", Some("true")) => actions.push(Action::FlagArchive),
                    ("archived", _) => actions.push(Action::FlagRestore),
                    _ if !actions.contains(&Action::FlagUpdate) => actions.push(Action::FlagUpdate),
                    _ => {}
                }
            }
            actions
        }
        "flag" => vec![by_action(
            Action::FlagCreate,
            Action::FlagUpdate,
            Action::FlagDelete,
        )],
        // Turning a flag on or off alone is a toggle.
        _ if change.action == "update" && change.fields.iter().all(|f| f.field == "on") => {
            vec![Action::FlagToggle]
        }
        _ => vec![Action::FlagUpdate],
    }
}

/// Checks every change as its own route would; the first refusal (audited) refuses the apply.
/// Applying an approved change request replays what its author was authorized for.
pub(super) async fn authorize_changes(ctx: &Ctx, changes: &[ResourceChange]) -> ApiResult<()> {
    if let Gate::Apply(stored) = &ctx.gate
        && stored.record.operation == Operation::ApplyConfig
    {
        return Ok(());
    }
    for change in changes {
        for action in actions(change) {
            ctx.authorize(action, &change.resource).await?;
        }
    }
    Ok(())
}

/// What the caller's own `require_approval` statements ask of these changes (the most).
pub(super) fn policy_approvals(ctx: &Ctx, changes: &[ResourceChange]) -> u32 {
    changes
        .iter()
        .flat_map(|change| {
            actions(change).into_iter().map(|action| {
                ctx.caller
                    .required_approvals(action.as_str(), &change.resource)
            })
        })
        .max()
        .unwrap_or(0)
}

/// Writes by (kind, scope, key), so a record two changes touch (a targeting deleted with its
/// flag or environment) is written once.
type Writes = BTreeMap<(String, String, String), Write>;

fn add(writes: &mut Writes, write: Write) {
    let (Write::Put {
        kind, scope, key, ..
    }
    | Write::Delete {
        kind, scope, key, ..
    }) = &write;
    writes.insert((kind.clone(), scope.clone(), key.clone()), write);
}

/// The writes that make the live project the planned one, each expecting the version it was
/// planned against.
async fn writes(ctx: &Ctx, project: &str, planned: &Planned) -> ApiResult<Vec<Write>> {
    let (live, after) = (&planned.live, &planned.after);
    let mut writes = Writes::new();
    for change in &planned.plan.changes {
        let delete = change.action == "delete";
        let key = change.key.as_str();
        match change.kind.as_str() {
            "project" => {
                let expected = live
                    .project
                    .as_ref()
                    .map_or(Expected::Absent, |p| Expected::Version(p.version));
                let record = ProjectRecord::from(after.project.clone());
                add(
                    &mut writes,
                    records::put(GLOBAL, project, &record, expected),
                );
            }
            "environment" => {
                let stored = live.environments.iter().find(|e| e.key == key);
                let expected = stored.map_or(Expected::Absent, |e| Expected::Version(e.version));
                if delete {
                    add(
                        &mut writes,
                        records::delete::<EnvironmentRecord>(project, key, expected),
                    );
                    // What only this environment has goes with it, as `DELETE …/environments/{env}`.
                    let scope = env_scope(project, key);
                    for kind in [Targeting::KIND, Segment::KIND, SdkKeyRecord::KIND] {
                        for child in ctx.state.store.list(kind, &scope).await? {
                            add(
                                &mut writes,
                                Write::Delete {
                                    kind: kind.into(),
                                    scope: scope.clone(),
                                    key: child.key,
                                    expected: Expected::Version(child.version),
                                },
                            );
                        }
                    }
                } else if let Some(env) = after.environments.iter().find(|e| e.key == key) {
                    let record = EnvironmentRecord::from(env.clone());
                    add(&mut writes, records::put(project, key, &record, expected));
                }
            }
            "segment" => {
                let env = change.environment.clone().unwrap_or_default();
                let scope = env_scope(project, &env);
                let stored = live.segments.get(&(env.clone(), key.to_owned()));
                let expected = stored.map_or(Expected::Absent, |s| Expected::Version(s.version));
                let segment = after
                    .segments
                    .iter()
                    .find(|s| s.environment == env && s.segment.key == key);
                match segment {
                    Some(segment) if !delete => {
                        add(
                            &mut writes,
                            records::put(&scope, key, &segment.segment, expected),
                        );
                    }
                    _ => add(
                        &mut writes,
                        records::delete::<Segment>(&scope, key, expected),
                    ),
                }
            }
            "flag" => {
                let stored = live.flags.iter().find(|f| f.key == key);
                let expected = stored.map_or(Expected::Absent, |f| Expected::Version(f.version));
                match after.flags.iter().find(|f| f.spec.key == key) {
                    Some(flag) if !delete => {
                        add(
                            &mut writes,
                            records::put(project, key, &flag.spec, expected),
                        );
                    }
                    _ => {
                        add(
                            &mut writes,
                            records::delete::<FlagSpec>(project, key, expected),
                        );
                        for ((env, flag), targeting) in &live.targeting {
                            if flag == key {
                                let scope = env_scope(project, env);
                                let version = Expected::Version(targeting.version);
                                let write = records::delete::<Targeting>(&scope, key, version);
                                add(&mut writes, write);
                            }
                        }
                    }
                }
            }
            _ => {
                let env = change.environment.clone().unwrap_or_default();
                let scope = env_scope(project, &env);
                let stored = live.targeting.get(&(env.clone(), key.to_owned()));
                let expected = expect_version(stored.map_or(0, |t| t.version));
                let targeting = after
                    .flags
                    .iter()
                    .find(|f| f.spec.key == key)
                    .and_then(|f| f.environments.get(&env));
                match targeting {
                    Some(targeting) if !delete => {
                        add(&mut writes, records::put(&scope, key, targeting, expected));
                    }
                    _ => add(
                        &mut writes,
                        records::delete::<Targeting>(&scope, key, expected),
                    ),
                }
            }
        }
    }
    Ok(writes.into_values().collect())
}

/// Commits the planned writes with one audit record (`config:apply` on the project, `after`:
/// the plan's changes), or — where a change needs approval — makes them one change request
/// (`request`: the body its applying replays).
pub(super) async fn commit(
    ctx: &Ctx,
    project: &str,
    planned: &Planned,
    request: &ConfigApplyInput,
) -> ApiResult<Gated<()>> {
    let mut writes = writes(ctx, project, planned).await?;
    let resource = res::project(project);
    let change = Change {
        action: Event::ConfigApply.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&planned.plan.changes)),
        comment: request.comment.as_deref(),
    };
    let hold = super::checks::strictest(planned.live_config.as_ref(), &planned.plan.changes);
    // The caller's policy may require approvals of some change (a flag, an environment) that
    // the whole apply's action and resource do not match: the request stores the most.
    let by_policy = policy_approvals(ctx, &planned.plan.changes);
    let env = match (&ctx.gate, hold) {
        (Gate::Schedule(_), _) => {
            return Err(ApiError::invalid(
                "operation",
                "a config apply cannot be scheduled; apply it when it is due",
            ));
        }
        (Gate::Live, Some((env, _))) => env,
        (Gate::Live, None) if by_policy > 0 => {
            // No environment requires approvals, but the caller's policy does: the request
            // waits in the project's first environment (as a flag's lifecycle change does).
            let first = environments(ctx, project).await?.into_iter().min();
            first.ok_or_else(|| {
                ApiError::new(
                    Code::Conflict,
                    "this apply needs approval, but the project has no environment to review \
                     it in",
                )
                .field("approvals")
            })?
        }
        (Gate::Live, None) => {
            ctx.commit(&writes, change).await?;
            return Ok(Gated::Done(()));
        }
        // A revision may change other environments than the request did: it waits in the
        // strictest one it changes now, so applying it counts that one's approvals.
        (Gate::Revise(_), Some((env, _))) => env,
        (Gate::Revise(stored), None) | (Gate::Apply(stored), _) => {
            stored.record.environment.clone()
        }
    };
    let proposal = Proposal {
        project,
        env: &env,
        operation: Operation::ApplyConfig,
        target: project,
        request: records::encode(request),
    };
    match decide_with_policy(ctx, proposal, &writes, &change, by_policy).await? {
        Decision::Held(request) => Ok(Gated::Proposed(request)),
        Decision::Commit { also, note } => {
            writes.extend(also);
            let change = match &note {
                Some(note) => change.comment(Some(note)),
                None => change,
            };
            ctx.commit(&writes, change).await?;
            Ok(Gated::Done(()))
        }
    }
}
