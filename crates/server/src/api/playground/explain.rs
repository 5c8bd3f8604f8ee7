//! One flag's playground answer: the engine's evaluation of the delivered snapshot, and what
//! it does not say (which target, which segments, what share of a rollout) asked of the same
//! snapshot with the engine's own matchers, then put in one sentence.

use serde_json::Value;
use switchyard_engine::model::{Condition, Flag, Operator, Serve};
use switchyard_engine::{
    CompiledFlag, Context, Env, ErrorKind, Evaluation, Reason, ReleaseCohort,
    model::{Dialect, Variation},
};

use super::{PlaygroundEvaluation, ReleaseMatched, TargetMatched};
use crate::delivery::Published;
use crate::records::describe::describe_condition_in;

/// Longest a value is quoted in a sentence before it is cut.
const QUOTED_VALUE_CHARS: usize = 40;

/// Evaluates and explains flags of one published environment for one context.
pub(super) struct Explainer<'a> {
    pub published: &'a Published,
    pub context: &'a Context,
    pub env: &'a Env,
    /// The environment's key, for sentences.
    pub environment: &'a str,
    /// Whether the caller may read a flag (by key) of this environment: a prerequisite it
    /// may not read is named, never evaluated or described.
    pub may_read: &'a dyn Fn(&str) -> bool,
}

impl Explainer<'_> {
    pub(super) fn evaluate(&self, key: &str) -> PlaygroundEvaluation {
        let snapshot = &self.published.compiled;
        let (Some(flag), Some(model)) = (snapshot.flag(key), self.published.data.flags.get(key))
        else {
            return self.not_found(key);
        };
        let evaluation = snapshot.evaluate_flag(flag, self.context, self.env);
        let reason = evaluation.reason;
        let mut answer = PlaygroundEvaluation {
            flag: key.to_owned(),
            value: evaluation
                .variation
                .map_or(Value::Null, |v| v.value.clone()),
            variation: evaluation.variation.map(|v| v.key.clone()),
            variation_name: evaluation.variation.map(|v| label(v).to_owned()),
            reason: reason.kind_name().to_owned(),
            rule_id: None,
            rule_index: None,
            rule_description: None,
            target: None,
            segments: Vec::new(),
            prerequisite: None,
            in_experiment: reason.rollout().is_some_and(|r| r.in_experiment),
            release: reason.release().map(|release| ReleaseMatched {
                stage: release.stage.to_owned(),
                cohort: release.cohort.name().to_owned(),
            }),
            error_code: None,
            explanation: String::new(),
        };
        let served = served_words(&evaluation);
        answer.explanation = match reason {
            Reason::Off => match evaluation.variation {
                Some(_) => format!(
                    "The flag is off in {}, so everyone gets its off variation {served}.",
                    self.environment
                ),
                None => format!(
                    "The flag is off in {} and has no off variation, so the SDK's default value \
                     applies.",
                    self.environment
                ),
            },
            Reason::TargetMatch => {
                let target = snapshot
                    .matched_target(flag, self.context)
                    .and_then(|i| model.targeting.targets.get(i))
                    .and_then(|target| {
                        let part = self.context.part(&target.kind)?;
                        Some(TargetMatched {
                            kind: target.kind.clone(),
                            key: part.key().to_owned(),
                        })
                    });
                let words = match &target {
                    Some(t) => format!("{} {} is an individual target", t.kind, t.key),
                    None => "The context is an individual target".to_owned(),
                };
                answer.target = target;
                format!("{words} of this flag, so {served}.")
            }
            Reason::RuleMatch {
                rule_index,
                rule_id,
                ..
            } => {
                let rule = model.targeting.rules.get(rule_index);
                let condition =
                    rule.map(|rule| describe_condition_in(model.dialect, &rule.condition));
                answer.segments = rule
                    .map(|rule| self.segments_containing(&rule.condition))
                    .unwrap_or_default();
                let mut words = format!("Rule {}", rule_index + 1);
                if !rule_id.is_empty() {
                    words.push_str(&format!(" ({rule_id})"));
                }
                words.push_str(" matched");
                match condition.as_deref() {
                    Some("always") => words.push_str(" (it matches everyone)"),
                    Some(condition) => words.push_str(&format!(" (if {condition})")),
                    None => {}
                }
                if !answer.segments.is_empty() {
                    words.push_str(&format!(
                        ": the context is in {}",
                        segment_list(&answer.segments)
                    ));
                }
                if let Some(serving) =
                    rule.and_then(|rule| serve_words(model, flag, &rule.serve, &evaluation, "its"))
                {
                    words.push_str(&format!(", and {serving}"));
                }
                answer.rule_id = Some(rule_id.to_owned());
                answer.rule_index = Some(rule_index);
                answer.rule_description = condition;
                format!("{words}, so {served}.")
            }
            Reason::Fallthrough { .. } if flag.is_static() => format!(
                "The flag serves {served} to everyone in {} (no targets or rules).",
                self.environment
            ),
            Reason::Fallthrough { .. } => {
                match serve_words(
                    model,
                    flag,
                    &model.targeting.fallthrough,
                    &evaluation,
                    "the default rule's",
                ) {
                    Some(serving) => {
                        format!("No individual target or rule matched; {serving}, so {served}.")
                    }
                    None => format!(
                        "No individual target or rule matched, so the default rule serves \
                         {served}."
                    ),
                }
            }
            Reason::PrerequisiteFailed { prerequisite_key } => {
                answer.prerequisite = Some(prerequisite_key.to_owned());
                let fallback = match evaluation.variation {
                    Some(_) => format!("the flag serves its off variation {served}"),
                    None => "the SDK's default value applies".to_owned(),
                };
                format!(
                    "{}, so {fallback}.",
                    self.prerequisite_words(model, prerequisite_key)
                )
            }
            Reason::Error { error_kind } => {
                answer.error_code = Some(error_kind.openfeature_code().to_owned());
                match error_kind {
                    ErrorKind::MalformedFlag => "The flag's configuration cannot be evaluated \
                        (validating the environment lists its problems), so the SDK's default \
                        value applies."
                        .to_owned(),
                    other => format!(
                        "Evaluation failed ({}), so the SDK's default value applies.",
                        other.openfeature_code()
                    ),
                }
            }
        };
        answer
    }

    /// A flag the environment does not deliver: archived, deleted or never created.
    fn not_found(&self, key: &str) -> PlaygroundEvaluation {
        PlaygroundEvaluation {
            flag: key.to_owned(),
            value: Value::Null,
            variation: None,
            variation_name: None,
            reason: "ERROR".to_owned(),
            rule_id: None,
            rule_index: None,
            rule_description: None,
            target: None,
            segments: Vec::new(),
            prerequisite: None,
            in_experiment: false,
            release: None,
            error_code: Some(ErrorKind::FlagNotFound.openfeature_code().to_owned()),
            explanation: format!(
                "No flag \"{key}\" is served in {}: it is archived, deleted or was never \
                 created, so the SDK's default value applies.",
                self.environment
            ),
        }
    }

    /// The segments `condition` tests that the context is in, each once, in the order the
    /// condition names them. Membership is the engine's answer for the delivered segment.
    fn segments_containing(&self, condition: &Condition) -> Vec<String> {
        let mut tested = Vec::new();
        segments_tested(condition, &mut tested);
        tested
            .into_iter()
            .filter(|key| {
                self.published
                    .data
                    .segments
                    .keys()
                    .position(|k| k == key)
                    .and_then(|index| {
                        self.published.compiled.segment_contains_context(
                            index,
                            self.context,
                            self.env,
                        )
                    })
                    == Some(true)
            })
            .collect()
    }

    /// What the failed prerequisite served, against what `flag` requires of it.
    fn prerequisite_words(&self, flag: &Flag, key: &str) -> String {
        if !(self.may_read)(key) {
            // What it serves, its variations, even whether it is delivered, are the
            // prerequisite's, which this caller may not read.
            return format!("Prerequisite {key} did not serve a required variation");
        }
        let snapshot = &self.published.compiled;
        let Some(required) = snapshot.flag(key) else {
            return format!(
                "Prerequisite {key} is not served in {} (archived or deleted)",
                self.environment
            );
        };
        let wanted: Vec<String> = flag
            .targeting
            .prerequisites
            .iter()
            .filter(|p| p.key == key)
            .flat_map(|p| p.variations.iter())
            .filter_map(|&i| required.variations().get(i))
            .map(|v| label(v).to_owned())
            .collect();
        let wanted = if wanted.is_empty() {
            "the variation it requires".to_owned()
        } else {
            wanted.join(" or ")
        };
        let evaluation = snapshot.evaluate_flag(required, self.context, self.env);
        let got = match evaluation.variation {
            Some(_) => served_words(&evaluation),
            None => "no variation".to_owned(),
        };
        if required.is_on() {
            format!("Prerequisite {key} served {got}, not {wanted}")
        } else {
            format!(
                "Prerequisite {key} is off in {} (it serves {got}), not {wanted}",
                self.environment
            )
        }
    }
}

/// A variation's name, or its key when it has none.
fn label(variation: &Variation) -> &str {
    match &variation.name {
        Some(name) if !name.is_empty() => name,
        _ => &variation.key,
    }
}

/// `On (true)`: the served variation's name and value (cut when long).
fn served_words(evaluation: &Evaluation<'_>) -> String {
    match evaluation.variation {
        Some(variation) => format!("{} ({})", label(variation), quoted(&variation.value)),
        None => "the SDK's default value".to_owned(),
    }
}

fn quoted(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= QUOTED_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(QUOTED_VALUE_CHARS).collect();
    format!("{cut}…")
}

/// How a rollout or a guarded release placed the context, when one decided (`whose`: "its"
/// for a rule, "the default rule's" for the fallthrough); `None` for a single variation.
fn serve_words(
    model: &Flag,
    flag: &CompiledFlag,
    serve: &Serve,
    evaluation: &Evaluation<'_>,
    whose: &str,
) -> Option<String> {
    let served = evaluation.variation_index?;
    let variation_label = |index: usize| {
        flag.variations()
            .get(index)
            .map_or_else(|| format!("variation {index}"), |v| label(v).to_owned())
    };
    match serve {
        Serve::Variation(_) => None,
        Serve::Rollout(_) => {
            let share = rollout_share(model.dialect, serve, served)?;
            Some(format!(
                "{whose} rollout put the context in the {share} bucket for {}",
                variation_label(served)
            ))
        }
        Serve::Release(layer) => {
            let ReleaseCohort { stage, cohort } = evaluation.reason.release()?;
            let share = percent(u64::from(layer.weight));
            let target = variation_label(layer.variation);
            Some(match cohort {
                switchyard_engine::Cohort::Treated => format!(
                    "{whose} guarded release {stage} serves {target} to {share}, and the \
                     context is in that {share}"
                ),
                switchyard_engine::Cohort::Audience => format!(
                    "the context is in the audience of {whose} guarded release {stage}, which \
                     always gets {target}"
                ),
                switchyard_engine::Cohort::Control => {
                    let mut words = format!(
                        "the context is in the control group of {whose} guarded release \
                         {stage} (which serves {target} to {share}) and keeps what was served \
                         before"
                    );
                    if let Some(previous) = rollout_share(model.dialect, &layer.previous, served) {
                        words.push_str(&format!(
                            ": the previous rollout put it in the {previous} bucket for {}",
                            variation_label(served)
                        ));
                    }
                    words
                }
            })
        }
    }
}

/// The share of a rollout that gets `variation`, as a percentage (`None` if `serve` is not a
/// rollout or has no weight).
fn rollout_share(dialect: Dialect, serve: &Serve, variation: usize) -> Option<String> {
    let Serve::Rollout(rollout) = serve else {
        return None;
    };
    let total: u64 = rollout.variations.iter().map(|w| u64::from(w.weight)).sum();
    let mine: u64 = rollout
        .variations
        .iter()
        .filter(|w| w.variation == variation)
        .map(|w| u64::from(w.weight))
        .sum();
    if total == 0 {
        return None;
    }
    // Native and LaunchDarkly weights are 0.001 % units summing to 100,000; Unleash's are
    // relative. Both come out as 0.001 % units of the whole.
    let units = if dialect == Dialect::Unleash || total != 100_000 {
        (mine * 100_000 + total / 2) / total
    } else {
        mine
    };
    Some(percent(units))
}

/// 0.001 % units as a percentage: `25 %`, `12.5 %`, `0.001 %`.
fn percent(units: u64) -> String {
    let (whole, thousandths) = (units / 1000, units % 1000);
    if thousandths == 0 {
        format!("{whole} %")
    } else {
        let fraction = format!("{thousandths:03}");
        format!("{whole}.{} %", fraction.trim_end_matches('0'))
    }
}

/// Every segment key `condition` tests, in order, each once.
fn segments_tested(condition: &Condition, out: &mut Vec<String>) {
    match condition {
        Condition::All(parts) | Condition::Any(parts) => {
            for part in parts {
                segments_tested(part, out);
            }
        }
        Condition::Not(inner) => segments_tested(inner, out),
        Condition::Percentage(_) => {}
        Condition::Clause(clause) if clause.op == Operator::SegmentMatch => {
            for key in clause.values.iter().filter_map(Value::as_str) {
                if !out.iter().any(|k| k == key) {
                    out.push(key.to_owned());
                }
            }
        }
        Condition::Clause(_) => {}
    }
}

/// `segment beta`, `segments beta and staff`.
fn segment_list(segments: &[String]) -> String {
    match segments {
        [one] => format!("segment {one}"),
        [rest @ .., last] => format!("segments {} and {last}", rest.join(", ")),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_drop_trailing_zeros() {
        assert_eq!(percent(25_000), "25 %");
        assert_eq!(percent(12_500), "12.5 %");
        assert_eq!(percent(1), "0.001 %");
        assert_eq!(percent(100_000), "100 %");
    }
}
