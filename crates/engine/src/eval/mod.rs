//! Evaluation of compiled flags. Never panics, never allocates, never returns `Err`: every failure
//! is an `ERROR` reason and the caller's default value.

mod bucket;
mod clause;
mod explain;
mod reads;

use serde_json::Value;

use crate::compile::{CompiledFlag, CompiledRelease, CompiledServe, Snapshot};
use crate::context::Context;
use crate::model::{Dialect, Variation};

use bucket::{Bucket, bucket_of, place};
use reads::Reads;

/// What evaluation may read besides the context: the time and a random number (Unleash's
/// `random` stickiness). Passed in so the engine stays pure and tests stay deterministic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Env {
    pub now_ms: i64,
    pub random: u32,
}

/// A lock-free source for [`Env::random`]: a counter advanced by the golden ratio and finished
/// with SplitMix64. Deterministic from its seed (the engine reads no randomness itself); callers
/// seed it as they like. Not for secrets.
#[derive(Debug)]
pub struct RandomSource(std::sync::atomic::AtomicU64);

impl RandomSource {
    const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub const fn new(seed: u64) -> RandomSource {
        RandomSource(std::sync::atomic::AtomicU64::new(seed))
    }

    pub fn next_u32(&self) -> u32 {
        let mut x = self
            .0
            .fetch_add(Self::GOLDEN_GAMMA, std::sync::atomic::Ordering::Relaxed);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)) as u32
    }
}

/// The type a caller asks for, as a typed SDK getter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Bool,
    Int,
    Double,
    String,
    Json,
    Any,
}

impl ValueType {
    pub fn admits(&self, value: &Value) -> bool {
        match self {
            ValueType::Bool => value.is_boolean(),
            ValueType::Int => value.is_i64() || value.is_u64(),
            ValueType::Double => value.is_number(),
            ValueType::String => value.is_string(),
            ValueType::Json | ValueType::Any => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    FlagNotFound,
    MalformedFlag,
    WrongType,
    ContextInvalid,
    ClientNotReady,
}

impl ErrorKind {
    /// The OpenFeature error code for this kind.
    pub fn openfeature_code(&self) -> &'static str {
        match self {
            ErrorKind::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorKind::WrongType => "TYPE_MISMATCH",
            ErrorKind::ContextInvalid => "INVALID_CONTEXT",
            ErrorKind::MalformedFlag => "GENERAL",
            ErrorKind::ClientNotReady => "PROVIDER_NOT_READY",
        }
    }
}

/// How a rollout placed the context. Serialized flat into the reason as
/// `"in_rollout": true, "bucket": …` (and `"in_experiment": true` when it is).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RolloutInfo {
    /// The bucket, in the rollout's own units (0..100000 natively and for LaunchDarkly).
    pub bucket: u32,
    /// Part of an experiment (an experiment rollout, a tracked slice, the context kind present).
    pub in_experiment: bool,
}

impl serde::Serialize for RolloutInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("in_rollout", &true)?;
        map.serialize_entry("bucket", &self.bucket)?;
        if self.in_experiment {
            map.serialize_entry("in_experiment", &true)?;
        }
        map.end()
    }
}

/// Where a release layer put the context (`guardrail-statistics.md`, "Cohorts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ReleaseCohort<'a> {
    /// The release and stage, `"{release}.{stage}"`.
    pub stage: &'a str,
    pub cohort: Cohort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    /// In the release's audience (internal users): served the target, outside the comparison.
    Audience,
    /// Bucket below the stage's weight: served the target.
    Treated,
    /// The rest of the eligible contexts: served what the rule served before the release.
    Control,
}

impl Cohort {
    pub fn name(self) -> &'static str {
        match self {
            Cohort::Audience => "audience",
            Cohort::Treated => "treated",
            Cohort::Control => "control",
        }
    }
}

/// Why a value was served.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason<'a> {
    Off,
    TargetMatch,
    RuleMatch {
        rule_index: usize,
        rule_id: &'a str,
        #[serde(flatten)]
        rollout: Option<RolloutInfo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohort<'a>>,
    },
    Fallthrough {
        #[serde(flatten)]
        rollout: Option<RolloutInfo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<ReleaseCohort<'a>>,
    },
    PrerequisiteFailed {
        prerequisite_key: &'a str,
    },
    Error {
        error_kind: ErrorKind,
    },
}

impl Reason<'_> {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reason::Off => "OFF",
            Reason::TargetMatch => "TARGET_MATCH",
            Reason::RuleMatch { .. } => "RULE_MATCH",
            Reason::Fallthrough { .. } => "FALLTHROUGH",
            Reason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            Reason::Error { .. } => "ERROR",
        }
    }

    /// The OpenFeature/OFREP reason (product.md, "Reasons and their OpenFeature names").
    /// `flag_is_static`: the flag serves one variation to everyone ([`CompiledFlag::is_static`]).
    pub fn openfeature(&self, flag_is_static: bool) -> &'static str {
        match self {
            Reason::Off => "DISABLED",
            Reason::TargetMatch | Reason::RuleMatch { rollout: None, .. } => "TARGETING_MATCH",
            Reason::RuleMatch {
                rollout: Some(_), ..
            }
            | Reason::Fallthrough {
                rollout: Some(_), ..
            } => "SPLIT",
            Reason::Fallthrough { rollout: None, .. } if flag_is_static => "STATIC",
            Reason::Fallthrough { rollout: None, .. } => "DEFAULT",
            Reason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            Reason::Error { .. } => "ERROR",
        }
    }

    pub fn rollout(&self) -> Option<RolloutInfo> {
        match self {
            Reason::RuleMatch { rollout, .. } | Reason::Fallthrough { rollout, .. } => *rollout,
            _ => None,
        }
    }
}

impl<'a> Reason<'a> {
    /// The release cohort, when a release layer decided the serving.
    pub fn release(&self) -> Option<ReleaseCohort<'a>> {
        match self {
            Reason::RuleMatch { release, .. } | Reason::Fallthrough { release, .. } => *release,
            _ => None,
        }
    }
}

/// The result of evaluating one flag for one context. `variation` is `None` when the caller's
/// default applies (errors, or off without an off-variation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation<'a> {
    pub variation_index: Option<usize>,
    pub variation: Option<&'a Variation>,
    pub reason: Reason<'a>,
}

impl<'a> Evaluation<'a> {
    pub fn error(error_kind: ErrorKind) -> Evaluation<'static> {
        Evaluation {
            variation_index: None,
            variation: None,
            reason: Reason::Error { error_kind },
        }
    }

    /// The served value, or `default` when the caller's default applies.
    pub fn value_or<'d>(&self, default: &'d Value) -> &'d Value
    where
        'a: 'd,
    {
        self.variation.map_or(default, |v| &v.value)
    }
}

/// A clause or segment referred to something unusable (a segment cycle, say): the flag is malformed.
struct Malformed;

impl Snapshot {
    /// Evaluates `flag_key` for `context`.
    pub fn evaluate(&self, flag_key: &str, context: &Context, env: &Env) -> Evaluation<'_> {
        match self
            .flag_index
            .get(flag_key)
            .and_then(|i| self.flags.get(i))
        {
            Some(flag) => self.evaluate_flag(flag, context, env),
            None => Evaluation::error(ErrorKind::FlagNotFound),
        }
    }

    /// Evaluates `flag_key` for a caller that needs a value of type `want`: a served value of
    /// another type yields `ERROR`/`WRONG_TYPE` and the caller's default.
    pub fn evaluate_typed(
        &self,
        flag_key: &str,
        context: &Context,
        env: &Env,
        want: ValueType,
    ) -> Evaluation<'_> {
        match self.flag(flag_key) {
            Some(flag) => self.evaluate_flag_typed(flag, context, env, want),
            None => Evaluation::error(ErrorKind::FlagNotFound),
        }
    }

    /// [`Snapshot::evaluate_typed`] for a flag already looked up (one hash lookup, not two, for
    /// a caller that also wants the flag's version).
    pub fn evaluate_flag_typed<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        context: &Context,
        env: &Env,
        want: ValueType,
    ) -> Evaluation<'s> {
        let evaluation = self.evaluate_flag(flag, context, env);
        match evaluation.variation {
            Some(v) if !want.admits(&v.value) => Evaluation::error(ErrorKind::WrongType),
            _ => evaluation,
        }
    }

    pub fn evaluate_flag<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        ctx: &Context,
        env: &Env,
    ) -> Evaluation<'s> {
        if flag.dialect == Dialect::LaunchDarkly {
            return self.evaluate_launchdarkly(flag, ctx, env);
        }
        self.evaluate_in(flag, ctx, env, &mut Chain::new(&mut [], &mut []))
    }

    /// A LaunchDarkly flag, with room for its evaluation chain (kept out of the other
    /// dialects' frames).
    #[inline(never)]
    fn evaluate_launchdarkly<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        ctx: &Context,
        env: &Env,
    ) -> Evaluation<'s> {
        let (mut flags, mut segments) = ([0u32; Chain::FLAGS], [0u32; Chain::SEGMENTS]);
        let mut chain = Chain::new(&mut flags, &mut segments);
        self.evaluate_in(flag, ctx, env, &mut chain)
    }

    // Inlined, with the targeting, into `evaluate_flag`: returned through memory instead, the
    // evaluation cost a store-forwarding stall that made a plain flag 60 % slower (measured).
    #[inline(always)]
    fn evaluate_in<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Evaluation<'s> {
        // LaunchDarkly answers an off flag `OFF` whatever else is wrong with it.
        if flag.malformed && (flag.on || flag.dialect != Dialect::LaunchDarkly) {
            return Evaluation::error(ErrorKind::MalformedFlag);
        }
        match self.evaluate_targeting(flag, ctx, env, chain) {
            Ok(evaluation) => evaluation,
            Err(Malformed) => Evaluation::error(ErrorKind::MalformedFlag),
        }
    }

    #[inline(always)]
    fn evaluate_targeting<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<Evaluation<'s>, Malformed> {
        if !flag.on {
            return Ok(served(flag, flag.off_variation, Reason::Off));
        }
        if !flag.prerequisites.is_empty()
            && let Some(failed) = self.failed_prerequisite(flag, ctx, env, chain)?
        {
            let reason = Reason::PrerequisiteFailed {
                prerequisite_key: failed,
            };
            return Ok(served(flag, flag.off_variation, reason));
        }
        for target in flag.targets.iter() {
            if ctx
                .part(&target.kind)
                .is_some_and(|part| target.keys.contains(part.key()))
            {
                return Ok(served(flag, Some(target.variation), Reason::TargetMatch));
            }
        }
        if !flag.rules.is_empty()
            && let Some((rule_index, rule)) = self.matching_rule(&flag.rules, ctx, env, chain)?
        {
            let (variation, rollout, release) = self.serve(&rule.serve, ctx, env, chain)?;
            let reason = Reason::RuleMatch {
                rule_index,
                rule_id: &rule.id,
                rollout,
                release,
            };
            return Ok(served(flag, Some(variation), reason));
        }
        let (variation, rollout, release) = self.serve(&flag.fallthrough, ctx, env, chain)?;
        Ok(served(
            flag,
            Some(variation),
            Reason::Fallthrough { rollout, release },
        ))
    }

    /// The key of the first prerequisite `flag` fails, if any.
    #[inline(never)]
    fn failed_prerequisite<'s>(
        &'s self,
        flag: &'s CompiledFlag,
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<Option<&'s str>, Malformed> {
        if flag.dialect != Dialect::LaunchDarkly {
            for prerequisite in flag.prerequisites.iter() {
                let met = prerequisite.flag.is_some_and(|index| {
                    let required = &self.flags[index];
                    // Unleash's dependent features may require a parent to be disabled; native
                    // prerequisites require the parent to be on.
                    let on_enough = required.on || flag.dialect == Dialect::Unleash;
                    let result = self.evaluate_flag(required, ctx, env);
                    on_enough
                        && result
                            .variation_index
                            .is_some_and(|v| prerequisite.variations.contains(&v))
                        && !matches!(result.reason, Reason::Error { .. })
                });
                if !met {
                    return Ok(Some(&prerequisite.key));
                }
            }
            return Ok(None);
        }
        // LaunchDarkly keeps the flags whose prerequisites it is checking in a chain: meeting
        // one of them again is a cycle, and any error below fails this flag too. A flag leaves
        // the chain only once its prerequisites are met (as LaunchDarkly's engine does).
        let me = flag.position;
        if chain.holds_flag(me) {
            return Err(Malformed);
        }
        chain.push_flag(me)?;
        for prerequisite in flag.prerequisites.iter() {
            let Some(index) = prerequisite.flag else {
                return Ok(Some(&prerequisite.key));
            };
            if chain.holds_flag(index as u32) {
                return Err(Malformed);
            }
            let required = &self.flags[index];
            let result = if required.dialect == Dialect::LaunchDarkly {
                self.evaluate_in(required, ctx, env, chain)
            } else {
                self.evaluate_flag(required, ctx, env)
            };
            if let Reason::Error { .. } = result.reason {
                return Err(Malformed);
            }
            let met = required.on
                && result
                    .variation_index
                    .is_some_and(|v| prerequisite.variations.contains(&v));
            if !met {
                return Ok(Some(&prerequisite.key));
            }
        }
        chain.remove_flag(me);
        Ok(None)
    }

    /// Inlined, so that a variation or a rollout is served without a call returning through
    /// memory; a release's stages out of line.
    #[inline(always)]
    fn serve<'s>(
        &'s self,
        serve: &'s CompiledServe,
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<Served<'s>, Malformed> {
        match serve {
            CompiledServe::Variation(v) => Ok((*v, None, None)),
            CompiledServe::Rollout(rollout) => {
                let (variation, info) = place(rollout, ctx, env).ok_or(Malformed)?;
                Ok((variation, Some(info), None))
            }
            CompiledServe::Release(release) => self.serve_release(release, ctx, env, chain),
        }
    }

    #[inline(never)]
    fn serve_release<'s>(
        &'s self,
        release: &'s CompiledRelease,
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<Served<'s>, Malformed> {
        let cohort = |cohort| {
            Some(ReleaseCohort {
                stage: &release.stage,
                cohort,
            })
        };
        if let Some(audience) = &release.audience
            && self.matches(audience, &mut Reads::new(ctx), env, chain)?
        {
            return Ok((release.variation, None, cohort(Cohort::Audience)));
        }
        // Natively a context without the bucketing attribute sits at 99999: control until 100 %.
        let bucket = match bucket_of(&release.bucket, ctx, env) {
            Some(Bucket::Int(b)) => b,
            _ => 99_999,
        };
        if bucket < release.weight {
            let info = RolloutInfo {
                bucket,
                in_experiment: false,
            };
            return Ok((release.variation, Some(info), cohort(Cohort::Treated)));
        }
        let (variation, rollout, _) = self.serve(&release.previous, ctx, env, chain)?;
        Ok((variation, rollout, cohort(Cohort::Control)))
    }
}

fn served<'s>(flag: &'s CompiledFlag, index: Option<usize>, reason: Reason<'s>) -> Evaluation<'s> {
    match index.map(|i| flag.variations.get(i)) {
        // Natively compilation rejects such a flag up front; LaunchDarkly data reports it here.
        Some(None) => Evaluation::error(ErrorKind::MalformedFlag),
        variation => Evaluation {
            variation_index: index,
            variation: variation.flatten(),
            reason,
        },
    }
}

/// What a rule or the fallthrough served: the variation, how a rollout placed the context, and
/// the release cohort.
type Served<'s> = (usize, Option<RolloutInfo>, Option<ReleaseCohort<'s>>);

/// LaunchDarkly's evaluation stack, kept without allocating: the flags whose prerequisites are
/// being checked and the segments being evaluated, so that evaluation going round a cycle is
/// an error (`MALFORMED_FLAG`), as LaunchDarkly reports it, only when it happens. A chain
/// deeper than its room is reported the same way. Other dialects keep an empty chain: their
/// cycles are found when compiling.
struct Chain<'c> {
    flags: &'c mut [u32],
    flag_count: usize,
    segments: &'c mut [u32],
    segment_count: usize,
}

impl<'c> Chain<'c> {
    const FLAGS: usize = 32;
    const SEGMENTS: usize = 16;

    fn new(flags: &'c mut [u32], segments: &'c mut [u32]) -> Chain<'c> {
        Chain {
            flags,
            flag_count: 0,
            segments,
            segment_count: 0,
        }
    }

    fn holds_flag(&self, index: u32) -> bool {
        self.flags[..self.flag_count].contains(&index)
    }

    fn push_flag(&mut self, index: u32) -> Result<(), Malformed> {
        let slot = self.flags.get_mut(self.flag_count).ok_or(Malformed)?;
        *slot = index;
        self.flag_count += 1;
        Ok(())
    }

    fn remove_flag(&mut self, index: u32) {
        if let Some(at) = self.flags[..self.flag_count]
            .iter()
            .position(|f| *f == index)
        {
            self.flags.copy_within(at + 1..self.flag_count, at);
            self.flag_count -= 1;
        }
    }

    /// Whether segments are tracked (a LaunchDarkly flag's evaluation).
    fn tracks_segments(&self) -> bool {
        !self.segments.is_empty()
    }

    fn holds_segment(&self, index: u32) -> bool {
        self.segments[..self.segment_count].contains(&index)
    }

    fn push_segment(&mut self, index: u32) -> Result<(), Malformed> {
        let slot = self.segments.get_mut(self.segment_count).ok_or(Malformed)?;
        *slot = index;
        self.segment_count += 1;
        Ok(())
    }

    fn pop_segment(&mut self) {
        self.segment_count = self.segment_count.saturating_sub(1);
    }
}
