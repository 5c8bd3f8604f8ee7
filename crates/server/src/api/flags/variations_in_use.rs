//! Targeting names a flag's variations by position (the off variation, targets, rules, the
//! default rule, rollouts, guarded release layers, and other flags' prerequisites on it), so a
//! definition change that removes or reorders variations would silently move every
//! environment to other variations — an off state that now serves something else. Such a
//! change is refused, naming what uses the position; appending variations and renaming them
//! (a new name, or a new key with the same value) are fine (`docs/evaluation.md`, "Off state").

use switchyard_engine::model::{Serve, Targeting, Variation};

use crate::records::EnvData;

/// One place an environment uses a variation by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::api) struct IndexUse {
    pub index: usize,
    /// In words, with the environment: "production's off variation".
    pub what: String,
}

/// Where environment `env` uses variations of `flag`: its stored targeting (a flag never
/// targeted there serves the definition's defaults, which follow the off variation's key) and
/// the stored prerequisites of other flags on it.
pub(in crate::api) fn uses_of(env: &str, flag: &str, data: &EnvData) -> Vec<IndexUse> {
    let mut uses = Vec::new();
    for (key, env_flag) in &data.flags {
        if env_flag.targeting_version == 0 {
            continue;
        }
        if key == flag {
            uses.extend(uses_in_targeting(env, &env_flag.targeting));
        } else {
            uses.extend(uses_as_prerequisite(env, flag, key, &env_flag.targeting));
        }
    }
    uses
}

/// Where `env`'s targeting of a flag uses its variations.
pub(in crate::api) fn uses_in_targeting(env: &str, targeting: &Targeting) -> Vec<IndexUse> {
    let mut uses = Vec::new();
    let mut add = |index: usize, what: String| uses.push(IndexUse { index, what });
    if let Some(off) = targeting.off_variation {
        add(off, format!("{env}'s off variation"));
    }
    for target in &targeting.targets {
        add(
            target.variation,
            format!("{env}'s individual {} targets", target.kind),
        );
    }
    for (position, rule) in targeting.rules.iter().enumerate() {
        let rule_name = if rule.id.is_empty() {
            format!("{env}'s rule {}", position + 1)
        } else {
            format!("{env}'s rule {} ({})", position + 1, rule.id)
        };
        serve_uses(&rule.serve, &rule_name, &mut add);
    }
    serve_uses(
        &targeting.fallthrough,
        &format!("{env}'s default rule"),
        &mut add,
    );
    uses
}

/// Where `dependent`'s prerequisites in `env` require variations of `flag`.
pub(in crate::api) fn uses_as_prerequisite(
    env: &str,
    flag: &str,
    dependent: &str,
    targeting: &Targeting,
) -> Vec<IndexUse> {
    targeting
        .prerequisites
        .iter()
        .filter(|p| p.key == flag)
        .flat_map(|p| p.variations.iter())
        .map(|&index| IndexUse {
            index,
            what: format!("{env}'s prerequisite of {dependent} on {flag}"),
        })
        .collect()
}

fn serve_uses(serve: &Serve, whose: &str, add: &mut impl FnMut(usize, String)) {
    match serve {
        Serve::Variation(index) => add(*index, whose.to_owned()),
        Serve::Rollout(rollout) => {
            for weighted in &rollout.variations {
                add(weighted.variation, format!("{whose} rollout"));
            }
        }
        Serve::Release(layer) => {
            add(
                layer.variation,
                format!("{whose} guarded release {}", layer.stage),
            );
            serve_uses(&layer.previous, whose, add);
        }
    }
}

/// Each use that `before` → `after` breaks, in words: the position is gone, or holds another
/// variation (neither the same key nor the same value). Uses of positions `before` does not
/// have were broken already and are left to validation.
pub(in crate::api) fn broken(
    uses: &[IndexUse],
    before: &[Variation],
    after: &[Variation],
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for IndexUse { index, what } in uses {
        let Some(old) = before.get(*index) else {
            continue;
        };
        let message = match after.get(*index) {
            None => format!(
                "{what} is variation {index} (“{}”), which this change removes",
                label(old)
            ),
            Some(new) if new.key != old.key && new.value != old.value => format!(
                "{what} is variation {index} (“{}”), which this change replaces with “{}”",
                label(old),
                label(new)
            ),
            Some(_) => continue,
        };
        if !found.contains(&message) {
            found.push(message);
        }
    }
    found
}

/// The refusal's message for `broken` uses (at most five named).
pub(in crate::api) fn refusal(broken: &[String]) -> String {
    let mut named: Vec<&str> = broken.iter().take(5).map(String::as_str).collect();
    let more = broken.len().saturating_sub(named.len());
    let more = (more > 0).then(|| format!("and {more} more"));
    named.extend(more.as_deref());
    format!(
        "environments use variations by position: {}. Append new variations at the end instead, \
         or first change what uses them",
        named.join("; ")
    )
}

fn label(variation: &Variation) -> &str {
    match &variation.name {
        Some(name) if !name.is_empty() => name,
        _ => &variation.key,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use switchyard_engine::model::{Targeting, Variation};

    use super::{broken, uses_in_targeting};

    fn variations(list: &[(&str, &str)]) -> Vec<Variation> {
        serde_json::from_value(json!(
            list.iter()
                .map(|(key, name)| json!({"key": key, "value": key, "name": name}))
                .collect::<Vec<_>>()
        ))
        .unwrap()
    }

    #[test]
    fn removing_or_reordering_used_variations_is_named() {
        let targeting: Targeting = serde_json::from_value(json!({
            "on": true, "off_variation": 2, "fallthrough": {"variation": 0},
            "rules": [{"id": "beta", "condition": {"op": "segment_match", "values": ["b"]},
                       "serve": {"variation": 1}}]}))
        .unwrap();
        let uses = uses_in_targeting("production", &targeting);
        let before = variations(&[("a", "A"), ("b", "B"), ("small", "Small model")]);
        assert_eq!(
            broken(&uses, &before, &before[..2]),
            [
                "production's off variation is variation 2 (“Small model”), which this change \
              removes"
            ]
        );
        let swapped = variations(&[("b", "B"), ("a", "A"), ("small", "Small model")]);
        assert_eq!(broken(&uses, &before, &swapped).len(), 2);
        // Appending and renaming keep every position.
        let mut appended = variations(&[("a", "Alpha"), ("b", "B"), ("small", "Small")]);
        appended.extend(variations(&[("large", "Large")]));
        assert!(broken(&uses, &before, &appended).is_empty());
    }
}
