//! What an apply is checked for before it writes anything, pure: the problems the project as it
//! will be has that the live one did not (the engine's compile of every environment before and
//! after, as a single write is checked), prerequisites on archived flags, release layers that
//! belong to a running release, and the approvals the changes need.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_engine::model::{Dataset, ReleaseLayer, Segment, Serve, Targeting};

use super::document::{PROJECT_FILE, ProjectConfig, ResourceChange, flag_file, segment_file};
use super::plan::problem;
use crate::error::Problem;
use crate::records::new_problems;

/// One environment of a document as the engine validates it (archived flags off).
fn dataset(config: &ProjectConfig, env: &str) -> Dataset {
    let flags = config
        .flags
        .iter()
        .map(|flag| {
            let mut targeting = flag
                .environments
                .get(env)
                .cloned()
                .unwrap_or_else(|| flag.spec.default_targeting());
            targeting.on &= !flag.spec.archived;
            flag.spec.for_environment(1, targeting)
        })
        .collect();
    let segments = config
        .segments
        .iter()
        .filter(|s| s.environment == env)
        .map(|s| Segment {
            version: 1,
            ..s.segment.clone()
        })
        .collect();
    Dataset { flags, segments }
}

/// The file and field of an engine problem (`flags[checkout].rules[0].condition`) found in
/// environment `env`.
fn locate(env: &str, field: &str) -> (String, String) {
    if let Some((key, rest)) = field
        .strip_prefix("flags[")
        .and_then(|rest| rest.split_once(']'))
    {
        let rest = rest.trim_start_matches('.');
        let definition = rest.is_empty()
            || rest.starts_with("variations")
            || rest.starts_with("json_schema")
            || rest.starts_with("kind");
        let field = if definition {
            rest.to_owned()
        } else {
            format!("environments.{env}.{rest}")
        };
        return (flag_file(key), field);
    }
    if let Some((key, rest)) = field
        .strip_prefix("segments[")
        .and_then(|rest| rest.split_once(']'))
    {
        return (
            segment_file(env, key),
            rest.trim_start_matches('.').to_owned(),
        );
    }
    (PROJECT_FILE.to_owned(), field.to_owned())
}

/// Every problem `after` has that `live` did not, in each environment, by file and field.
pub(super) fn problems(live: Option<&ProjectConfig>, after: &ProjectConfig) -> Vec<Problem> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for env in &after.environments {
        let before = match live {
            Some(live) if live.environments.iter().any(|e| e.key == env.key) => {
                dataset(live, &env.key)
            }
            _ => Dataset::default(),
        };
        for invalid in new_problems(&before, &dataset(after, &env.key)) {
            let (file, field) = locate(&env.key, &invalid.field);
            if seen.insert((file.clone(), field.clone(), invalid.message.clone())) {
                found.push(problem(&file, field, invalid.message));
            }
        }
    }
    found.extend(archived_prerequisites(live, after));
    found.extend(moved_variations(live, after));
    found
}

/// Targeting the apply leaves as it is live, of a flag whose variations it removes or reorders,
/// would serve other variations, as `PUT …/flags/{flag}` refuses (a targeting the document
/// rewrites names its variations anew).
fn moved_variations(live: Option<&ProjectConfig>, after: &ProjectConfig) -> Vec<Problem> {
    use crate::api::flags::variations_in_use::{
        broken, refusal, uses_as_prerequisite, uses_in_targeting,
    };
    let Some(live) = live else {
        return Vec::new();
    };
    let live_targeting = |flag: &str, env: &str| {
        live.flags
            .iter()
            .find(|f| f.spec.key == flag)
            .and_then(|f| f.environments.get(env))
    };
    let mut found = Vec::new();
    for flag in &after.flags {
        let key = flag.spec.key.as_str();
        let Some(old) = live.flags.iter().find(|f| f.spec.key == key) else {
            continue;
        };
        if old.spec.variations == flag.spec.variations {
            continue;
        }
        let mut uses = Vec::new();
        for other in &after.flags {
            for (env, targeting) in &other.environments {
                if live_targeting(&other.spec.key, env) != Some(targeting) {
                    continue;
                }
                if other.spec.key == key {
                    uses.extend(uses_in_targeting(env, targeting));
                } else {
                    uses.extend(uses_as_prerequisite(env, key, &other.spec.key, targeting));
                }
            }
        }
        let moved = broken(&uses, &old.spec.variations, &flag.spec.variations);
        if !moved.is_empty() {
            found.push(problem(&flag_file(key), "variations", refusal(&moved)));
        }
    }
    found
}

/// A prerequisite newly required on a flag archived after the apply would fail for good
/// (archived flags are not delivered), as `PUT …/flags/{flag}` refuses it; so is archiving a
/// flag that flags left live require.
fn archived_prerequisites(live: Option<&ProjectConfig>, after: &ProjectConfig) -> Vec<Problem> {
    let archived: BTreeSet<&str> = after
        .flags
        .iter()
        .filter(|f| f.spec.archived)
        .map(|f| f.spec.key.as_str())
        .collect();
    let was_archived = |key: &str| {
        live.and_then(|l| l.flags.iter().find(|f| f.spec.key == key))
            .is_some_and(|f| f.spec.archived)
    };
    let live_targeting = |flag: &str, env: &str| -> Option<&Targeting> {
        live?
            .flags
            .iter()
            .find(|f| f.spec.key == flag)?
            .environments
            .get(env)
    };
    let mut found = Vec::new();
    for flag in &after.flags {
        for (env, targeting) in &flag.environments {
            for (i, prerequisite) in targeting.prerequisites.iter().enumerate() {
                if !archived.contains(prerequisite.key.as_str()) {
                    continue;
                }
                let had = live_targeting(&flag.spec.key, env)
                    .is_some_and(|t| t.prerequisites.iter().any(|p| p.key == prerequisite.key));
                let newly_archived = !was_archived(&prerequisite.key);
                if (!had || newly_archived) && !flag.spec.archived {
                    let message = format!(
                        "flag {:?} is archived: restore it before requiring it, or remove this \
                         prerequisite before archiving it",
                        prerequisite.key
                    );
                    let field = format!("environments.{env}.prerequisites[{i}].key");
                    found.push(problem(&flag_file(&flag.spec.key), field, message));
                }
            }
        }
    }
    found
}

/// A targeting's release layers by where they serve (a rule's id, or `fallthrough`).
fn layers(targeting: Option<&Targeting>) -> Vec<(&str, &ReleaseLayer)> {
    let Some(targeting) = targeting else {
        return Vec::new();
    };
    let mut found: Vec<(&str, &ReleaseLayer)> = targeting
        .rules
        .iter()
        .filter_map(|rule| match &rule.serve {
            Serve::Release(layer) => Some((rule.id.as_str(), &**layer)),
            _ => None,
        })
        .collect();
    if let Serve::Release(layer) = &targeting.fallthrough {
        found.push(("fallthrough", &**layer));
    }
    found
}

/// A flag's targeting in one environment, live and after the apply.
type Pair<'a> = (Option<&'a Targeting>, Option<&'a Targeting>);

/// The releases whose layers the apply would change (a layer belongs to its release: only the
/// release moves it), as `flag in env: release id`.
pub(super) fn release_conflicts(
    live: Option<&ProjectConfig>,
    after: &ProjectConfig,
) -> Vec<String> {
    let mut pairs: BTreeMap<(&str, &str), Pair<'_>> = BTreeMap::new();
    for (config, side) in live.into_iter().map(|l| (l, 0)).chain([(after, 1)]) {
        for flag in &config.flags {
            for (env, targeting) in &flag.environments {
                let entry = pairs.entry((&flag.spec.key, env)).or_default();
                if side == 0 {
                    entry.0 = Some(targeting);
                } else {
                    entry.1 = Some(targeting);
                }
            }
        }
    }
    let mut found = Vec::new();
    for ((flag, env), (before, now)) in pairs {
        let (old, new) = (layers(before), layers(now));
        if old == new {
            continue;
        }
        let releases: BTreeSet<&str> = old
            .iter()
            .chain(&new)
            .map(|(_, layer)| release_of(&layer.stage))
            .collect();
        for release in releases {
            found.push(format!("{flag} in {env}: release {release}"));
        }
    }
    found
}

/// The release of a layer's stage name (`"{release}.{stage}"`).
fn release_of(stage: &str) -> &str {
    stage.rsplit_once('.').map_or(stage, |(release, _)| release)
}

/// The environment an apply that needs approvals waits in, and how many it needs: the live
/// environments its changes count in — a targeting's or segment's own, and every one for a
/// flag's definition — the one requiring the most (ties: the first by key). Settings of
/// environments and the project are never subject to approval (`docs/governance.md`).
pub(super) fn strictest(
    live: Option<&ProjectConfig>,
    changes: &[ResourceChange],
) -> Option<(String, u32)> {
    let live = live?;
    let count = |env: &str| {
        live.environments
            .iter()
            .find(|e| e.key == env)
            .map_or(0, |e| e.required_approvals)
    };
    let mut counted: BTreeSet<&str> = BTreeSet::new();
    for change in changes {
        match (change.kind.as_str(), &change.environment) {
            ("targeting" | "segment", Some(env)) => {
                counted.insert(env);
            }
            ("flag", _) => counted.extend(live.environments.iter().map(|e| e.key.as_str())),
            _ => {}
        }
    }
    let mut best: Option<(String, u32)> = None;
    for env in counted {
        let required = count(env);
        if required > 0 && best.as_ref().is_none_or(|(_, most)| required > *most) {
            best = Some((env.to_owned(), required));
        }
    }
    best
}
