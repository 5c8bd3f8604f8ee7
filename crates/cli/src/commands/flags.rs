//! `flags`, `segments`, and what the events say about a flag (`exposures`, `metrics`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_client::types::{
    ArchiveInput, CohortStatistics, ExposedContextView, FlagView, OffServing, RestoreInput,
    SegmentView, StaleReason, StaleReport, TargetingInput, ToggleInput,
};
use switchyard_client::{ExposureQuery, FlagFilter, StaleQuery, TimeRange};
use switchyard_engine::Segment;
use switchyard_engine::time::format_rfc3339_ms;

use super::{ClientArgs, Column, Output, Row, cell, print_json, print_table, read_json, request};

#[derive(Debug, Subcommand)]
pub(crate) enum FlagsCommand {
    /// List flags with their state in every environment.
    List {
        /// Search key, name and description.
        #[arg(long)]
        q: Option<String>,
        /// List archived flags instead of live ones.
        #[arg(long)]
        archived: bool,
    },
    /// Show one flag.
    Get { key: String },
    /// Create a flag (boolean unless --kind/--file say otherwise).
    Create {
        key: String,
        #[arg(long, default_value = "boolean")]
        kind: String,
        /// A JSON file with the whole flag (variations, tags, …) instead of --kind.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The key of the variation served when the flag is off, in every environment that
        /// does not choose its own. Required for non-boolean flags (unless the file has
        /// `off_variation`); booleans default to their `false` variation.
        #[arg(long, value_name = "KEY")]
        off_variation: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Turn a flag on or off in one environment (--on or --off: a toggle never flips).
    Toggle {
        key: String,
        #[arg(long)]
        env: String,
        /// One of --on or --off is required: a toggle sets a state, it never flips (a retried
        /// flip would undo itself).
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Take context keys out of a flag's individual targets in one environment (the rest of
    /// its targeting is kept).
    RemoveTargets {
        #[command(flatten)]
        targets: super::change_requests::RemoveTargetsArgs,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Replace a flag's targeting in one environment from a JSON file.
    Target {
        key: String,
        #[command(flatten)]
        input: EnvFile,
    },
    Delete {
        key: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Archive a flag: SDKs, relays and OFREP stop seeing it (refused while other flags
    /// require it, unless --force; they then serve their off variation).
    Archive {
        key: String,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Restore an archived flag unchanged.
    Restore {
        key: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Flags of one environment not evaluated, or serving one variation to everyone, for
    /// --days, and temporary flags past their planned removal (`remove_by`).
    Stale {
        #[arg(long)]
        env: String,
        /// The window in days (the server's default: 30).
        #[arg(long)]
        days: Option<i64>,
    },
    /// Copy a flag's targeting, or --parts of it, from one environment to another.
    Promote(super::promote::PromoteArgs),
}

// A JSON file of what to write in one environment, and the audit comment. (No doc comment:
// clap would show it as the help of the commands that take these arguments.)
#[derive(Debug, Args)]
pub(crate) struct EnvFile {
    #[arg(long)]
    env: String,
    #[arg(long)]
    file: PathBuf,
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SegmentsCommand {
    List {
        #[arg(long)]
        env: String,
    },
    Get {
        key: String,
        #[arg(long)]
        env: String,
    },
    /// Create the segment in a JSON file, or replace it if it exists.
    Apply(EnvFile),
    Delete {
        key: String,
        #[arg(long)]
        env: String,
    },
}

impl Row for FlagView {
    const COLUMNS: &[Column<Self>] = &[
        ("key", |flag| flag.spec.key.clone()),
        ("kind", |flag| cell(flag.spec.kind)),
        ("environments", |flag| {
            let states = flag
                .environments
                .iter()
                .map(|(env, t)| format!("{env}:{}", if t.targeting.on { "on" } else { "off" }));
            states.collect::<Vec<_>>().join(" ")
        }),
        ("version", |flag| flag.version.to_string()),
    ];
}

pub(crate) async fn run_flags(args: &ClientArgs, command: &FlagsCommand) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    match command {
        FlagsCommand::List { q, archived } => {
            let filter = FlagFilter {
                q: q.as_deref(),
                archived: archived.then_some(true),
                ..FlagFilter::default()
            };
            print_table(args, &api.flags(project, &filter).await?)
        }
        FlagsCommand::Get { key } => print_json(&api.flag(project, key).await?),
        FlagsCommand::Create {
            key,
            kind,
            file,
            off_variation,
            comment,
        } => {
            let mut body = match file {
                Some(path) => read_json(path)?,
                None => json!({"kind": kind}),
            };
            body["key"] = json!(key);
            if let Some(off) = off_variation {
                body["off_variation"] = json!(off);
            }
            body["comment"] = json!(comment);
            print_json(&api.create_flag(project, &request(body, "flag")?).await?)
        }
        FlagsCommand::Toggle {
            key,
            env,
            on,
            off,
            comment,
        } => {
            let input = ToggleInput {
                on: *on && !*off,
                comment: comment.clone(),
            };
            let answer = api.toggle(project, env, key, &input).await?;
            if args.output == Output::Table {
                let state = if answer.targeting.targeting.on {
                    "ON"
                } else {
                    "OFF"
                };
                let version = answer.targeting.version;
                println!("{key} is {state} in {env} (version {version})");
                if !answer.targeting.targeting.on {
                    println!("  {}", describe_off(answer.serves_when_off.as_ref()));
                }
                return Ok(());
            }
            print_json(&answer)
        }
        FlagsCommand::RemoveTargets { targets, comment } => {
            super::change_requests::remove_targets(args, targets, comment.as_deref()).await
        }
        FlagsCommand::Target { key, input } => {
            let EnvFile { env, file, comment } = input;
            let current = api.targeting(project, env, key).await?;
            let mut body = read_json(file)?;
            body["version"] = json!(current.targeting.version);
            body["comment"] = json!(comment);
            let input: TargetingInput = request(body, "targeting")?;
            print_json(&api.update_targeting(project, env, key, &input).await?)
        }
        FlagsCommand::Delete { key, comment } => {
            print_json(&api.delete_flag(project, key, comment.as_deref()).await?)
        }
        FlagsCommand::Archive {
            key,
            force,
            comment,
        } => {
            let input = ArchiveInput {
                force: *force,
                comment: comment.clone(),
            };
            print_json(&api.archive_flag(project, key, &input).await?)
        }
        FlagsCommand::Restore { key, comment } => {
            let input = RestoreInput {
                comment: comment.clone(),
            };
            print_json(&api.restore_flag(project, key, &input).await?)
        }
        FlagsCommand::Stale { env, days } => {
            let query = StaleQuery { days: *days };
            let report = api.stale_flags(project, env, &query).await?;
            if args.output == Output::Json {
                return print_json(&report);
            }
            print_table(args, &stale_rows(&report))
        }
        FlagsCommand::Promote(promote) => super::promote::run_promote(args, promote).await,
    }
}

/// One reason a flag is stale, as the table shows it.
#[derive(Debug, serde::Serialize)]
struct StaleRow {
    flag: String,
    reason: &'static str,
    evidence: String,
}

impl Row for StaleRow {
    const COLUMNS: &[Column<Self>] = &[
        ("flag", |row| row.flag.clone()),
        ("reason", |row| row.reason.to_owned()),
        ("evidence", |row| row.evidence.clone()),
    ];
}

fn stale_rows(report: &StaleReport) -> Vec<StaleRow> {
    let time = |ms: Option<i64>| ms.map_or_else(|| "never".to_owned(), format_rfc3339_ms);
    let mut rows = Vec::new();
    for flag in &report.flags {
        for reason in &flag.reasons {
            let (reason, evidence) = match reason {
                StaleReason::NotEvaluated {
                    last_evaluated_ms,
                    last_changed_ms,
                } => (
                    "not_evaluated",
                    format!(
                        "last evaluated {}, last changed {}",
                        time(*last_evaluated_ms),
                        time(Some(*last_changed_ms))
                    ),
                ),
                StaleReason::OneVariation {
                    variation,
                    evaluations,
                    ..
                } => (
                    "one_variation",
                    format!(
                        "all {evaluations} evaluations in {} days served {variation}",
                        report.days
                    ),
                ),
                StaleReason::PastRemoval {
                    remove_by,
                    days_overdue,
                } => (
                    "past_removal",
                    format!("remove by {remove_by}: {days_overdue} day(s) overdue"),
                ),
            };
            rows.push(StaleRow {
                flag: flag.flag.clone(),
                reason,
                evidence,
            });
        }
    }
    rows
}

/// What a flag that is off serves, for people: every surface that turns a flag off says it.
pub(super) fn describe_off(serves: Option<&OffServing>) -> String {
    match serves {
        Some(off) => format!("everyone gets {} ({})", off.variation, off.value),
        None => "applications get their own default value".to_owned(),
    }
}

impl Row for SegmentView {
    const COLUMNS: &[Column<Self>] = &[
        ("key", |s| s.segment.key.clone()),
        ("included", |s| s.segment.included.len().to_string()),
        ("rules", |s| s.segment.rules.len().to_string()),
        ("version", |s| s.segment.version.to_string()),
    ];
}

pub(crate) async fn run_segments(
    args: &ClientArgs,
    command: &SegmentsCommand,
) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    match command {
        SegmentsCommand::List { env } => print_table(args, &api.segments(project, env).await?),
        SegmentsCommand::Get { key, env } => print_json(&api.segment(project, env, key).await?),
        SegmentsCommand::Apply(EnvFile { env, file, comment }) => {
            let body = read_json(file)?;
            body["key"]
                .as_str()
                .context("the document needs a \"key\"")?;
            let segment: Segment = request(body, "segment")?;
            let applied = super::import::put_segment(args, env, &segment, comment.as_deref());
            print_json(&applied.await?)
        }
        SegmentsCommand::Delete { key, env } => {
            print_json(&api.delete_segment(project, env, key, None).await?)
        }
    }
}

/// Which flag's events to show, and over what time.
#[derive(Debug, Args)]
pub(crate) struct InsightArgs {
    flag: String,
    #[arg(long)]
    env: String,
    /// How far back, in hours.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Exposures only: one variation's contexts.
    #[arg(long)]
    variation: Option<String>,
    /// Exposures only: at most this many.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

impl InsightArgs {
    /// From `hours` ago to a minute from now.
    fn range(&self) -> TimeRange {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        TimeRange {
            from: Some(now - self.hours * 3_600_000),
            to: Some(now + 60_000),
        }
    }
}

/// `switchyard exposures FLAG`: who has been exposed to the flag, and to which variation.
pub(crate) async fn run_exposures(args: &ClientArgs, insight: &InsightArgs) -> anyhow::Result<()> {
    let query = ExposureQuery {
        range: insight.range(),
        variation: insight.variation.as_deref(),
        limit: Some(insight.limit),
    };
    let (api, env, flag) = (args.client(), &insight.env, &insight.flag);
    print_table(
        args,
        &api.exposures(&args.project, env, flag, &query).await?,
    )
}

impl Row for ExposedContextView {
    const COLUMNS: &[Column<Self>] = &[
        ("kind", |row| row.kind.clone()),
        ("key", |row| row.key.clone()),
        ("variation", |row| row.variation.clone()),
        ("version", |row| row.version.to_string()),
        ("reason", |row| row.reason.clone()),
        ("first_seen", |row| format_rfc3339_ms(row.first_seen_ms)),
        ("last_seen", |row| format_rfc3339_ms(row.last_seen_ms)),
    ];
}

/// `switchyard metrics FLAG`: each metric per variation cohort.
pub(crate) async fn run_metrics(args: &ClientArgs, insight: &InsightArgs) -> anyhow::Result<()> {
    let (api, env, flag) = (args.client(), &insight.env, &insight.flag);
    let range = insight.range();
    print_table(args, &api.metrics(&args.project, env, flag, &range).await?)
}

impl Row for CohortStatistics {
    const COLUMNS: &[Column<Self>] = &[
        ("metric", |row| row.metric.clone()),
        ("variation", |row| row.variation.clone()),
        ("count", |row| row.count.to_string()),
        ("mean", |row| fixed3(row.mean)),
        ("std_dev", |row| fixed3(row.std_dev)),
        ("sum", |row| fixed3(Some(row.sum))),
    ];
}

/// A statistic with three decimals; empty when there is none.
fn fixed3(value: Option<f64>) -> String {
    value.map(|n| format!("{n:.3}")).unwrap_or_default()
}
