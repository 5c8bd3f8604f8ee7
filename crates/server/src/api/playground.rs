//! The evaluation playground and the onboarding check (`docs/evaluation.md`, "Playground and
//! activity"): evaluate a context against one environment's flags exactly as SDKs and OFREP do,
//! from the same compiled snapshot delivery serves, and say in words what decided each answer;
//! and tell whether anything has evaluated the environment lately, from the evaluation
//! aggregates.
//!
//! A playground evaluation is a question, not traffic: it records no exposure or evaluation
//! count and writes no audit record.

mod explain;

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_engine::{Context, ContextError, Env, RandomSource};

use super::ctx::{Body, Ctx};
use super::projects::load_environment;
use crate::access::Action;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};

/// A context and, optionally, the one flag to evaluate.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateInput {
    /// The evaluation context as SDKs take it: OpenFeature's `{"targetingKey": "u1", …}` (a
    /// `user`), a native `{"kind": "user", "key": "u1", …}` (an object with `key` and no
    /// `kind` is a `user`), or a multi-kind `{"kind": "multi", "user": {…}, "org": {…}}`.
    /// Attributes are free-form.
    pub context: Map<String, Value>,
    /// One flag's key; without it, every flag of the environment the caller may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

/// What each flag serves the context in the environment, and why.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct PlaygroundAnswer {
    pub environment: String,
    /// The delivered data's revision the answers come from (what SDKs hold at that revision).
    pub revision: i64,
    /// By flag key.
    pub evaluations: Vec<PlaygroundEvaluation>,
}

/// One flag's answer. Every field is always present; `null` where it does not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlaygroundEvaluation {
    pub flag: String,
    /// The served value; `null` when the SDK's default applies (an error, or off without an
    /// off variation).
    pub value: Value,
    /// The served variation's key.
    pub variation: Option<String>,
    /// The served variation's name (its key when it has none).
    pub variation_name: Option<String>,
    /// The engine's reason kind: `OFF`, `TARGET_MATCH`, `RULE_MATCH`, `FALLTHROUGH`,
    /// `PREREQUISITE_FAILED` or `ERROR`.
    pub reason: String,
    /// The deciding rule's id, position (from 0) and condition in words (rules carry no
    /// free-text description, so it is the condition: `user.country in "de"`).
    pub rule_id: Option<String>,
    pub rule_index: Option<usize>,
    pub rule_description: Option<String>,
    /// The individual target that decided.
    pub target: Option<TargetMatched>,
    /// The segments the deciding rule tests that the context is in.
    pub segments: Vec<String>,
    /// The prerequisite flag that failed.
    pub prerequisite: Option<String>,
    /// The deciding rollout counts the context in its experiment.
    pub in_experiment: bool,
    /// The guarded release stage that decided, and the context's cohort in it.
    pub release: Option<ReleaseMatched>,
    /// OpenFeature's error code when the reason is `ERROR`: `FLAG_NOT_FOUND` (also for an
    /// archived flag), `GENERAL` (a flag that cannot be evaluated).
    pub error_code: Option<String>,
    /// One sentence in words: what decided, with variation names and rollout percentages.
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TargetMatched {
    pub kind: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseMatched {
    /// `"{release}.{stage}"`.
    pub stage: String,
    /// `treated`, `control` or `audience`.
    pub cohort: String,
}

/// Whether anything evaluated the environment lately (onboarding's "waiting for the first
/// evaluation"): SDK summaries and OFREP evaluations, as the event aggregates hold them.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Activity {
    /// The start of the last minute any flag was evaluated in (Unix ms); `null`: never.
    pub last_evaluation_ms: Option<i64>,
    /// Evaluations in the last 24 hours.
    pub evaluations_24h: i64,
    /// Flags evaluated at least once in the last 24 hours.
    pub flags_evaluated_24h: i64,
}

/// Unleash-style `random` stickiness, as OFREP evaluates it.
static RANDOM: RandomSource = RandomSource::new(0x9E37_79B9_7F4A_7C15);

const DAY_MS: i64 = 86_400_000;

pub(super) async fn evaluate(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<EvaluateInput>,
) -> ApiResult<Json<PlaygroundAnswer>> {
    load_environment(&ctx, &project, &env).await?;
    if let Some(flag) = &input.flag {
        ctx.authorize(Action::FlagRead, &res::env_flag(&project, &env, flag))
            .await?;
    }
    let context = parse_context(input.context)?;
    let published = ctx.state.delivery.feed(&project, &env).await?.current();
    let keys: Vec<&str> = match &input.flag {
        Some(flag) => vec![flag.as_str()],
        None => published
            .data
            .flags
            .keys()
            .map(String::as_str)
            .filter(|key| ctx.allows(Action::FlagRead, &res::env_flag(&project, &env, key)))
            .collect(),
    };
    // The time and random number OFREP would evaluate with.
    let moment = Env {
        now_ms: now_ms(),
        random: RANDOM.next_u32(),
    };
    let may_read = |key: &str| ctx.allows(Action::FlagRead, &res::env_flag(&project, &env, key));
    let explainer = explain::Explainer {
        published: &published,
        context: &context,
        env: &moment,
        environment: &env,
        may_read: &may_read,
    };
    Ok(Json(PlaygroundAnswer {
        revision: published.revision(),
        evaluations: keys
            .into_iter()
            .map(|key| explainer.evaluate(key))
            .collect(),
        environment: env,
    }))
}

/// The context as SDKs send it: native when it names a `kind`, or a `key` without a
/// `targetingKey`; otherwise OpenFeature's. A malformed one is a 400 naming its field.
fn parse_context(object: Map<String, Value>) -> ApiResult<Context> {
    let native = object.contains_key("kind")
        || (object.contains_key("key") && !object.contains_key("targetingKey"));
    let kind = object.get("kind").and_then(Value::as_str) == Some("multi");
    let value = Value::Object(object);
    let parsed = if native {
        Context::from_json(&value)
    } else {
        Context::from_openfeature(&value)
    };
    parsed.map_err(|error| {
        let field = match &error {
            ContextError::MissingKey(part) | ContextError::EmptyKey(part) if kind => {
                format!("context.{part}.key")
            }
            ContextError::MissingKey(_) | ContextError::EmptyKey(_) if native => {
                "context.key".to_owned()
            }
            ContextError::MissingKey(_) | ContextError::EmptyKey(_) => {
                "context.targetingKey".to_owned()
            }
            ContextError::InvalidKind(_) | ContextError::DuplicateKind(_) => {
                "context.kind".to_owned()
            }
            ContextError::InvalidAttribute {
                kind: part,
                attribute,
                ..
            } if kind => format!("context.{part}.{attribute}"),
            ContextError::InvalidAttribute { attribute, .. } => format!("context.{attribute}"),
            ContextError::NotAnObject | ContextError::EmptyMulti => "context".to_owned(),
        };
        ApiError::bad_request(format!("the context is not valid: {error}")).field(field)
    })
}

pub(super) async fn activity(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Activity>> {
    load_environment(&ctx, &project, &env).await?;
    let since_ms = ctx.state.clock.now_ms() - DAY_MS;
    let usage = ctx.state.store.flag_usage(&project, &env, since_ms).await?;
    let mut activity = Activity {
        last_evaluation_ms: None,
        evaluations_24h: 0,
        flags_evaluated_24h: 0,
    };
    let readable = usage
        .iter()
        .filter(|(key, _)| ctx.allows(Action::FlagRead, &res::env_flag(&project, &env, key)));
    for (_, flag) in readable {
        activity.last_evaluation_ms = activity.last_evaluation_ms.max(Some(flag.last_minute_ms));
        let recent: i64 = flag.recent.values().sum();
        activity.evaluations_24h += recent;
        activity.flags_evaluated_24h += i64::from(recent > 0);
    }
    Ok(Json(activity))
}
