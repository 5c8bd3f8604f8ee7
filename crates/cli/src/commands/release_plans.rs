//! `release-plans …`: one flag's guarded release travelling in waves over an ordered list of
//! environments (`docs/releases.md`, "Waves"): start one from a YAML or JSON file, list them,
//! show every wave's state, pause, resume and abort. The guard on the server drives the waves;
//! these commands only ask and print.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{Local, TimeZone as _};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use switchyard_client::types::{
    ActionInput, PlanState, ReleasePlan, ReleasePlanInput, ReleaseStatus, Wave, WaveState,
};
use switchyard_client::{PlanStarted, ReleasePlanAction};

use super::{ClientArgs, Column, Output, Row, cell, print_json, print_table, request};

#[derive(Debug, Subcommand)]
pub(crate) enum ReleasePlansCommand {
    /// Start a release plan from a YAML or JSON file: `flag`, `variation`, optional `rule` and
    /// `roll_back_earlier`, and `waves` (each an `environment`, the release's stages or template,
    /// guardrails, `on_breach` and `bake_s`). Where an environment requires approvals it waits
    /// as one change request, which is printed.
    Create {
        /// The plan (`.json` is read as JSON, anything else as YAML); unknown fields are refused.
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        comment: Option<String>,
    },
    /// A project's release plans, newest first.
    List {
        /// Only the plans of this flag.
        #[arg(long)]
        flag: Option<String>,
    },
    /// A plan and every wave: environment, state, its release's stage and percent, and when
    /// its bake ends (in local time).
    Show { id: String },
    /// Hold the running wave's release and start no new wave until resumed.
    Pause(PlanActionArgs),
    /// Resume a paused plan (and the wave's release it held).
    Resume(PlanActionArgs),
    /// Abort the running wave's release and start no new wave.
    Abort(PlanActionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PlanActionArgs {
    id: String,
    #[arg(long)]
    comment: Option<String>,
}

/// A plan file as a JSON value: `.json` as JSON, anything else as YAML (which JSON also is,
/// but JSON's own errors read better for a JSON file).
fn read_plan(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json = path.extension().is_some_and(|ext| ext == "json");
    if json {
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    } else {
        serde_norway::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))
    }
}

pub(crate) async fn run_release_plans(
    args: &ClientArgs,
    command: &ReleasePlansCommand,
) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let (verb, target) = match command {
        ReleasePlansCommand::Create { file, comment } => {
            let mut body = read_plan(file)?;
            if comment.is_some() {
                body["comment"] = json!(comment);
            }
            let what = format!("release plan ({})", file.display());
            let input: ReleasePlanInput = request(body, &what)?;
            return create(args, &input).await;
        }
        ReleasePlansCommand::List { flag } => {
            let plans = api.release_plans(project, flag.as_deref()).await?;
            return print_table(args, &plans);
        }
        ReleasePlansCommand::Show { id } => {
            return print_plan(args, &api.release_plan(project, id).await?).await;
        }
        ReleasePlansCommand::Pause(target) => (ReleasePlanAction::Pause, target),
        ReleasePlansCommand::Resume(target) => (ReleasePlanAction::Resume, target),
        ReleasePlansCommand::Abort(target) => (ReleasePlanAction::Abort, target),
    };
    let input = ActionInput {
        comment: target.comment.clone(),
    };
    let plan = api
        .release_plan_action(project, &target.id, verb, &input)
        .await?;
    print_plan(args, &plan).await
}

/// Starts the plan: prints it, or the change request that holds it (202).
async fn create(args: &ClientArgs, input: &ReleasePlanInput) -> anyhow::Result<()> {
    match args
        .client()
        .create_release_plan(&args.project, input)
        .await?
    {
        PlanStarted::Started(plan) => print_plan(args, &plan).await,
        PlanStarted::Held(held) => {
            if args.output == Output::Table {
                let id = &held.body.id;
                eprintln!(
                    "the plan waits for approval as change request {id} \
                     (switchyard change-requests show {id})"
                );
            }
            print_json(&json!({ "change_request": held }))
        }
    }
}

impl Row for ReleasePlan {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |plan| plan.id.clone()),
        ("flag", |plan| plan.flag.clone()),
        ("variation", |plan| plan.variation.clone()),
        ("state", |plan| cell(plan.state)),
        ("waves", |plan| {
            let environments: Vec<&str> =
                plan.waves.iter().map(|w| w.environment.as_str()).collect();
            environments.join(" → ")
        }),
        ("current", |plan| wave_at(plan).unwrap_or_default()),
    ];
}

/// Which wave a plan is at, as `2 of 3 (eu): running`.
fn wave_at(plan: &ReleasePlan) -> Option<String> {
    let last = plan.waves.len();
    let (index, wave) = plan.waves.iter().enumerate().rev().find(|(_, wave)| {
        wave.state != WaveState::Pending && wave.state != WaveState::NotStarted
    })?;
    Some(format!(
        "{} of {last} ({}): {}",
        index + 1,
        wave.environment,
        cell(wave.state)
    ))
}

/// A time in this machine's zone, with its offset: `2027-01-31 19:00:00 +01:00`.
pub(super) fn local_time(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms).single() {
        Some(at) => at.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => ms.to_string(),
    }
}

/// A wave's release as `show` describes it: its stage of all and that stage's percent.
fn stage_text(status: &ReleaseStatus) -> String {
    let release = &status.release;
    let stages = release.stages.len();
    let stage = release.stage.min(stages.saturating_sub(1));
    match release.stages.get(stage) {
        Some(current) => {
            let percent = f64::from(current.weight) / 1000.0;
            format!(
                "{} of {stages}: {percent} % ({})",
                stage + 1,
                cell(release.state)
            )
        }
        None => cell(release.state),
    }
}

/// One wave's row of `show`.
struct WaveRow {
    cells: [String; 6],
}

async fn wave_row(args: &ClientArgs, index: usize, wave: &Wave) -> WaveRow {
    let stage = match &wave.release {
        // A release the caller may not read (or gone) leaves its cell empty, not the table.
        Some(id) => match args
            .client()
            .release(&args.project, &wave.environment, id)
            .await
        {
            Ok(status) => stage_text(&status),
            Err(_) => String::new(),
        },
        None => String::new(),
    };
    let bake = match (wave.state, wave.baking_until_ms) {
        (WaveState::Baking, Some(until)) => local_time(until),
        (WaveState::Pending | WaveState::Running, _) if wave.bake_s > 0 => {
            format!("{} s after it completes", wave.bake_s)
        }
        _ => String::new(),
    };
    WaveRow {
        cells: [
            (index + 1).to_string(),
            wave.environment.clone(),
            cell(wave.state),
            wave.release.clone().unwrap_or_default(),
            stage,
            bake,
        ],
    }
}

/// A plan for people: its state, then a table of its waves (each wave's release read for its
/// stage), then what the waves said when they ended.
async fn print_plan(args: &ClientArgs, plan: &ReleasePlan) -> anyhow::Result<()> {
    if args.output == Output::Json {
        return print_json(plan);
    }
    let rule = plan
        .rule
        .as_deref()
        .map_or_else(|| "the fallthrough".to_owned(), |id| format!("rule {id}"));
    println!(
        "release plan {} of {} → {:?} on {rule}: {}",
        plan.id,
        plan.flag,
        plan.variation,
        plan_state_text(plan.state)
    );
    if plan.roll_back_earlier {
        println!("  a wave that rolls back also rolls back the waves before it");
    }
    let mut rows = Vec::new();
    for (index, wave) in plan.waves.iter().enumerate() {
        rows.push(wave_row(args, index, wave).await.cells);
    }
    let headings = ["WAVE", "ENVIRONMENT", "STATE", "RELEASE", "STAGE", "BAKE"];
    let widths: Vec<usize> = (0..headings.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([headings[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headings.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    for (index, wave) in plan.waves.iter().enumerate() {
        if let Some(detail) = &wave.detail {
            println!("  wave {} ({}): {detail}", index + 1, wave.environment);
        }
    }
    Ok(())
}

fn plan_state_text(state: PlanState) -> String {
    let text = cell(state);
    match state {
        PlanState::Running | PlanState::Paused => text,
        _ => format!("{text} (ended)"),
    }
}
