//! `GET /projects/{p}/flags`: the filters (q, tag, kind, archived) and, with `limit` or
//! `cursor`, one page in key order (`docs/api.md`, "Paging").

use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use serde::Deserialize;
use switchyard_engine::model::FlagKind;

use super::{FlagView, environments, flag_view};
use crate::access::Action;
use crate::access::resources as res;
use crate::api::ctx::Ctx;
use crate::api::query::{PageQuery, Query, page};
use crate::error::ApiResult;
use crate::records::{self, FlagSpec};

/// Strict: a misspelt parameter (`limt`) is refused, never ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct FlagFilter {
    /// Matches key, name or description (case-insensitive).
    pub q: Option<String>,
    pub tag: Option<String>,
    pub kind: Option<FlagKind>,
    pub archived: Option<bool>,
    /// How many flags a page holds (1–1000); without it (and `cursor`) every flag.
    pub limit: Option<String>,
    /// The `x-next-cursor` of the previous page.
    pub cursor: Option<String>,
}

impl FlagFilter {
    fn matches(&self, needle: Option<&str>, spec: &FlagSpec) -> bool {
        let text = [
            Some(&spec.key),
            spec.name.as_ref(),
            spec.description.as_ref(),
        ];
        needle.is_none_or(|n| text.iter().flatten().any(|t| t.to_lowercase().contains(n)))
            && self.tag.as_ref().is_none_or(|t| spec.tags.contains(t))
            && self.kind.is_none_or(|k| k == spec.kind)
            && self.archived.unwrap_or(false) == spec.archived
    }
}

pub(in crate::api) async fn list_flags(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(filter): Query<FlagFilter>,
) -> ApiResult<(HeaderMap, Json<Vec<FlagView>>)> {
    let paging = PageQuery {
        limit: filter.limit.clone(),
        cursor: filter.cursor.clone(),
    }
    .paging()?;
    let needle = filter.q.as_deref().map(str::to_lowercase);
    // Filtering needs only the definitions; the targeting of every environment is loaded for
    // the flags answered, so a page of 100 among thousands reads 100 flags' targeting.
    let matching: Vec<_> = records::list::<FlagSpec>(&ctx.state.store, &project)
        .await?
        .into_iter()
        .filter(|stored| ctx.allows(Action::FlagRead, &res::flag(&project, &stored.key)))
        .filter(|stored| filter.matches(needle.as_deref(), &stored.record))
        .collect();
    let (headers, answered) = match &paging {
        Some(paging) => page(matching, paging, |stored| stored.key.as_str()),
        None => (HeaderMap::new(), matching),
    };
    let environments = environments(&ctx, &project).await?;
    let mut flags = Vec::with_capacity(answered.len());
    for stored in answered {
        flags.push(flag_view(&ctx, &project, &environments, stored.record, stored.version).await?);
    }
    Ok((headers, Json(flags)))
}
