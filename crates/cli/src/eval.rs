//! `switchyard eval` and `switchyard validate`: load a data file in native, LaunchDarkly or
//! Unleash form, and evaluate or check it.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use switchyard_engine::{Context, Dataset, Env, ErrorKind, Evaluation, Snapshot, ValueType};
use switchyard_import::{launchdarkly, native, unleash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Switchyard's own flags and segments (JSON or YAML).
    Native,
    /// LaunchDarkly server-SDK data: `{"flags":{…},"segments":{…}}`; LaunchDarkly contexts.
    Launchdarkly,
    /// Unleash client features (`{"version","features","segments"}`) or delta events; Unleash contexts.
    Unleash,
}

#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// Flags and segments to evaluate against.
    #[arg(long, env = "SWITCHYARD_DATA")]
    data: PathBuf,
    /// What the data file (and the contexts) are.
    #[arg(long, value_enum, default_value = "native", env = "SWITCHYARD_FORMAT")]
    format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The flag to evaluate.
    #[arg(long, required_unless_present = "batch")]
    flag: Option<String>,
    /// The context, as JSON in the data's own format.
    #[arg(long, required_unless_present = "batch")]
    context: Option<String>,
    /// JSON value served when the flag cannot be evaluated (default: null).
    #[arg(long)]
    default: Option<String>,
    /// The type the caller asks for; a value of another type answers ERROR/WRONG_TYPE.
    #[arg(long = "type", value_enum, default_value = "any")]
    value_type: TypeArg,
    /// Read JSON lines `{"flag","context","default","type"}` from stdin, write one result per line.
    #[arg(long, conflicts_with_all = ["flag", "context"])]
    batch: bool,
    /// Evaluation time (RFC 3339 or Unix ms) for time-dependent rules; default: now.
    #[arg(long)]
    now: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Bool,
    Int,
    Double,
    String,
    Json,
    Any,
}

impl From<TypeArg> for ValueType {
    fn from(t: TypeArg) -> ValueType {
        match t {
            TypeArg::Bool => ValueType::Bool,
            TypeArg::Int => ValueType::Int,
            TypeArg::Double => ValueType::Double,
            TypeArg::String => ValueType::String,
            TypeArg::Json => ValueType::Json,
            TypeArg::Any => ValueType::Any,
        }
    }
}

/// The data file as flags and segments, converted from its format.
pub(crate) fn load(args: &DataArgs) -> anyhow::Result<Dataset> {
    let text = std::fs::read_to_string(&args.data)
        .with_context(|| format!("cannot read {}", args.data.display()))?;
    let parse_json = || -> anyhow::Result<Value> {
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.data.display()))
    };
    Ok(match args.format {
        Format::Native => {
            native::from_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.data.display()))?
        }
        Format::Launchdarkly => launchdarkly::import(&parse_json()?)?,
        Format::Unleash => unleash::import(&parse_json()?)?,
    })
}

pub(crate) fn run_validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let snapshot = Snapshot::compile(&load(&args.data)?);
    let mut out = std::io::stdout().lock();
    for problem in snapshot.problems() {
        writeln!(out, "{}: {}", problem.field, problem.message)?;
    }
    if snapshot.problems().is_empty() {
        writeln!(out, "ok: {} flags", snapshot.flags().count())?;
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

pub(crate) fn run_eval(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let snapshot = Snapshot::compile(&load(&args.data)?);
    for problem in snapshot.problems() {
        eprintln!("warning: {}: {}", problem.field, problem.message);
    }
    let now_ms = match &args.now {
        Some(text) => parse_time(text)?,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    };
    let evaluator = Evaluator {
        snapshot: &snapshot,
        format: args.data.format,
        now_ms,
    };
    let mut out = std::io::stdout().lock();
    if !args.batch {
        let default = match &args.default {
            Some(text) => serde_json::from_str(text).context("--default is not JSON")?,
            None => Value::Null,
        };
        let flag = args.flag.as_deref().unwrap_or_default();
        let context = args.context.as_deref().unwrap_or_default();
        let context: Value = serde_json::from_str(context).context("--context is not JSON")?;
        let result = evaluator.evaluate(flag, &context, &default, args.value_type.into());
        writeln!(out, "{result}")?;
        return Ok(ExitCode::SUCCESS);
    }
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<BatchLine>(&line) {
            Ok(input) => evaluator.evaluate(
                &input.flag,
                &input.context,
                &input.default,
                input.r#type.unwrap_or(ValueType::Any),
            ),
            Err(e) => json!({"error": {"code": "bad_request", "message": e.to_string()}}),
        };
        writeln!(out, "{result}")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    flag: String,
    #[serde(default)]
    context: Value,
    #[serde(default)]
    default: Value,
    r#type: Option<ValueType>,
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    match switchyard_engine::time::parse_rfc3339_ms(text) {
        Some(ms) => Ok(ms),
        None => bail!("--now: expected RFC 3339 or Unix milliseconds, got {text:?}"),
    }
}

struct Evaluator<'a> {
    snapshot: &'a Snapshot,
    format: Format,
    now_ms: i64,
}

impl Evaluator<'_> {
    fn context(&self, context: &Value) -> Result<Context, switchyard_engine::ContextError> {
        match self.format {
            Format::Native => Context::from_json(context),
            Format::Launchdarkly => launchdarkly::context(context),
            Format::Unleash => unleash::context(context),
        }
    }

    /// One result object: `{"flag","value","variation_index","variation","reason"}`, plus
    /// Unleash's `enabled` and `variant` for Unleash data.
    fn evaluate(&self, flag: &str, context: &Value, default: &Value, want: ValueType) -> Value {
        let env = Env {
            now_ms: self.now_ms,
            random: random_u32(),
        };
        let evaluation = match self.context(context) {
            Ok(context) => self.snapshot.evaluate_typed(flag, &context, &env, want),
            Err(_) => Evaluation::error(ErrorKind::ContextInvalid),
        };
        let mut result = json!({
            "flag": flag,
            "value": evaluation.value_or(default),
            "variation_index": evaluation.variation_index,
            "variation": evaluation.variation.map(|v| &v.key),
            "reason": evaluation.reason,
        });
        if self.format == Format::Unleash {
            let compiled = self.snapshot.flag(flag);
            result["enabled"] = json!(evaluation.variation.is_some_and(|v| v.value == true));
            result["variant"] = unleash::variant(compiled, &evaluation);
        }
        result
    }
}

/// Randomness for Unleash's `random` stickiness; the engine itself never reads any.
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now()) as u32
}
