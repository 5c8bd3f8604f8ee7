//! Config as code (`docs/config-as-code.md`): the project as one document. Export answers it
//! with its revision; plan says what applying a document would change, field by field; apply
//! makes all of it in one store commit with one audit record, or nothing — each change
//! authorized as if made alone, every problem named by file and field, and the whole apply one
//! change request where any change needs approval.

mod apply;
mod checks;
pub(super) mod document;
mod plan;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use switchyard_engine::model::{FlagSpec, Segment, Targeting};
use switchyard_store::Store;

use super::change_requests::{Gate, Gated};
use super::ctx::{Body, Ctx};
use crate::access::resources as res;
use crate::access::{Action, random_hex};
use crate::error::{ApiError, ApiResult, Code, Problem};
use crate::records::{self, EnvironmentRecord, GLOBAL, ProjectRecord, Versioned, env_scope};
use document::{
    CONFIG_FORMAT, ConfigApplied, ConfigApplyInput, ConfigExport, ConfigPlan, FlagConfig,
    ProjectConfig, SegmentConfig, revision_of,
};

/// The project as stored, with the versions an apply's writes expect.
#[derive(Debug, Default)]
pub(super) struct Live {
    pub project: Option<Versioned<ProjectRecord>>,
    pub environments: Vec<Versioned<EnvironmentRecord>>,
    pub flags: Vec<Versioned<FlagSpec>>,
    /// By (environment, flag); only flags that exist.
    pub targeting: BTreeMap<(String, String), Versioned<Targeting>>,
    /// By (environment, segment).
    pub segments: BTreeMap<(String, String), Versioned<Segment>>,
}

impl Live {
    pub(super) async fn load(store: &Store, project: &str) -> ApiResult<Live> {
        let mut live = Live {
            project: records::get(store, GLOBAL, project).await?,
            environments: records::list(store, project).await?,
            flags: records::list(store, project).await?,
            ..Live::default()
        };
        for env in &live.environments {
            let scope = env_scope(project, &env.key);
            for targeting in records::list::<Targeting>(store, &scope).await? {
                if live.flags.iter().any(|f| f.key == targeting.key) {
                    live.targeting
                        .insert((env.key.clone(), targeting.key.clone()), targeting);
                }
            }
            for segment in records::list::<Segment>(store, &scope).await? {
                live.segments
                    .insert((env.key.clone(), segment.key.clone()), segment);
            }
        }
        Ok(live)
    }

    /// The document of the live project (`None`: there is no such project).
    pub(super) fn config(&self) -> Option<ProjectConfig> {
        let project = self.project.as_ref()?;
        let flags = self
            .flags
            .iter()
            .map(|flag| FlagConfig {
                spec: flag.record.clone(),
                environments: self
                    .targeting
                    .iter()
                    .filter(|((_, key), _)| *key == flag.key)
                    .map(|((env, _), targeting)| (env.clone(), targeting.record.clone()))
                    .collect(),
            })
            .collect();
        let segments = self
            .segments
            .iter()
            .map(|((env, _), segment)| SegmentConfig {
                environment: env.clone(),
                segment: Segment {
                    version: 0,
                    ..segment.record.clone()
                },
            })
            .collect();
        Some(ProjectConfig {
            format: CONFIG_FORMAT,
            project: project.record.clone().into(),
            environments: self
                .environments
                .iter()
                .map(|env| env.record.clone().into())
                .collect(),
            flags,
            segments,
        })
    }

    /// The revision of the live project (`absent` when there is no such project).
    pub(super) fn revision(config: Option<&ProjectConfig>) -> String {
        config.map_or_else(|| "absent".to_owned(), revision_of)
    }
}

/// Refuses, auditing it, a caller who may not read all of the live project: an export that
/// left out what the caller cannot see would read, to a later `prune`, as deletions.
async fn authorize_reads(ctx: &Ctx, project: &str, live: &Live) -> ApiResult<()> {
    ctx.authorize(Action::ProjectRead, &res::project(project))
        .await?;
    for env in &live.environments {
        ctx.authorize(Action::EnvRead, &res::env(project, &env.key))
            .await?;
    }
    for flag in &live.flags {
        ctx.authorize(Action::FlagRead, &res::flag(project, &flag.key))
            .await?;
    }
    for (env, flag) in live.targeting.keys() {
        ctx.authorize(Action::FlagRead, &res::env_flag(project, env, flag))
            .await?;
    }
    for (env, segment) in live.segments.keys() {
        ctx.authorize(Action::SegmentRead, &res::segment(project, env, segment))
            .await?;
    }
    Ok(())
}

pub(in crate::api) async fn export_config(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<ConfigExport>> {
    ctx.authorize(Action::ProjectRead, &res::project(&project))
        .await?;
    let live = Live::load(&ctx.state.store, &project).await?;
    authorize_reads(&ctx, &project, &live).await?;
    let config = live
        .config()
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))?;
    Ok(Json(ConfigExport {
        revision: revision_of(&config),
        config,
    }))
}

/// A document planned against the live project.
pub(super) struct Planned {
    pub live: Live,
    pub live_config: Option<ProjectConfig>,
    /// The document with its defaults filled in (salts included), as an apply writes it.
    pub desired: ProjectConfig,
    /// The project as the apply leaves it.
    pub after: ProjectConfig,
    pub plan: ConfigPlan,
}

/// Plans `input` against the live project; a document with problems is a 422 naming every one,
/// a change to a running release's layer a 409 naming the release.
fn planned(ctx: &Ctx, project: &str, live: Live, input: &ConfigApplyInput) -> ApiResult<Planned> {
    super::ctx::check_key("project", project)?;
    let live_config = live.config();
    let mut desired = input.config.clone();
    let mut new_salt = || random_hex(4);
    let mut problems = plan::prepare(project, &mut desired, live_config.as_ref(), &mut new_salt);
    let after = plan::merged(live_config.as_ref(), &desired, input.prune);
    let changes = plan::changes(project, live_config.as_ref(), &after);
    problems.extend(checks::problems(live_config.as_ref(), &after));
    refuse_problems(problems)?;
    let releases = checks::release_conflicts(live_config.as_ref(), &after);
    if !releases.is_empty() {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "release layers belong to their releases: finish or abort them first ({})",
                releases.join("; ")
            ),
        )
        .field("release"));
    }
    let unmanaged = if input.prune {
        Vec::new()
    } else {
        plan::unmanaged(project, live_config.as_ref(), &desired)
    };
    let by_environment = checks::strictest(live_config.as_ref(), &changes).map_or(0, |(_, n)| n);
    let by_policy = apply::policy_approvals(ctx, &changes);
    let plan = ConfigPlan {
        revision: Live::revision(live_config.as_ref()),
        changes,
        unmanaged,
        required_approvals: by_environment.max(by_policy),
    };
    Ok(Planned {
        live,
        live_config,
        desired,
        after,
        plan,
    })
}

/// A 422 naming every problem (`message` counts and lists them; `field` is the first's).
fn refuse_problems(problems: Vec<Problem>) -> ApiResult<()> {
    let Some(first) = problems.first() else {
        return Ok(());
    };
    let listed: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}: {}", p.file, p.field, p.message))
        .collect();
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let mut error = ApiError::invalid(
        first.field.clone(),
        format!("{count} {noun}:\n{}", listed.join("\n")),
    );
    error.problems = problems;
    Err(error)
}

pub(in crate::api) async fn plan_config(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ConfigApplyInput>,
) -> ApiResult<Json<ConfigPlan>> {
    ctx.authorize(Action::ProjectRead, &res::project(&project))
        .await?;
    let live = Live::load(&ctx.state.store, &project).await?;
    authorize_reads(&ctx, &project, &live).await?;
    Ok(Json(planned(&ctx, &project, live, &input)?.plan))
}

pub(in crate::api) async fn apply_config(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ConfigApplyInput>,
) -> ApiResult<Gated<Json<ConfigApplied>>> {
    if let Gate::Schedule(_) = ctx.gate {
        return Err(ApiError::invalid(
            "operation",
            "a config apply cannot be scheduled; apply it when it is due",
        ));
    }
    let live = Live::load(&ctx.state.store, &project).await?;
    let planned = planned(&ctx, &project, live, &input)?;
    apply::authorize_changes(&ctx, &planned.plan.changes).await?;
    let revision = planned.plan.revision.clone();
    if let Some(expected) = &input.expect_revision
        && *expected != revision
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "the project moved on: it is at revision {revision}, not {expected}; plan again"
            ),
        )
        .field("expect_revision"));
    }
    // Nothing to do — unless a change request is being applied, which must still close, or
    // revised, which must still answer the revised request (its revision changes nothing).
    if planned.plan.changes.is_empty() && !matches!(ctx.gate, Gate::Apply(_) | Gate::Revise(_)) {
        return Ok(Gated::Done(Json(ConfigApplied {
            revision,
            plan: planned.plan,
        })));
    }
    // The request a change request keeps: the document as planned (salts made for new flags
    // included, so approving applies what was shown), pinned to this revision.
    let request = ConfigApplyInput {
        config: planned.desired.clone(),
        prune: input.prune,
        expect_revision: Some(revision),
        comment: input.comment.clone(),
    };
    let gated = apply::commit(&ctx, &project, &planned, &request).await?;
    let plan = planned.plan;
    match gated {
        Gated::Proposed(request) => Ok(Gated::Proposed(request)),
        Gated::Done(()) => {
            let live = Live::load(&ctx.state.store, &project).await?;
            let revision = Live::revision(live.config().as_ref());
            Ok(Gated::Done(Json(ConfigApplied { revision, plan })))
        }
    }
}
