//! A flag's lifecycle (`docs/evaluation.md`, "Archived flags"): archiving takes it out of every
//! SDK, relay and OFREP payload — refused while another flag requires it, unless forced — and
//! restoring brings it back unchanged. Both keep the flag's variations and targeting as stored
//! and move its version on by one write.

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_store::Expected;

use super::ctx::{Change, Ctx, OptionalBody};
use super::flags::{FlagView, environments, flag_view, load_spec};
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, EnvData, FlagSpec, no_new_problems};

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
) -> ApiResult<Json<FlagView>> {
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
    write(&ctx, &project, spec, stored.version, change).await
}

pub(super) async fn restore_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    OptionalBody(input): OptionalBody<RestoreInput>,
) -> ApiResult<Json<FlagView>> {
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
    write(&ctx, &project, spec, stored.version, change).await
}

/// Writes the spec at the version it was read at, with its audit record.
async fn write(
    ctx: &Ctx,
    project: &str,
    spec: FlagSpec,
    version: i64,
    change: Change<'_>,
) -> ApiResult<Json<FlagView>> {
    let write = records::put(project, &spec.key, &spec, Expected::Version(version));
    let version = ctx.commit(&[write], change).await?.versions[0];
    let environments = environments(ctx, project).await?;
    Ok(Json(
        flag_view(ctx, project, &environments, spec, version).await?,
    ))
}
