//! Environments side by side: a flag's targeting compared across two environments in words
//! (`records::describe`), and promoted — all of it or chosen parts — from one environment to
//! another. A promotion is the targeting `PUT` of the target environment with the promoted
//! targeting as its body, so it is validated, authorized, audited and held for approval exactly
//! as that write is (a held promotion is an `update_targeting` change request whose apply
//! replays the `PUT`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::model::{Condition, FlagSpec, Operator, Serve, Targeting};

use super::change_requests::Gated;
use super::ctx::{Body, Ctx};
use super::flags::{self, TargetingInput, TargetingView};
use super::projects::load_environment;
use super::query::Query;
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::describe::{FieldChange, targeting_changes_with};
use crate::records::{EnvData, EnvFlag};

/// A part of a flag's targeting that can be promoted on its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetingPart {
    On,
    OffVariation,
    Prerequisites,
    Targets,
    Rules,
    Fallthrough,
}

impl TargetingPart {
    pub const ALL: [TargetingPart; 6] = [
        TargetingPart::On,
        TargetingPart::OffVariation,
        TargetingPart::Prerequisites,
        TargetingPart::Targets,
        TargetingPart::Rules,
        TargetingPart::Fallthrough,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetingPart::On => "on",
            TargetingPart::OffVariation => "off_variation",
            TargetingPart::Prerequisites => "prerequisites",
            TargetingPart::Targets => "targets",
            TargetingPart::Rules => "rules",
            TargetingPart::Fallthrough => "fallthrough",
        }
    }

    /// The part a described field belongs to (`rules[id=r1].serve` → rules).
    pub fn of_field(field: &str) -> Option<TargetingPart> {
        let name = field.split(['[', '.']).next().unwrap_or(field);
        TargetingPart::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Sets this part of `target` to `source`'s.
    fn copy(self, source: &Targeting, target: &mut Targeting) {
        match self {
            TargetingPart::On => target.on = source.on,
            TargetingPart::OffVariation => target.off_variation = source.off_variation,
            TargetingPart::Prerequisites => target.prerequisites = source.prerequisites.clone(),
            TargetingPart::Targets => target.targets = source.targets.clone(),
            TargetingPart::Rules => target.rules = source.rules.clone(),
            TargetingPart::Fallthrough => target.fallthrough = source.fallthrough.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompareQuery {
    /// Compare this flag only (403 when the caller may not read it in both environments).
    pub flag: Option<String>,
}

/// Two environments' targeting, flag by flag: `before` is `from`'s, `after` is `to`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentComparison {
    pub from: String,
    pub to: String,
    pub flags: Vec<FlagComparison>,
    /// Flags left out because the caller may not read their targeting in both environments.
    #[serde(default)]
    pub omitted: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagComparison {
    pub flag: String,
    #[serde(default)]
    pub archived: bool,
    pub same: bool,
    /// Targeting versions (0: never edited, the flag's defaults); `to_version` is what a
    /// promotion into `to` expects.
    pub from_version: i64,
    pub to_version: i64,
    /// The parts that differ, as a promotion names them.
    pub parts: Vec<TargetingPart>,
    pub differences: Vec<FieldChange>,
}

/// Copies a flag's targeting, or chosen parts of it, from one environment to another.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteInput {
    pub from: String,
    pub to: String,
    /// What to copy (default: everything); the target keeps the rest of its targeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<TargetingPart>>,
    /// The version of the target's targeting being replaced (or send `If-Match`); absent: the
    /// version it is at now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

pub(super) async fn compare_environments(
    ctx: Ctx,
    Path((project, from, to)): Path<(String, String, String)>,
    Query(query): Query<CompareQuery>,
) -> ApiResult<Json<EnvironmentComparison>> {
    if let Some(flag) = &query.flag {
        for env in [&from, &to] {
            ctx.authorize(Action::FlagRead, &res::env_flag(&project, env, flag))
                .await?;
        }
    }
    load_environment(&ctx, &project, &from).await?;
    load_environment(&ctx, &project, &to).await?;
    let source = EnvData::load(&ctx.state.store, &project, &from).await?;
    let target = EnvData::load(&ctx.state.store, &project, &to).await?;
    let specs: BTreeMap<&str, &FlagSpec> = source
        .flags
        .iter()
        .map(|(key, flag)| (key.as_str(), &flag.spec))
        .collect();
    let lookup = |key: &str| specs.get(key).copied();
    if let Some(flag) = &query.flag
        && !source.flags.contains_key(flag)
    {
        return Err(ApiError::not_found(format!(
            "flag {flag:?} in project {project:?}"
        )));
    }
    let mut comparison = EnvironmentComparison {
        from: from.clone(),
        to: to.clone(),
        flags: Vec::new(),
        omitted: 0,
    };
    for (key, old) in &source.flags {
        if query.flag.as_ref().is_some_and(|only| only != key) {
            continue;
        }
        let readable = [&from, &to]
            .iter()
            .all(|env| ctx.allows(Action::FlagRead, &res::env_flag(&project, env, key)));
        let Some(new) = target.flags.get(key).filter(|_| readable) else {
            comparison.omitted += 1;
            continue;
        };
        comparison.flags.push(compare_flag(old, new, &lookup));
    }
    Ok(Json(comparison))
}

fn compare_flag<'a>(
    old: &EnvFlag,
    new: &EnvFlag,
    lookup: &dyn Fn(&str) -> Option<&'a FlagSpec>,
) -> FlagComparison {
    let differences = targeting_changes_with(
        &old.spec,
        lookup,
        Some(&old.targeting),
        Some(&new.targeting),
    );
    let mut parts: Vec<TargetingPart> = differences
        .iter()
        .filter_map(|change| TargetingPart::of_field(&change.field))
        .collect();
    parts.sort_unstable();
    parts.dedup();
    FlagComparison {
        flag: old.spec.key.clone(),
        archived: old.spec.archived,
        same: differences.is_empty(),
        from_version: old.targeting_version,
        to_version: new.targeting_version,
        parts,
        differences,
    }
}

pub(super) async fn promote_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    Body(input): Body<PromoteInput>,
) -> ApiResult<Gated<Json<TargetingView>>> {
    let (from, to) = (input.from.as_str(), input.to.as_str());
    ctx.authorize(Action::FlagRead, &res::env_flag(&project, from, &flag))
        .await?;
    // The check the targeting `PUT` makes (it makes it again when it runs).
    ctx.authorize(Action::FlagUpdate, &res::env_flag(&project, to, &flag))
        .await?;
    if from == to {
        return Err(ApiError::invalid(
            "to",
            "promote into another environment than the one it comes from",
        ));
    }
    let mut parts = input.parts.clone().unwrap_or(TargetingPart::ALL.to_vec());
    if parts.is_empty() {
        return Err(ApiError::invalid(
            "parts",
            "name at least one part: on, off_variation, prerequisites, targets, rules, fallthrough",
        ));
    }
    parts.sort_unstable();
    parts.dedup();
    load_environment(&ctx, &project, from).await?;
    load_environment(&ctx, &project, to).await?;
    let source = EnvData::load(&ctx.state.store, &project, from).await?;
    let target = EnvData::load(&ctx.state.store, &project, to).await?;
    let missing = || ApiError::not_found(format!("flag {flag:?} in project {project:?}"));
    let old = source.flags.get(&flag).ok_or_else(missing)?;
    let new = target.flags.get(&flag).ok_or_else(missing)?;
    let mut promoted = new.targeting.clone();
    for part in &parts {
        refuse_release_layers(*part, &flag, (from, &old.targeting), (to, &new.targeting))?;
        part.copy(&old.targeting, &mut promoted);
    }
    if parts.contains(&TargetingPart::Rules) {
        refuse_missing_segments(&promoted, &target, from, to)?;
    }
    let names: Vec<&str> = parts.iter().map(|p| p.as_str()).collect();
    let mut comment = format!("promoted from {from}: {}", names.join(", "));
    if let Some(own) = input.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        comment.push_str(&format!(" ({own})"));
    }
    let body = TargetingInput {
        targeting: promoted,
        version: Some(input.version.unwrap_or(new.targeting_version)),
        comment: Some(comment),
    };
    flags::update_targeting(ctx, Path((project, to.to_owned(), flag)), Body(body)).await
}

/// A release layer belongs to its release in its environment: copying one would leave a
/// layer no release drives, and overwriting one would pull the ground from under a release in
/// progress. Either is refused, naming the release, unless the part is the same on both sides.
fn refuse_release_layers(
    part: TargetingPart,
    flag: &str,
    (from, source): (&str, &Targeting),
    (to, target): (&str, &Targeting),
) -> ApiResult<()> {
    let serves = |t: &Targeting| -> Vec<Serve> {
        match part {
            TargetingPart::Rules => t.rules.iter().map(|r| r.serve.clone()).collect(),
            TargetingPart::Fallthrough => vec![t.fallthrough.clone()],
            _ => Vec::new(),
        }
    };
    let (copied, replaced) = (serves(source), serves(target));
    if copied == replaced {
        return Ok(());
    }
    let release_of = |serves: &[Serve]| {
        serves.iter().find_map(|serve| match serve {
            Serve::Release(layer) => Some(
                layer
                    .stage
                    .rsplit_once('.')
                    .map_or(layer.stage.clone(), |(release, _)| release.to_owned()),
            ),
            _ => None,
        })
    };
    let name = part.as_str();
    let refusal = |message: String| Err(ApiError::new(Code::Conflict, message).field("parts"));
    if let Some(release) = release_of(&copied) {
        return refusal(format!(
            "{name} of {flag:?} in {from} is in release {release}: promote it once the release \
             has finished, or leave out {name:?}"
        ));
    }
    if let Some(release) = release_of(&replaced) {
        return refusal(format!(
            "release {release} is rolling out {name} of {flag:?} in {to}: finish or abort it \
             before promoting, or leave out {name:?}"
        ));
    }
    Ok(())
}

/// The segments promoted rules test must exist in the target environment (segments belong to
/// one environment): refused naming each missing one, to be created there first.
fn refuse_missing_segments(
    promoted: &Targeting,
    target: &EnvData,
    from: &str,
    to: &str,
) -> ApiResult<()> {
    let mut missing: Vec<String> = Vec::new();
    let mut first_field = None;
    for (position, rule) in promoted.rules.iter().enumerate() {
        let mut conditions = vec![&rule.condition];
        if let Serve::Release(layer) = &rule.serve
            && let Some(audience) = &layer.audience
        {
            conditions.push(audience);
        }
        for condition in conditions {
            for segment in segments_tested(condition) {
                if !target.segments.contains_key(&segment) && !missing.contains(&segment) {
                    first_field.get_or_insert_with(|| {
                        let id = if rule.id.is_empty() {
                            format!("#{}", position + 1)
                        } else {
                            rule.id.clone()
                        };
                        format!("rules[id={id}].condition")
                    });
                    missing.push(segment);
                }
            }
        }
    }
    let Some(field) = first_field else {
        return Ok(());
    };
    let quoted: Vec<String> = missing.iter().map(|s| format!("{s:?}")).collect();
    let (noun, verb, pronoun) = if missing.len() == 1 {
        ("segment", "does", "it")
    } else {
        ("segments", "do", "them")
    };
    Err(ApiError::invalid(
        field,
        format!(
            "{noun} {} {verb} not exist in {to}: the rules promoted from {from} test {pronoun}; \
             create {pronoun} in {to} first",
            quoted.join(", ")
        ),
    ))
}

/// The segment keys a condition tests, in order.
fn segments_tested(condition: &Condition) -> Vec<String> {
    match condition {
        Condition::All(parts) | Condition::Any(parts) => {
            parts.iter().flat_map(segments_tested).collect()
        }
        Condition::Not(inner) => segments_tested(inner),
        Condition::Percentage(_) => Vec::new(),
        Condition::Clause(clause) if clause.op == Operator::SegmentMatch => clause
            .values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Condition::Clause(_) => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn targeting(value: serde_json::Value) -> Targeting {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn described_fields_belong_to_the_parts_a_promotion_names() {
        let part = TargetingPart::of_field;
        assert_eq!(part("rules[id=r1].serve"), Some(TargetingPart::Rules));
        assert_eq!(part("rules"), Some(TargetingPart::Rules));
        assert_eq!(part("targets[kind=org]"), Some(TargetingPart::Targets));
        assert_eq!(part("off_variation"), Some(TargetingPart::OffVariation));
        assert_eq!(part("on"), Some(TargetingPart::On));
        assert_eq!(part("colour"), None);
    }

    #[test]
    fn release_layers_stay_with_their_release() {
        let plain = targeting(json!({"on": true, "fallthrough": {"variation": 0}}));
        let released = targeting(json!({"on": true, "fallthrough": {"release": {
            "stage": "rel7.2", "variation": 1, "weight": 5000, "seed": "s",
            "previous": {"variation": 0}}}}));
        let check = |part, source: &Targeting, target: &Targeting| {
            refuse_release_layers(part, "f", ("staging", source), ("production", target))
        };
        let out = check(TargetingPart::Fallthrough, &released, &plain).unwrap_err();
        assert_eq!(out.code, Code::Conflict);
        assert!(
            out.message
                .contains("fallthrough of \"f\" in staging is in release rel7"),
            "{}",
            out.message
        );
        let over = check(TargetingPart::Fallthrough, &plain, &released).unwrap_err();
        assert!(
            over.message.contains("release rel7 is rolling out"),
            "{}",
            over.message
        );
        // The same layer on both sides, or a part without serves, is no obstacle.
        assert!(check(TargetingPart::Fallthrough, &released, &released).is_ok());
        assert!(check(TargetingPart::Targets, &released, &plain).is_ok());
    }

    #[test]
    fn segments_are_found_at_any_depth() {
        let condition: Condition = serde_json::from_value(json!({"any": [
            {"op": "segment_match", "values": ["a", "b"]},
            {"not": {"all": [{"op": "segment_match", "values": ["c"]}]}},
            {"kind": "user", "attribute": "segment", "op": "in", "values": ["d"]}
        ]}))
        .unwrap();
        assert_eq!(segments_tested(&condition), ["a", "b", "c"]);
    }
}
