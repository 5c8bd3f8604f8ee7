//! A flag's targeting in words a reviewer reads: variations by key (and name), never by index;
//! weights as percentages; rules by id; targets by context kind; prerequisites by flag key.
//! Shared by the config plan and the environment comparison, so both say the same thing about
//! the same difference. Pure: no store, no HTTP.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::model::{
    Condition, Dialect, FlagSpec, Operator, Prerequisite, Rollout, Rule, Serve, Targeting,
};

/// One field that differs, in words. `before` absent: the field is added; `after` absent: removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// `on`, `off_variation`, `prerequisites[key=F]`, `targets[kind=K]`, `rules[id=R]`,
    /// `rules[id=R].condition`, `rules[id=R].serve`, `rules` (their order), `fallthrough`.
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Said of a field whose words are the same on both sides although the field differs.
const DETAILS: &str = " (changed in details not shown)";

/// Target lists longer than this are counted rather than spelled out.
const LISTED_KEYS: usize = 10;

/// The differences between two targetings of the flag `spec`, field by field (`None`: the
/// environment has no targeting of its own). Prerequisites' variations are named by index
/// here; [`targeting_changes_with`] names them from the prerequisite flags' specs.
pub fn targeting_changes(
    spec: &FlagSpec,
    before: Option<&Targeting>,
    after: Option<&Targeting>,
) -> Vec<FieldChange> {
    targeting_changes_with(spec, &|_| None, before, after)
}

/// [`targeting_changes`], with `flags` looking up other flags' specs by key, so prerequisites
/// are named by their variation keys.
pub fn targeting_changes_with<'a>(
    spec: &FlagSpec,
    flags: &dyn Fn(&str) -> Option<&'a FlagSpec>,
    before: Option<&Targeting>,
    after: Option<&Targeting>,
) -> Vec<FieldChange> {
    let fields_of = |t: Option<&Targeting>| {
        t.map(|t| targeting_fields(spec, flags, t))
            .unwrap_or_default()
    };
    let (b, a) = (fields_of(before), fields_of(after));
    // Fields in the order a person reads a targeting; each side's own order within a group.
    let mut names: Vec<&str> = Vec::new();
    for field in b.iter().chain(a.iter()) {
        if !names.contains(&field.name.as_str()) {
            names.push(&field.name);
        }
    }
    names.sort_by_key(|name| field_rank(name));
    let find = |side: &'_ [Field], name: &str| -> Option<(String, String)> {
        side.iter()
            .find(|f| f.name == name)
            .map(|f| (f.words.clone(), f.exact.clone()))
    };
    let mut changes = Vec::new();
    for name in names {
        let (old, new) = (find(&b, name), find(&a, name));
        if old.as_ref().map(|(_, exact)| exact) == new.as_ref().map(|(_, exact)| exact) {
            continue;
        }
        let (before_words, mut after_words) = (old.map(|(w, _)| w), new.map(|(w, _)| w));
        // A difference the words leave out (a seed, key order in a long list): say so rather
        // than show two equal sides.
        if before_words.is_some()
            && before_words == after_words
            && let Some(words) = after_words.as_mut()
        {
            words.push_str(DETAILS);
        }
        changes.push(FieldChange {
            field: name.to_owned(),
            before: before_words,
            after: after_words,
        });
    }
    refine_changes(spec, before, after, &mut changes);
    changes
}

/// Where a field goes in the list (stable sort keeps each side's own order within a group).
fn field_rank(field: &str) -> u8 {
    match field.split('[').next().unwrap_or(field) {
        "on" => 0,
        "off_variation" => 1,
        "prerequisites" => 2,
        "targets" => 3,
        "rules" => 4,
        _ => 5,
    }
}

/// One field of a targeting: its name, its words and its exact stored form (which decides
/// whether two sides differ; the words may round or count).
struct Field {
    name: String,
    words: String,
    exact: String,
}

fn field(name: String, words: String, exact: impl Serialize) -> Field {
    let exact = serde_json::to_string(&exact).unwrap_or_default();
    Field { name, words, exact }
}

/// Every field of one targeting.
fn targeting_fields<'a>(
    spec: &FlagSpec,
    flags: &dyn Fn(&str) -> Option<&'a FlagSpec>,
    t: &Targeting,
) -> Vec<Field> {
    let mut fields = vec![field("on".to_owned(), on_off(t.on).to_owned(), t.on)];
    fields.push(field(
        "off_variation".to_owned(),
        match t.off_variation {
            Some(index) => format!("variation {}", variation_label(spec, index)),
            None => "the application's default value".to_owned(),
        },
        t.off_variation,
    ));
    for prerequisite in &t.prerequisites {
        fields.push(field(
            format!("prerequisites[key={}]", prerequisite.key),
            describe_prerequisite(flags(&prerequisite.key), prerequisite),
            prerequisite,
        ));
    }
    let mut kinds: Vec<&str> = Vec::new();
    for target in &t.targets {
        if !kinds.contains(&target.kind.as_str()) {
            kinds.push(&target.kind);
        }
    }
    for kind in kinds {
        let of_kind: Vec<_> = t.targets.iter().filter(|x| x.kind == kind).collect();
        fields.push(field(
            format!("targets[kind={kind}]"),
            describe_targets(spec, t, kind),
            of_kind,
        ));
    }
    for (position, rule) in t.rules.iter().enumerate() {
        let name = rule_field(rule, position);
        fields.push(field(name.clone(), describe_rule(spec, rule), rule));
        fields.push(field(
            format!("{name}.condition"),
            describe_condition_in(spec.dialect, &rule.condition),
            &rule.condition,
        ));
        fields.push(field(
            format!("{name}.serve"),
            describe_serve(spec, &rule.serve),
            &rule.serve,
        ));
    }
    if t.rules.len() > 1 {
        let order: Vec<String> = t
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| rule_id(r, i))
            .collect();
        let words = order.join(", ");
        fields.push(field("rules".to_owned(), words, order));
    }
    fields.push(field(
        "fallthrough".to_owned(),
        describe_serve(spec, &t.fallthrough),
        &t.fallthrough,
    ));
    fields
}

/// A rule is named by its id; one without (imported data) by its position.
fn rule_id(rule: &Rule, position: usize) -> String {
    if rule.id.is_empty() {
        format!("#{}", position + 1)
    } else {
        rule.id.clone()
    }
}

fn rule_field(rule: &Rule, position: usize) -> String {
    format!("rules[id={}]", rule_id(rule, position))
}

/// Keeps the changes a reviewer needs and no repeats: a rule on both sides is described by its
/// changed condition and serve, a rule on one side only as a whole, and the order of the rules
/// only when the rules both sides have moved relative to each other.
fn refine_changes(
    spec: &FlagSpec,
    before: Option<&Targeting>,
    after: Option<&Targeting>,
    changes: &mut Vec<FieldChange>,
) {
    let ids = |t: Option<&Targeting>| -> Vec<String> {
        t.map(|t| &t.rules[..])
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, r)| rule_id(r, i))
            .collect()
    };
    let (before_ids, after_ids) = (ids(before), ids(after));
    let common = |side: &[String], other: &[String]| -> Vec<String> {
        side.iter()
            .filter(|id| other.contains(id))
            .cloned()
            .collect()
    };
    let reordered = common(&before_ids, &after_ids) != common(&after_ids, &before_ids);
    changes.retain(|change| {
        let Some(rest) = change.field.strip_prefix("rules") else {
            return true;
        };
        if rest.is_empty() {
            return reordered;
        }
        let on_both_sides = change.before.is_some() && change.after.is_some();
        let whole_rule = !rest.contains("].");
        // A whole rule only when added or removed; its parts only when it is on both sides.
        whole_rule != on_both_sides
    });
    let (Some(before), Some(after)) = (before, after) else {
        return;
    };
    for change in changes.iter_mut() {
        let Some(kind) = change.field.strip_prefix("targets[kind=") else {
            continue;
        };
        let kind = kind.trim_end_matches(']').to_owned();
        if let (Some(_), Some(after_words)) = (&change.before, &mut change.after) {
            let moved = target_moves(spec, before, after, &kind);
            if !moved.is_empty() {
                if let Some(words) = after_words.strip_suffix(DETAILS) {
                    *after_words = words.to_owned();
                }
                after_words.push_str(&format!(" ({moved})"));
            }
        }
    }
}

/// The keys added to and removed from each variation's list, when the lists are too long to
/// read in full.
fn target_moves(spec: &FlagSpec, before: &Targeting, after: &Targeting, kind: &str) -> String {
    let lists = |t: &Targeting| -> BTreeMap<usize, Vec<String>> {
        let mut lists: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for target in t.targets.iter().filter(|x| x.kind == kind) {
            lists
                .entry(target.variation)
                .or_default()
                .extend(target.values.iter().cloned());
        }
        lists
    };
    let (b, a) = (lists(before), lists(after));
    let long = b.values().chain(a.values()).any(|l| l.len() > LISTED_KEYS);
    if !long {
        return String::new();
    }
    let mut parts = Vec::new();
    let variations: Vec<usize> = {
        let mut v: Vec<usize> = b.keys().chain(a.keys()).copied().collect();
        v.dedup();
        v.sort_unstable();
        v.dedup();
        v
    };
    for variation in variations {
        let none = Vec::new();
        let (old, new) = (
            b.get(&variation).unwrap_or(&none),
            a.get(&variation).unwrap_or(&none),
        );
        let added: Vec<String> = new.iter().filter(|k| !old.contains(k)).cloned().collect();
        let removed: Vec<String> = old.iter().filter(|k| !new.contains(k)).cloned().collect();
        let label = variation_label(spec, variation);
        if !added.is_empty() {
            parts.push(format!("{label} added {}", key_list(&added)));
        }
        if !removed.is_empty() {
            parts.push(format!("{label} removed {}", key_list(&removed)));
        }
    }
    parts.join("; ")
}

fn key_list(keys: &[String]) -> String {
    let mut words = keys
        .iter()
        .take(LISTED_KEYS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > LISTED_KEYS {
        words.push_str(&format!(" and {} more", keys.len() - LISTED_KEYS));
    }
    words
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `"on"`, or `"on" (Enabled)` when the variation has a name.
pub fn variation_label(spec: &FlagSpec, index: usize) -> String {
    match spec.variations.get(index) {
        Some(v) => match &v.name {
            Some(name) if !name.is_empty() && *name != v.key => format!("\"{}\" ({name})", v.key),
            _ => format!("\"{}\"", v.key),
        },
        None => format!("a variation that does not exist (index {index})"),
    }
}

fn describe_prerequisite(flag: Option<&FlagSpec>, prerequisite: &Prerequisite) -> String {
    let labels: Vec<String> = prerequisite
        .variations
        .iter()
        .map(|&index| match flag {
            Some(spec) => variation_label(spec, index),
            None => format!("variation #{index}"),
        })
        .collect();
    format!("\"{}\" serves {}", prerequisite.key, labels.join(" or "))
}

fn describe_targets(spec: &FlagSpec, t: &Targeting, kind: &str) -> String {
    let parts: Vec<String> = t
        .targets
        .iter()
        .filter(|target| target.kind == kind)
        .map(|target| {
            let label = variation_label(spec, target.variation);
            if target.values.len() > LISTED_KEYS {
                format!("{label}: {} keys", target.values.len())
            } else {
                format!("{label}: {}", target.values.join(", "))
            }
        })
        .collect();
    parts.join("; ")
}

fn describe_rule(spec: &FlagSpec, rule: &Rule) -> String {
    format!(
        "if {} serve {}",
        describe_condition_in(spec.dialect, &rule.condition),
        describe_serve(spec, &rule.serve)
    )
}

/// What a rule or the fallthrough serves: `variation "on"`, `10% "on" / 90% "off" by user key`,
/// `release r1 stage 2: 5% "new" over variation "old"`.
pub fn describe_serve(spec: &FlagSpec, serve: &Serve) -> String {
    match serve {
        Serve::Variation(index) => format!("variation {}", variation_label(spec, *index)),
        Serve::Rollout(rollout) => describe_rollout(spec, rollout),
        Serve::Release(layer) => {
            let (release, stage) = layer
                .stage
                .rsplit_once('.')
                .unwrap_or((layer.stage.as_str(), "?"));
            let mut words = format!(
                "release {release} stage {stage}: {} {}",
                percent(layer.weight),
                variation_label(spec, layer.variation)
            );
            if layer.bucket_by.is_some() || layer.context_kind != "user" {
                words.push(' ');
                words.push_str(&bucketing(&layer.context_kind, layer.bucket_by.as_deref()));
            }
            words.push_str(&format!(" over {}", describe_serve(spec, &layer.previous)));
            if let Some(audience) = &layer.audience {
                words.push_str(&format!(
                    "; always {} for {}",
                    variation_label(spec, layer.variation),
                    describe_condition_in(spec.dialect, audience)
                ));
            }
            words
        }
    }
}

fn describe_rollout(spec: &FlagSpec, rollout: &Rollout) -> String {
    let total: u64 = rollout.variations.iter().map(|w| u64::from(w.weight)).sum();
    let slices: Vec<String> = rollout
        .variations
        .iter()
        .map(|slice| {
            let share = if spec.dialect == Dialect::Unleash {
                relative_percent(slice.weight, total)
            } else {
                percent(slice.weight)
            };
            let untracked = if slice.untracked { " (untracked)" } else { "" };
            format!(
                "{share} {}{untracked}",
                variation_label(spec, slice.variation)
            )
        })
        .collect();
    let mut words = format!(
        "{} {}",
        slices.join(" / "),
        bucketing(&rollout.context_kind, rollout.bucket_by.as_deref())
    );
    if let Some(seed) = &rollout.seed {
        words.push_str(&format!(", seed \"{seed}\""));
    }
    if rollout.experiment {
        words.push_str(", an experiment");
    }
    words
}

fn bucketing(kind: &str, bucket_by: Option<&str>) -> String {
    match bucket_by {
        None => format!("by {kind} key"),
        Some(attribute) => format!("by {kind} {attribute}"),
    }
}

/// A weight in 0.001 % units as a percentage: `10%`, `12.5%`, `0.001%`.
fn percent(weight: u32) -> String {
    let (whole, thousandths) = (weight / 1000, weight % 1000);
    if thousandths == 0 {
        format!("{whole}%")
    } else {
        let fraction = format!("{thousandths:03}");
        format!("{whole}.{}%", fraction.trim_end_matches('0'))
    }
}

/// A relative weight (Unleash) as its share of `total`, to 0.001 %.
fn relative_percent(weight: u32, total: u64) -> String {
    if total == 0 {
        return "0%".to_owned();
    }
    let units = (u64::from(weight) * 100_000 + total / 2) / total;
    percent(u32::try_from(units).unwrap_or(u32::MAX))
}

/// A condition, compactly: `user.country in "de", "fr" and in segment "beta"`.
pub fn describe_condition(condition: &Condition) -> String {
    describe_condition_in(Dialect::Native, condition)
}

/// [`describe_condition`] for a flag of `dialect`: Unleash percentages are whole percents.
pub fn describe_condition_in(dialect: Dialect, condition: &Condition) -> String {
    describe_nested(condition, false, dialect)
}

fn describe_nested(condition: &Condition, nested: bool, dialect: Dialect) -> String {
    let joined = |parts: &[Condition], word: &str| -> String {
        let words: Vec<String> = parts
            .iter()
            .map(|c| describe_nested(c, true, dialect))
            .collect();
        let text = words.join(word);
        if nested && parts.len() > 1 {
            format!("({text})")
        } else {
            text
        }
    };
    match condition {
        Condition::All(parts) if parts.is_empty() => "always".to_owned(),
        Condition::Any(parts) if parts.is_empty() => "never".to_owned(),
        Condition::All(parts) => joined(parts, " and "),
        Condition::Any(parts) => joined(parts, " or "),
        Condition::Not(inner) => format!("not {}", describe_nested(inner, true, dialect)),
        Condition::Percentage(p) => {
            let share = if dialect == Dialect::Unleash {
                format!("{}%", p.weight)
            } else {
                percent(p.weight)
            };
            let mut words = format!(
                "{share} of contexts {}",
                bucketing(&p.context_kind, p.bucket_by.as_deref())
            );
            if let Some(seed) = &p.seed {
                words.push_str(&format!(", seed \"{seed}\""));
            }
            words
        }
        Condition::Clause(clause) => {
            let values: Vec<String> = clause.values.iter().map(value_words).collect();
            let values = values.join(", ");
            let not = if clause.negate { "not " } else { "" };
            let case = if clause.case_insensitive {
                " (ignoring case)"
            } else {
                ""
            };
            match &clause.op {
                Operator::SegmentMatch => {
                    let noun = if clause.values.len() == 1 {
                        "segment"
                    } else {
                        "one of the segments"
                    };
                    format!("{not}in {noun} {values}")
                }
                Operator::Exists => {
                    format!("{} {}exists", attribute_words(clause), not_word(clause))
                }
                op => format!(
                    "{} {not}{} {values}{case}",
                    attribute_words(clause),
                    op.name()
                ),
            }
        }
    }
}

fn not_word(clause: &switchyard_engine::model::Clause) -> &'static str {
    if clause.negate { "not " } else { "" }
}

/// `user.country`, or `user/address/city` for a JSON Pointer.
fn attribute_words(clause: &switchyard_engine::model::Clause) -> String {
    if clause.attribute.starts_with('/') {
        format!("{}{}", clause.kind, clause.attribute)
    } else {
        format!("{}.{}", clause.kind, clause.attribute)
    }
}

fn value_words(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests;
