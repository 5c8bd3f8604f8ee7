//! Flags: project-level definitions and per-environment targeting, with the one-call toggle.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{Dialect, FlagKind, Targeting, Variation};
use switchyard_store::Expected;

use super::change_requests::{Gated, Proposal};
use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, check_key, still_used};
use super::lifecycle::{FlagChange, commit_project_gated};
use super::projects::{load_environment, load_project};
use super::query::Query;
use crate::access::resources as res;
use crate::access::{Action, random_hex};
use crate::error::{ApiError, ApiResult, Code};
use crate::records::Operation;
use crate::records::{
    self, EnvData, EnvFlag, EnvironmentRecord, FlagSpec, OffServing, Record, Versioned, env_scope,
    expect_version, no_new_problems, normalize_flag_spec,
};

mod list;
pub(in crate::api) mod variations_in_use;
pub(super) use list::list_flags;

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct FlagInput {
    #[serde(flatten)]
    pub spec: FlagSpec,
    /// The version being replaced (or send `If-Match`); updates only.
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A flag's targeting in one environment; `version` 0 means it was never edited (defaults).
#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize)]
pub struct EnvTargeting {
    #[serde(flatten)]
    pub targeting: Targeting,
    pub version: i64,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub spec: FlagSpec,
    pub version: i64,
    /// Only the environments the caller may read.
    pub environments: BTreeMap<String, EnvTargeting>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct TargetingView {
    pub flag: String,
    pub environment: String,
    pub kind: FlagKind,
    pub variations: Vec<Variation>,
    #[serde(flatten)]
    pub targeting: EnvTargeting,
    /// What everyone gets while the flag is off here (`null`: the application's own default).
    pub serves_when_off: Option<OffServing>,
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct TargetingInput {
    #[serde(flatten)]
    pub targeting: Targeting,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct ToggleInput {
    /// The state to set. Required: a flip would not be idempotent (a retried request would
    /// undo it).
    pub on: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Context keys to take out of a flag's individual targets (an end date's "remove this
/// target").
#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveTargetsInput {
    /// The context kind the keys are of (default `user`).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Keys to remove from every target of that kind; each must be targeted now.
    pub values: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_kind() -> String {
    "user".to_owned()
}

pub(super) async fn environments(ctx: &Ctx, project: &str) -> ApiResult<Vec<String>> {
    Ok(ctx
        .state
        .store
        .list(EnvironmentRecord::KIND, project)
        .await?
        .into_iter()
        .map(|d| d.key)
        .collect())
}

/// The flag with its targeting in each of `environments` the caller may read.
pub(super) async fn flag_view(
    ctx: &Ctx,
    project: &str,
    environments: &[String],
    spec: FlagSpec,
    version: i64,
) -> ApiResult<FlagView> {
    let mut readable = BTreeMap::new();
    for env in environments {
        if ctx.allows(Action::FlagRead, &res::env_flag(project, env, &spec.key)) {
            readable.insert(env.clone(), load_targeting(ctx, project, env, &spec).await?);
        }
    }
    Ok(FlagView {
        spec,
        version,
        environments: readable,
    })
}

async fn load_targeting(
    ctx: &Ctx,
    project: &str,
    env: &str,
    spec: &FlagSpec,
) -> ApiResult<EnvTargeting> {
    let scope = env_scope(project, env);
    let stored = records::get::<Targeting>(&ctx.state.store, &scope, &spec.key).await?;
    Ok(match stored {
        Some(stored) => EnvTargeting {
            targeting: stored.record,
            version: stored.version,
        },
        None => EnvTargeting {
            targeting: spec.default_targeting(),
            version: 0,
        },
    })
}

pub(super) async fn load_spec(
    ctx: &Ctx,
    project: &str,
    flag: &str,
) -> ApiResult<Versioned<FlagSpec>> {
    ctx.load_or_404(project, flag, || what(project, flag)).await
}

/// How a 404 names a flag.
fn what(project: &str, flag: &str) -> String {
    format!("flag {flag:?} in project {project:?}")
}

pub(super) async fn create_flag(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<FlagInput>,
) -> ApiResult<(StatusCode, Json<FlagView>)> {
    let mut spec = input.spec;
    check_key("key", &spec.key)?;
    let resource = res::flag(&project, &spec.key);
    ctx.authorize(Action::FlagCreate, &resource).await?;
    load_project(&ctx, &project).await?;
    normalize_flag_spec(&mut spec)?;
    spec.salt = random_hex(4);
    let environments = environments(&ctx, &project).await?;
    // A new flag starts with the same default targeting everywhere: no prerequisites, rules or
    // segments, so it can only be wrong in itself. It is validated alone, once, rather than
    // with every flag of every environment (which made each create read the whole project).
    // Other flags cannot already require it: a prerequisite on a missing flag is refused, and
    // one stored before that keeps failing safe if it asks for a variation this flag lacks.
    if !environments.is_empty() {
        let mut alone = EnvData::default();
        let new_flag = EnvFlag {
            spec: spec.clone(),
            spec_version: 1,
            targeting: spec.default_targeting(),
            targeting_version: 0,
        };
        alone.flags.insert(spec.key.clone(), new_flag);
        no_new_problems(&EnvData::default().dataset(), &alone.dataset())?;
    }
    let change =
        Change::created(Action::FlagCreate, &resource, &spec).comment(input.comment.as_deref());
    ctx.create_record((&project, &spec.key), &spec, change)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(flag_view(&ctx, &project, &environments, spec, 1).await?),
    ))
}

pub(super) async fn get_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
) -> ApiResult<Json<FlagView>> {
    ctx.authorize(Action::FlagRead, &res::flag(&project, &flag))
        .await?;
    let stored = load_spec(&ctx, &project, &flag).await?;
    let environments = environments(&ctx, &project).await?;
    Ok(Json(
        flag_view(&ctx, &project, &environments, stored.record, stored.version).await?,
    ))
}

pub(super) async fn update_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    Body(input): Body<FlagInput>,
) -> ApiResult<Gated<Json<FlagView>>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize(Action::FlagUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let stored = load_spec(&ctx, &project, &flag).await?;
    let expected = precondition.check(stored.version)?;
    let request = with_base_version(&input, stored.version);
    let before = stored.record;
    let mut spec = input.spec;
    if spec.key != flag {
        return Err(ApiError::invalid("key", "a flag's key cannot change"));
    }
    if spec.archived != before.archived {
        let route = if spec.archived { "archive" } else { "restore" };
        return Err(ApiError::invalid(
            "archived",
            format!(
                "a flag is archived and restored with POST \
                 /api/v1/projects/{project}/flags/{flag}/{route} (which checks the flags that \
                 require it, and audits it as such), not by an update"
            ),
        ));
    }
    spec.salt = before.salt.clone();
    spec.dialect = before.dialect;
    // A definition sent without its off variation keeps the one it has (variations that drop
    // its key are refused by `normalize_flag_spec`).
    if spec.off_variation.is_none() {
        spec.off_variation = before.off_variation.clone();
    }
    normalize_flag_spec(&mut spec)?;
    let environments = environments(&ctx, &project).await?;
    let mut broken = Vec::new();
    for env in &environments {
        let mut data = EnvData::load(&ctx.state.store, &project, env).await?;
        broken.extend(variations_in_use::broken(
            &variations_in_use::uses_of(env, &flag, &data),
            &before.variations,
            &spec.variations,
        ));
        let old = data.dataset();
        if let Some(env_flag) = data.flags.get_mut(&flag) {
            env_flag.spec = spec.clone();
        }
        // Moved variations are refused below in words; validation would only say an index
        // is out of range.
        if broken.is_empty() {
            no_new_problems(&old, &data.dataset())?;
        }
    }
    if !broken.is_empty() {
        return Err(ApiError::invalid(
            "variations",
            variations_in_use::refusal(&broken),
        ));
    }
    let change = Change::updated(Action::FlagUpdate, &resource, &before, &spec)
        .comment(input.comment.as_deref());
    let write = records::put(&project, &flag, &spec, expected);
    let what = FlagChange {
        operation: Operation::UpdateFlag,
        flag: &flag,
        request,
    };
    let version = match commit_project_gated(&ctx, &project, what, vec![write], change).await? {
        Gated::Done(committed) => committed.versions[0],
        Gated::Proposed(request) => return Ok(Gated::Proposed(request)),
    };
    Ok(Gated::Done(Json(
        flag_view(&ctx, &project, &environments, spec, version).await?,
    )))
}

pub(super) async fn delete_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Gated<Json<Deleted>>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize(Action::FlagDelete, &resource).await?;
    let stored = load_spec(&ctx, &project, &flag).await?;
    let mut writes = vec![records::delete::<FlagSpec>(
        &project,
        &flag,
        Expected::Version(stored.version),
    )];
    for env in environments(&ctx, &project).await? {
        let mut data = EnvData::load(&ctx.state.store, &project, &env).await?;
        let old = data.dataset();
        if let Some(removed) = data.flags.remove(&flag)
            && removed.targeting_version > 0
        {
            writes.push(records::delete::<Targeting>(
                &env_scope(&project, &env),
                &flag,
                Expected::Version(removed.targeting_version),
            ));
        }
        no_new_problems(&old, &data.dataset()).map_err(still_used(format!(
            "other flags in {env} depend on this one"
        )))?;
    }
    let change = Change::deleted(Action::FlagDelete, &resource, &stored.record)
        .comment(query.comment.as_deref());
    let what = FlagChange {
        operation: Operation::DeleteFlag,
        flag: &flag,
        request: serde_json::json!({ "comment": query.comment }),
    };
    let gated = commit_project_gated(&ctx, &project, what, writes, change).await?;
    Ok(gated.map(|_| Json(Deleted { deleted: resource })))
}

pub(super) async fn get_targeting(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
) -> ApiResult<Json<TargetingView>> {
    ctx.authorize(Action::FlagRead, &res::env_flag(&project, &env, &flag))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let spec = load_spec(&ctx, &project, &flag).await?.record;
    let targeting = load_targeting(&ctx, &project, &env, &spec).await?;
    Ok(Json(targeting_view(&env, spec, targeting)))
}

fn targeting_view(env: &str, spec: FlagSpec, targeting: EnvTargeting) -> TargetingView {
    TargetingView {
        serves_when_off: OffServing::of(&spec, &targeting.targeting),
        flag: spec.key,
        environment: env.to_owned(),
        kind: spec.kind,
        variations: spec.variations,
        targeting,
    }
}

pub(super) async fn update_targeting(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    Body(input): Body<TargetingInput>,
) -> ApiResult<Gated<Json<TargetingView>>> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize(Action::FlagUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let edit = load_env_flag(&ctx, &project, &env, &flag).await?;
    let expected = precondition.check(edit.flag.targeting_version)?;
    let request = with_base_version(&input, edit.flag.targeting_version);
    let request = (Operation::UpdateTargeting, request);
    let mut targeting = input.targeting;
    // Targeting written without an off variation inherits the flag's, stored explicitly (so a
    // later change to the flag's default does not move it). Imported flags keep their origin's
    // meaning of none: the caller's default.
    if targeting.off_variation.is_none() && edit.flag.spec.dialect == Dialect::Native {
        targeting.off_variation = edit.flag.spec.off_variation_index();
    }
    let audit = (Action::FlagUpdate, input.comment.as_deref());
    write_targeting(&ctx, edit, targeting, expected, audit, request)
        .await
        .map(|gated| gated.map(Json))
}

/// A held write's body as its change request stores it: a change request is applied without
/// the request's headers, so the version it was based on (perhaps sent as `If-Match`) goes in
/// the body.
fn with_base_version(input: &impl Serialize, version: i64) -> serde_json::Value {
    let mut request = records::encode(input);
    if let Some(fields) = request.as_object_mut() {
        fields.insert("version".into(), version.into());
    }
    request
}

/// One environment's flag about to have its targeting written, with the environment it is
/// validated in.
struct TargetingEdit<'a> {
    project: &'a str,
    env: &'a str,
    data: EnvData,
    flag: EnvFlag,
}

/// The environment's data with one of its flags (404 for a missing environment or flag).
async fn load_env_flag<'a>(
    ctx: &Ctx,
    project: &'a str,
    env: &'a str,
    flag: &str,
) -> ApiResult<TargetingEdit<'a>> {
    load_environment(ctx, project, env).await?;
    let data = EnvData::load(&ctx.state.store, project, env).await?;
    let flag = data
        .flags
        .get(flag)
        .cloned()
        .ok_or_else(|| ApiError::not_found(what(project, flag)))?;
    Ok(TargetingEdit {
        project,
        env,
        data,
        flag,
    })
}

/// Validates and writes one environment's targeting, audited as `action` with `comment`; in an
/// environment that requires approvals, `request` (the route's body) becomes a change request.
async fn write_targeting(
    ctx: &Ctx,
    edit: TargetingEdit<'_>,
    targeting: Targeting,
    expected: Expected,
    (action, comment): (Action, Option<&str>),
    (operation, request): (Operation, serde_json::Value),
) -> ApiResult<Gated<TargetingView>> {
    let TargetingEdit {
        project,
        env,
        mut data,
        flag,
    } = edit;
    refuse_archived_prerequisites(&data, &flag.targeting, &targeting)?;
    let before = data.dataset();
    if let Some(changed) = data.flags.get_mut(&flag.spec.key) {
        changed.targeting = targeting.clone();
    }
    no_new_problems(&before, &data.dataset())?;
    let resource = res::env_flag(project, env, &flag.spec.key);
    let change = Change::updated(action, &resource, &flag.targeting, &targeting).comment(comment);
    let scope = env_scope(project, env);
    let proposal = Proposal {
        project,
        env,
        operation,
        target: &flag.spec.key,
        request,
    };
    let written = ctx
        .write_gated(
            proposal,
            (&scope, &flag.spec.key),
            &targeting,
            expected,
            change,
        )
        .await?;
    Ok(written.map(|version| {
        let targeting = EnvTargeting { targeting, version };
        targeting_view(env, flag.spec, targeting)
    }))
}

/// A prerequisite newly added on an archived flag would fail for good (archived flags are not
/// delivered): refused, naming it. Prerequisites it already had are left to the forced archive.
fn refuse_archived_prerequisites(
    data: &EnvData,
    before: &Targeting,
    after: &Targeting,
) -> ApiResult<()> {
    for (i, prerequisite) in after.prerequisites.iter().enumerate() {
        let archived = data
            .flags
            .get(&prerequisite.key)
            .is_some_and(|f| f.spec.archived);
        let new = !before
            .prerequisites
            .iter()
            .any(|p| p.key == prerequisite.key);
        if archived && new {
            return Err(ApiError::invalid(
                format!("prerequisites[{i}].key"),
                format!(
                    "flag {:?} is archived: restore it before requiring it",
                    prerequisite.key
                ),
            ));
        }
    }
    Ok(())
}

pub(super) async fn toggle_flag(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    // The body is optional: an empty POST flips the flag.
    Body(input): Body<ToggleInput>,
) -> ApiResult<Gated<Json<TargetingView>>> {
    ctx.authorize(Action::FlagToggle, &res::env_flag(&project, &env, &flag))
        .await?;
    // A toggle carries no version: it re-reads and retries, so it never overwrites another
    // change to the same targeting.
    let mut attempts = 0;
    loop {
        let edit = load_env_flag(&ctx, &project, &env, &flag).await?;
        let mut targeting = edit.flag.targeting.clone();
        targeting.on = input.on;
        let expected = expect_version(edit.flag.targeting_version);
        let audit = (Action::FlagToggle, input.comment.as_deref());
        let request = (Operation::Toggle, records::encode(&input));
        let result = write_targeting(&ctx, edit, targeting, expected, audit, request).await;
        match result {
            Err(e) if e.code == Code::Conflict && attempts < 5 => attempts += 1,
            other => return other.map(|gated| gated.map(Json)),
        }
    }
}

/// Takes context keys out of a flag's individual targets, leaving the rest of its targeting as
/// it is then (like a toggle, it re-reads and retries rather than carrying a version).
pub(super) async fn remove_targets(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    Body(input): Body<RemoveTargetsInput>,
) -> ApiResult<Gated<Json<TargetingView>>> {
    ctx.authorize(Action::FlagUpdate, &res::env_flag(&project, &env, &flag))
        .await?;
    if input.values.is_empty() {
        return Err(ApiError::invalid(
            "values",
            "name at least one key to remove",
        ));
    }
    let mut attempts = 0;
    loop {
        let edit = load_env_flag(&ctx, &project, &env, &flag).await?;
        let mut targeting = edit.flag.targeting.clone();
        let untargeted: Vec<&String> = input
            .values
            .iter()
            .filter(|value| {
                !targeting
                    .targets
                    .iter()
                    .any(|t| t.kind == input.kind && t.values.contains(value))
            })
            .collect();
        if !untargeted.is_empty() {
            let message = format!("not targeted by kind {:?}: {untargeted:?}", input.kind);
            return Err(ApiError::invalid("values", message));
        }
        for target in targeting
            .targets
            .iter_mut()
            .filter(|t| t.kind == input.kind)
        {
            target.values.retain(|value| !input.values.contains(value));
        }
        targeting.targets.retain(|target| !target.values.is_empty());
        let expected = expect_version(edit.flag.targeting_version);
        let audit = (Action::FlagUpdate, input.comment.as_deref());
        let request = (Operation::RemoveTargets, records::encode(&input));
        let result = write_targeting(&ctx, edit, targeting, expected, audit, request).await;
        match result {
            Err(e) if e.code == Code::Conflict && attempts < 5 => attempts += 1,
            other => return other.map(|gated| gated.map(Json)),
        }
    }
}
