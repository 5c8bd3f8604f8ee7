//! `experiments …` (`docs/experiments.md`, "Running an experiment"): an environment's
//! experiments (list, create from a file, show, start, stop, ship a winner) and the project's
//! metric definitions (`experiments metrics list|create|show|delete`; plain `metrics FLAG`
//! already prints a flag's cohort statistics). Start and ship print the change request they
//! became where the environment requires approvals.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_client::ExperimentChanged;
use switchyard_client::types::{
    ActionInput, ExperimentInput, ExperimentView, MetricInput, MetricView, ShipInput,
};

use super::{ClientArgs, Column, Output, Row, cell, print_json, print_table, read_json, request};

#[derive(Debug, Subcommand)]
pub(crate) enum ManageCommand {
    /// An environment's experiments, newest first.
    List {
        #[arg(long)]
        env: String,
    },
    /// Create a draft experiment from a JSON file: `flag`, optional `rule`, `name`,
    /// `variations`, `control`, `weights`, `traffic_percent`, `primary_metric`,
    /// `secondary_metrics`, `guardrail_metrics`, `method`, `alpha`, `prior`, `cuped`,
    /// `pre_period_hours`, `correction`. Unknown fields are refused.
    Create {
        #[arg(long)]
        env: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// One experiment: its plan, state, phase and history.
    Show(ExperimentArgs),
    /// Start: the rule serves the experiment's rollout (a change request where approvals are
    /// required).
    Start(ExperimentArgs),
    /// Stop: the rule serves what it served before.
    Stop(ExperimentArgs),
    /// Ship a winner: the rule serves `--variation` to everyone (a change request where
    /// approvals are required).
    Ship {
        #[command(flatten)]
        target: ExperimentArgs,
        #[arg(long)]
        variation: String,
    },
    /// The project's metric definitions.
    #[command(subcommand)]
    Metrics(MetricsCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ExperimentArgs {
    id: String,
    #[arg(long)]
    env: String,
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MetricsCommand {
    List,
    /// Define a metric from a JSON file: `key`, `event`, `kind` (proportion, count, mean,
    /// ratio with `denominator_event`), `direction`, `mde`, optional `window_hours`, `name`,
    /// `description`.
    Create {
        #[arg(long)]
        file: PathBuf,
    },
    Show {
        key: String,
    },
    /// Delete a metric (refused while a running experiment uses it).
    Delete {
        key: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

/// Runs every `experiments` subcommand but `results` (`experiment_results.rs`).
pub(crate) async fn run_manage(args: &ClientArgs, command: &ManageCommand) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    match command {
        ManageCommand::List { env } => print_table(args, &api.experiments(project, env).await?),
        ManageCommand::Create { env, file } => {
            let what = format!("experiment ({})", file.display());
            let input: ExperimentInput = request(read_json(file)?, &what)?;
            print_experiment(args, &api.create_experiment(project, env, &input).await?)
        }
        ManageCommand::Show(target) => {
            let experiment = api.experiment(project, &target.env, &target.id).await?;
            print_experiment(args, &experiment)
        }
        ManageCommand::Start(target) => {
            let input = ActionInput {
                comment: target.comment.clone(),
            };
            let changed = api
                .start_experiment(project, &target.env, &target.id, &input)
                .await?;
            print_changed(args, changed, "start")
        }
        ManageCommand::Stop(target) => {
            let input = ActionInput {
                comment: target.comment.clone(),
            };
            let stopped = api
                .stop_experiment(project, &target.env, &target.id, &input)
                .await?;
            print_experiment(args, &stopped)
        }
        ManageCommand::Ship { target, variation } => {
            let input = ShipInput {
                variation: variation.clone(),
                comment: target.comment.clone(),
            };
            let changed = api
                .ship_experiment(project, &target.env, &target.id, &input)
                .await?;
            print_changed(args, changed, "ship")
        }
        ManageCommand::Metrics(command) => run_metric_definitions(args, command).await,
    }
}

async fn run_metric_definitions(args: &ClientArgs, command: &MetricsCommand) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    match command {
        MetricsCommand::List => print_table(args, &api.metric_definitions(project).await?),
        MetricsCommand::Create { file } => {
            let what = format!("metric ({})", file.display());
            let input: MetricInput = request(read_json(file)?, &what)?;
            print_table(args, &[api.create_metric(project, &input).await?])
        }
        MetricsCommand::Show { key } => {
            print_table(args, &[api.metric_definition(project, key).await?])
        }
        MetricsCommand::Delete { key, comment } => {
            let deleted = api.delete_metric(project, key, comment.as_deref()).await?;
            match args.output {
                Output::Json => print_json(&deleted),
                Output::Table => {
                    println!("deleted {}", deleted.deleted);
                    Ok(())
                }
            }
        }
    }
}

fn print_changed(args: &ClientArgs, changed: ExperimentChanged, verb: &str) -> anyhow::Result<()> {
    match changed {
        ExperimentChanged::Done(experiment) => print_experiment(args, &experiment),
        ExperimentChanged::Held(held) => {
            if args.output == Output::Table {
                let id = &held.body.id;
                eprintln!(
                    "the {verb} waits for approval as change request {id} \
                     (switchyard change-requests show {id})"
                );
            }
            print_json(&json!({ "change_request": held }))
        }
    }
}

/// One experiment: a summary a person reads, or the API's answer with `--output json`.
fn print_experiment(args: &ClientArgs, view: &ExperimentView) -> anyhow::Result<()> {
    if args.output == Output::Json {
        return print_json(view);
    }
    let e = &view.experiment;
    let plan = &e.plan;
    let on = plan
        .rule
        .as_ref()
        .map_or_else(|| "the fallthrough".to_owned(), |r| format!("rule {r}"));
    println!(
        "experiment {} ({}), version {}",
        e.id, plan.name, view.version
    );
    println!("state:      {} (phase {})", cell(e.state), e.phase);
    println!("flag:       {} in {}, on {on}", plan.flag, e.environment);
    let weights = match &plan.weights {
        Some(weights) => weights.iter().map(|w| format!("{w} %")).collect::<Vec<_>>(),
        None => vec!["equal".to_owned()],
    };
    println!(
        "variations: {} (control {}), weights {}, {} % of traffic",
        plan.variations.join(", "),
        plan.control,
        weights.join(" / "),
        plan.traffic_percent
    );
    println!(
        "metrics:    primary {}; secondary [{}]; guardrails [{}]",
        plan.primary_metric,
        plan.secondary_metrics.join(", "),
        plan.guardrail_metrics.join(", ")
    );
    println!(
        "analysis:   {} at alpha {}, CUPED {}, correction {}",
        cell(plan.method),
        plan.alpha,
        if plan.cuped { "on" } else { "off" },
        cell(plan.correction)
    );
    if let Some(winner) = &e.shipped_variation {
        println!("shipped:    {winner}");
    }
    for line in &e.history {
        let detail = line.detail.as_deref().unwrap_or_default();
        println!("  {} {} {detail}", line.event, line.actor);
    }
    Ok(())
}

impl Row for ExperimentView {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |v| v.experiment.id.clone()),
        ("name", |v| v.experiment.plan.name.clone()),
        ("flag", |v| v.experiment.plan.flag.clone()),
        ("rule", |v| {
            v.experiment.plan.rule.clone().unwrap_or_default()
        }),
        ("state", |v| cell(v.experiment.state)),
        ("phase", |v| v.experiment.phase.to_string()),
        ("variations", |v| v.experiment.plan.variations.join(",")),
        ("traffic", |v| {
            format!("{} %", v.experiment.plan.traffic_percent)
        }),
        ("primary", |v| v.experiment.plan.primary_metric.clone()),
    ];
}

impl Row for MetricView {
    const COLUMNS: &[Column<Self>] = &[
        ("key", |m| m.metric.key.clone()),
        ("event", |m| m.metric.event.clone()),
        ("kind", |m| cell(m.metric.kind)),
        ("denominator", |m| {
            m.metric.denominator_event.clone().unwrap_or_default()
        }),
        ("direction", |m| cell(m.metric.direction)),
        ("mde", |m| m.metric.mde.to_string()),
        ("window_h", |m| m.metric.window_hours.to_string()),
        ("version", |m| m.version.to_string()),
    ];
}
