//! The stale-flags report of one environment (`docs/evaluation.md`, "Flag lifecycle"), read
//! from the event aggregates: flags nobody evaluates, flags that serve everyone one variation,
//! and temporary flags past their planned removal — each with its evidence.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::Targeting;
use switchyard_store::events::FlagUsage;

use super::ctx::Ctx;
use super::projects::load_environment;
use super::query::Query;
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult};
use crate::records::{EnvData, EnvFlag, FlagSpec, Record, day_start_ms, env_scope};

const DAY_MS: i64 = 86_400_000;
/// The report's window when `days` is not given (`product.md`: 30 days).
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 3650;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StaleQuery {
    /// The window, in days (1 to 3650; default 30).
    pub days: Option<i64>,
}

/// An environment's stale flags (archived flags are never listed).
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct StaleReport {
    pub project: String,
    pub environment: String,
    pub days: i64,
    /// The window's start (Unix ms): evaluations at or after it are "recent".
    pub since_ms: i64,
    pub flags: Vec<StaleFlag>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct StaleFlag {
    pub flag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub temporary: bool,
    /// Why it is listed, each with its evidence; at least one.
    pub reasons: Vec<StaleReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StaleReason {
    /// Not evaluated in the window. A flag never evaluated is listed only once it has gone
    /// unchanged for the whole window (a new flag has the window to be adopted).
    NotEvaluated {
        /// The last minute it was evaluated in (`null`: never, as far as the aggregates go).
        last_evaluated_ms: Option<i64>,
        /// When its definition or this environment's targeting last changed.
        last_changed_ms: i64,
    },
    /// Every evaluation in the window served one variation, and it was evaluated before the
    /// window began, so everyone has been getting that variation for the whole window.
    OneVariation {
        variation: String,
        /// Evaluations in the window.
        evaluations: i64,
        first_evaluated_ms: i64,
        last_evaluated_ms: i64,
    },
    /// A temporary flag whose planned removal day (`remove_by`) has passed.
    PastRemoval {
        remove_by: String,
        days_overdue: i64,
    },
}

pub(super) async fn stale_flags(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Query(query): Query<StaleQuery>,
) -> ApiResult<Json<StaleReport>> {
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(
            "days",
            format!("days must be between 1 and {MAX_DAYS}, not {days}"),
        ));
    }
    load_environment(&ctx, &project, &env).await?;
    // The server's clock (which tests move), so "not evaluated for N days" is testable.
    let now = ctx.state.clock.now_ms();
    let since_ms = now - days * DAY_MS;
    let store = &ctx.state.store;
    let data = EnvData::load(store, &project, &env).await?;
    let usage = store.flag_usage(&project, &env, since_ms).await?;
    let changed = last_changes(&ctx, &project, &env).await?;
    let mut flags = Vec::new();
    for (key, flag) in &data.flags {
        if flag.spec.archived || !ctx.allows(Action::FlagRead, &res::env_flag(&project, &env, key))
        {
            continue;
        }
        let last_changed_ms = changed.get(key).copied().unwrap_or(0);
        let window = Window { since_ms, now };
        let reasons = reasons(flag, usage.get(key), last_changed_ms, window);
        if !reasons.is_empty() {
            flags.push(StaleFlag {
                flag: key.clone(),
                name: flag.spec.name.clone(),
                temporary: flag.spec.temporary,
                reasons,
            });
        }
    }
    Ok(Json(StaleReport {
        project,
        environment: env,
        days,
        since_ms,
        flags,
    }))
}

/// When each flag's definition or this environment's targeting was last written.
async fn last_changes(ctx: &Ctx, project: &str, env: &str) -> ApiResult<BTreeMap<String, i64>> {
    let store = &ctx.state.store;
    let mut changed = BTreeMap::new();
    let specs = store.list(FlagSpec::KIND, project).await?;
    let targeting = store
        .list(Targeting::KIND, &env_scope(project, env))
        .await?;
    for doc in specs.into_iter().chain(targeting) {
        let at = changed.entry(doc.key).or_insert(doc.updated_at_ms);
        *at = (*at).max(doc.updated_at_ms);
    }
    Ok(changed)
}

#[derive(Debug, Clone, Copy)]
struct Window {
    since_ms: i64,
    now: i64,
}

/// Why `flag` is stale in the window (empty: it is not). Pure.
fn reasons(
    flag: &EnvFlag,
    usage: Option<&FlagUsage>,
    last_changed_ms: i64,
    Window { since_ms, now }: Window,
) -> Vec<StaleReason> {
    let mut reasons = Vec::new();
    let recent: i64 = usage.map_or(0, |u| u.recent.values().sum());
    if recent == 0 {
        let evaluated_before = usage.is_some();
        if evaluated_before || last_changed_ms < since_ms {
            reasons.push(StaleReason::NotEvaluated {
                last_evaluated_ms: usage.map(|u| u.last_minute_ms),
                last_changed_ms,
            });
        }
    }
    if let Some(usage) = usage
        && usage.recent.len() == 1
        && let Some((variation, &evaluations)) = usage.recent.iter().next()
        && !variation.is_empty()
        && evaluations > 0
        && usage.first_minute_ms < since_ms
    {
        reasons.push(StaleReason::OneVariation {
            variation: variation.clone(),
            evaluations,
            first_evaluated_ms: usage.first_minute_ms,
            last_evaluated_ms: usage.last_minute_ms,
        });
    }
    if flag.spec.temporary
        && let Some(remove_by) = &flag.spec.remove_by
        && let Some(start) = day_start_ms(remove_by)
    {
        let days_overdue = now.div_euclid(DAY_MS) - start.div_euclid(DAY_MS);
        if days_overdue > 0 {
            reasons.push(StaleReason::PastRemoval {
                remove_by: remove_by.clone(),
                days_overdue,
            });
        }
    }
    reasons
}
