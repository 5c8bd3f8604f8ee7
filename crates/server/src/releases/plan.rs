//! How a release is planned and written into a flag: stages from a ramp template, windows,
//! and the release layer a stage puts on a rule or the fallthrough (and takes off again).
//!
//! **Invariant:** a roll back or abort restores exactly the serving the rule had before the
//! release started (the layer's `previous`), and every path off a running release removes the
//! layer.

use std::collections::BTreeMap;

use switchyard_engine::model::{Clause, Condition, Operator, ReleaseLayer, Serve, Targeting};

use super::document::{
    GuardrailKind, Release, ReleaseInput, Stage, StageInput, State, Template, Window,
    default_min_treated,
};
use crate::error::{ApiError, ApiResult, Invalid};

/// The share kept on the previous serving during the final bake, so a control still exists.
pub const FINAL_HOLDBACK_PERCENT: f64 = 2.0;

impl Release {
    /// Whether a new stage may begin at `now_ms` (no windows: always).
    pub fn in_window(&self, now_ms: i64) -> bool {
        self.windows.is_empty()
            || self
                .windows
                .iter()
                .filter_map(|w| parse_window(w).ok())
                .any(|w| w.contains(now_ms))
    }

    /// Checks `input` against the flag's variations and rules and builds the release.
    pub fn new(
        id: String,
        (project, environment): (&str, &str),
        input: ReleaseInput,
        variations: &[String],
        targeting: &Targeting,
        now_ms: i64,
    ) -> Result<Release, Invalid> {
        if !variations.contains(&input.variation) {
            return Err(Invalid::new(
                "variation",
                format!("the flag has no variation {:?}", input.variation),
            ));
        }
        if let Some(rule) = &input.rule
            && !targeting.rules.iter().any(|r| &r.id == rule)
        {
            return Err(Invalid::new(
                "rule",
                format!("no rule {rule:?} in this environment"),
            ));
        }
        if !(input.alpha > 0.0 && input.alpha < 0.5) {
            return Err(Invalid::new("alpha", "must be in (0, 0.5)"));
        }
        for (i, guardrail) in input.guardrails.iter().enumerate() {
            if guardrail.metric.is_empty() {
                return Err(Invalid::new(format!("guardrails[{i}].metric"), "required"));
            }
            let margin_ok = guardrail.margin.is_finite()
                && (guardrail.margin >= 0.0)
                && (guardrail.kind == GuardrailKind::Mean || guardrail.margin < 10.0);
            if !margin_ok {
                return Err(Invalid::new(
                    format!("guardrails[{i}].margin"),
                    "must be a finite number ≥ 0 (and < 10 for bad events)",
                ));
            }
            if guardrail
                .max_treated_rate
                .is_some_and(|r| !(r > 0.0 && r <= 1.0))
            {
                return Err(Invalid::new(
                    format!("guardrails[{i}].max_treated_rate"),
                    "must be in (0, 1]",
                ));
            }
        }
        for (i, window) in input.windows.iter().enumerate() {
            parse_window(window).map_err(|m| Invalid::new(format!("windows[{i}]"), m))?;
        }
        let stages = match (&input.stages, &input.template) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "template",
                    "give stages or a template, not both",
                ));
            }
            (Some(stages), None) => stages
                .iter()
                .enumerate()
                .map(|(i, s)| stage(i, s))
                .collect::<Result<Vec<_>, Invalid>>()?,
            (None, template) => template_stages(
                template.as_ref().unwrap_or(&Template::Default {
                    min_treated: default_min_treated(),
                }),
                input.audience.is_some(),
            )?,
        };
        if stages.is_empty() {
            return Err(Invalid::new("stages", "at least one stage"));
        }
        if stages.windows(2).any(|w| w[1].weight < w[0].weight) {
            return Err(Invalid::new(
                "stages",
                "percentages must not decrease: nobody treated earlier may be untreated later",
            ));
        }
        let scheduled = input.start_at_ms.is_some_and(|t| t > now_ms);
        let mut release = Release {
            seed: format!("release-{id}"),
            id,
            project: project.to_owned(),
            environment: environment.to_owned(),
            flag: input.flag,
            rule: input.rule,
            variation: input.variation,
            stages,
            audience: input.audience,
            guardrails: input.guardrails,
            on_breach: input.on_breach,
            alpha: input.alpha,
            hold_timeout_s: input.hold_timeout_s,
            stale_after_s: input.stale_after_s,
            start_at_ms: input.start_at_ms,
            windows: input.windows,
            state: if scheduled {
                State::Scheduled
            } else {
                State::Running
            },
            stage: 0,
            stage_started_ms: now_ms,
            hold: None,
            carried_ln_e: BTreeMap::new(),
            created_ms: now_ms,
            ended_ms: None,
            history: Vec::new(),
        };
        // The first stage is a new stage too: outside the windows, it waits for one.
        if !release.in_window(now_ms) {
            release.state = State::Scheduled;
        }
        Ok(release)
    }

    /// Writes the current stage into `targeting`: wraps the rule's serving in this release's
    /// layer, or updates the layer this release already owns.
    pub fn apply_stage(&self, targeting: &mut Targeting, variation: usize) -> ApiResult<()> {
        let stage = self.current_stage();
        let audience = self.audience.as_ref().map(|segment| {
            Condition::Clause(Clause {
                kind: "user".into(),
                attribute: String::new(),
                op: Operator::SegmentMatch,
                values: vec![serde_json::Value::String(segment.clone())],
                negate: false,
                case_insensitive: false,
            })
        });
        let stage_key = self.stage_key();
        let serve = self.serve_mut(targeting)?;
        if let Some(experiment) = crate::records::experiments::running_experiment(serve) {
            return Err(ApiError::new(
                crate::error::Code::Conflict,
                format!("experiment {experiment} is running on this rule: stop or ship it first"),
            )
            .field("rule"));
        }
        let previous = match std::mem::replace(serve, Serve::Variation(0)) {
            Serve::Release(layer) if self.owns(&layer) => layer.previous,
            Serve::Release(layer) => {
                let taken = layer.stage.clone();
                *serve = Serve::Release(layer);
                return Err(ApiError::new(
                    crate::error::Code::Conflict,
                    format!("another release ({taken}) is running on this rule"),
                ));
            }
            other => other,
        };
        *serve = Serve::Release(Box::new(ReleaseLayer {
            stage: stage_key,
            variation,
            weight: stage.weight,
            seed: self.seed.clone(),
            context_kind: "user".into(),
            bucket_by: None,
            audience,
            previous,
        }));
        Ok(())
    }

    /// Replaces this release's layer with `finish(previous serving)`: the previous serving
    /// itself for a roll back or abort, the target for completion. `Ok(false)`: the layer was
    /// no longer there (someone edited the rule), nothing changed.
    pub fn remove_layer(
        &self,
        targeting: &mut Targeting,
        finish: impl FnOnce(Serve) -> Serve,
    ) -> Result<bool, Invalid> {
        let Ok(serve) = self.serve_mut(targeting) else {
            return Ok(false);
        };
        match std::mem::replace(serve, Serve::Variation(0)) {
            Serve::Release(layer) if self.owns(&layer) => {
                *serve = finish(layer.previous);
                Ok(true)
            }
            other => {
                *serve = other;
                Ok(false)
            }
        }
    }

    /// Whether `targeting` still carries this release's layer.
    pub fn layer_present(&self, targeting: &mut Targeting) -> bool {
        matches!(self.serve_mut(targeting), Ok(Serve::Release(layer)) if self.owns(layer))
    }

    fn owns(&self, layer: &ReleaseLayer) -> bool {
        layer
            .stage
            .strip_prefix(self.id.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }

    fn serve_mut<'t>(&self, targeting: &'t mut Targeting) -> Result<&'t mut Serve, Invalid> {
        match &self.rule {
            None => Ok(&mut targeting.fallthrough),
            Some(rule) => targeting
                .rules
                .iter_mut()
                .find(|r| &r.id == rule)
                .map(|r| &mut r.serve)
                .ok_or_else(|| Invalid::new("rule", format!("no rule {rule:?}"))),
        }
    }
}

fn stage(i: usize, input: &StageInput) -> Result<Stage, Invalid> {
    if !(0.0..=100.0).contains(&input.percent) {
        return Err(Invalid::new(
            format!("stages[{i}].percent"),
            "must be 0 to 100",
        ));
    }
    Ok(Stage {
        name: input
            .name
            .clone()
            .unwrap_or_else(|| format!("{} %", input.percent)),
        weight: (input.percent * 1000.0).round() as u32,
        min_bake_s: input.min_bake_s,
        min_treated: input.min_treated,
    })
}

fn final_stage(final_bake_s: u64, min_treated: u64) -> StageInput {
    StageInput {
        name: Some(format!("100 % ({FINAL_HOLDBACK_PERCENT} % holdback)")),
        percent: 100.0 - FINAL_HOLDBACK_PERCENT,
        min_bake_s: final_bake_s,
        min_treated,
    }
}

/// The stages of a template (`guardrail-statistics.md`, "Default ramp").
pub fn template_stages(template: &Template, has_audience: bool) -> Result<Vec<Stage>, Invalid> {
    let step = |name: &str, percent: f64, min_bake_s: u64, min_treated: u64| StageInput {
        name: Some(name.to_owned()),
        percent,
        min_bake_s,
        min_treated,
    };
    let mut inputs = Vec::new();
    match *template {
        Template::Default { min_treated } => {
            if has_audience {
                inputs.push(step("internal users", 0.0, 30 * 60, 0));
            }
            for (percent, minutes) in [(1.0, 10), (5.0, 15), (25.0, 30), (50.0, 30)] {
                inputs.push(step(
                    &format!("{percent} %"),
                    percent,
                    minutes * 60,
                    min_treated,
                ));
            }
            inputs.push(final_stage(60 * 60, min_treated));
        }
        Template::Linear {
            step_percent,
            every_s,
            final_bake_s,
            min_treated,
        } => ramp(
            &mut inputs,
            ("template.step_percent", step_percent),
            |percent| percent + step_percent,
            (every_s, final_bake_s, min_treated),
        )?,
        Template::Exponential {
            start_percent,
            every_s,
            final_bake_s,
            min_treated,
        } => ramp(
            &mut inputs,
            ("template.start_percent", start_percent),
            |percent| percent * 2.0,
            (every_s, final_bake_s, min_treated),
        )?,
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, s)| stage(i, s))
        .collect()
}

/// Stages from `first` % stepping by `next` up to the final bake's holdback.
fn ramp(
    inputs: &mut Vec<StageInput>,
    (field, first): (&str, f64),
    next: impl Fn(f64) -> f64,
    (every_s, final_bake_s, min_treated): (u64, u64, u64),
) -> Result<(), Invalid> {
    if !(first > 0.0 && first < 100.0) {
        return Err(Invalid::new(field, "must be in (0, 100)"));
    }
    let mut percent = first;
    while percent < 100.0 - FINAL_HOLDBACK_PERCENT {
        inputs.push(StageInput {
            name: Some(format!("{percent} %")),
            percent,
            min_bake_s: every_s,
            min_treated,
        });
        percent = next(percent);
    }
    inputs.push(final_stage(final_bake_s, min_treated));
    Ok(())
}

/// A parsed window: weekdays (bit 0 = Monday) and minutes of the UTC day.
pub(super) struct ParsedWindow {
    days: u8,
    start: u32,
    end: u32,
}

impl ParsedWindow {
    pub(super) fn contains(&self, now_ms: i64) -> bool {
        let minutes = now_ms.div_euclid(60_000);
        let minute_of_day = minutes.rem_euclid(24 * 60) as u32;
        // 1970-01-01 was a Thursday (Monday = 0 → Thursday = 3).
        let weekday = (minutes.div_euclid(24 * 60) + 3).rem_euclid(7) as u8;
        let day_ok = self.days & (1 << weekday) != 0;
        if self.start <= self.end {
            day_ok && (self.start..self.end).contains(&minute_of_day)
        } else {
            // Over midnight: the day is the one the window started on (kept simple: either).
            day_ok && (minute_of_day >= self.start || minute_of_day < self.end)
        }
    }
}

pub(super) fn parse_window(window: &Window) -> Result<ParsedWindow, String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut days = 0u8;
    for day in &window.days {
        let index = DAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(day))
            .ok_or_else(|| format!("unknown day {day:?} (mon … sun)"))?;
        days |= 1 << index;
    }
    if days == 0 {
        days = 0x7f;
    }
    let minute = |text: &str| -> Result<u32, String> {
        let (h, m) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not HH:MM"))?;
        match (h.parse::<u32>(), m.parse::<u32>()) {
            (Ok(h), Ok(m)) if h <= 24 && m < 60 && h * 60 + m <= 24 * 60 => Ok(h * 60 + m),
            _ => Err(format!("{text:?} is not HH:MM")),
        }
    };
    Ok(ParsedWindow {
        days,
        start: minute(&window.start)?,
        end: minute(&window.end)?,
    })
}
