//! `release …` (guarded releases and their actions) and `kill`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use switchyard_client::ReleaseAction;
use switchyard_client::types::{ActionInput, Release, ReleaseInput, ReleaseStatus};

use super::{
    ClientArgs, Column, Output, Row, cell, json_text, print_json, print_table, read_json, request,
};

#[derive(Debug, Subcommand)]
pub(crate) enum ReleaseCommand {
    /// Start (or schedule) a guarded release of a flag in an environment.
    Start {
        #[arg(long)]
        env: String,
        #[arg(long)]
        flag: String,
        /// The target variation's key.
        #[arg(long)]
        variation: String,
        /// A JSON file with the rest of the release (stages or template, guardrails, audience,
        /// windows…); --flag and --variation override it.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// A release's stage, cohort sizes, each guardrail's evidence and the next decision.
    Status {
        id: String,
        #[arg(long)]
        env: String,
    },
    /// Releases of an environment, newest first.
    List {
        #[arg(long)]
        env: String,
    },
    /// Hold a release until resumed.
    Pause(ReleaseActionArgs),
    /// Resume a held release.
    Resume(ReleaseActionArgs),
    /// Go to the next stage now (or complete after the last).
    Advance(ReleaseActionArgs),
    /// Restore the flag's serving from before the release.
    Rollback(ReleaseActionArgs),
    /// Stop the release and restore the previous serving.
    Abort(ReleaseActionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ReleaseActionArgs {
    id: String,
    #[arg(long)]
    env: String,
    #[arg(long)]
    comment: Option<String>,
}

pub(crate) async fn run_release(args: &ClientArgs, command: &ReleaseCommand) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let (action, target) = match command {
        ReleaseCommand::Start {
            env,
            flag,
            variation,
            file,
            comment,
        } => {
            let mut body = match file {
                Some(path) => read_json(path)?,
                None => json!({}),
            };
            body["flag"] = json!(flag);
            body["variation"] = json!(variation);
            if comment.is_some() {
                body["comment"] = json!(comment);
            }
            let input: ReleaseInput = request(body, "release")?;
            let status = api.start_release(project, env, &input).await?;
            return print_release(args, &status);
        }
        ReleaseCommand::Status { id, env } => {
            return print_release(args, &api.release(project, env, id).await?);
        }
        ReleaseCommand::List { env } => {
            return print_table(args, &api.releases(project, env).await?);
        }
        ReleaseCommand::Pause(target) => (ReleaseAction::Pause, target),
        ReleaseCommand::Resume(target) => (ReleaseAction::Resume, target),
        ReleaseCommand::Advance(target) => (ReleaseAction::Advance, target),
        ReleaseCommand::Rollback(target) => (ReleaseAction::Rollback, target),
        ReleaseCommand::Abort(target) => (ReleaseAction::Abort, target),
    };
    let input = ActionInput {
        comment: target.comment.clone(),
    };
    let status = api.release_action(project, &target.env, &target.id, action, &input);
    print_release(args, &status.await?)
}

impl Row for Release {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |release| release.id.clone()),
        ("flag", |release| release.flag.clone()),
        ("variation", |release| release.variation.clone()),
        ("state", |release| cell(release.state)),
        ("stage", |release| release.stage.to_string()),
    ];
}

/// A release status for people: state and stage, cohorts, each guardrail's evidence.
fn print_release(args: &ClientArgs, status: &ReleaseStatus) -> anyhow::Result<()> {
    if args.output == Output::Json {
        return print_json(status);
    }
    let release = &status.release;
    let stage = release.stage;
    let stage_name = release.stages.get(stage).map(|s| s.name.as_str());
    println!(
        "release {} of {} → {:?}: {} at stage {stage} of {} ({})",
        release.id,
        release.flag,
        release.variation,
        cell(release.state),
        release.stages.len(),
        stage_name.unwrap_or_default(),
    );
    if let Some(hold) = &release.hold {
        println!("  holding: {}", hold.reason);
    }
    if let Some(assessment) = &status.assessment {
        let evaluations = |cohort: &str| assessment.evaluations.get(cohort).copied();
        let contexts = |cohort: &str| assessment.contexts.get(cohort).copied();
        println!(
            "  evaluations: treated {} / control {} / audience {}; contexts: treated {} / control {}",
            evaluations("treated").unwrap_or(0),
            evaluations("control").unwrap_or(0),
            evaluations("audience").unwrap_or(0),
            contexts("treated").unwrap_or(0),
            contexts("control").unwrap_or(0),
        );
        for guardrail in &assessment.guardrails {
            let mut line = format!(
                "  {}: treated {} / control {}",
                guardrail.metric, guardrail.treated, guardrail.control
            );
            if let (Some(total), Some(threshold)) = (guardrail.ln_e_total, guardrail.threshold) {
                line += &format!(", ln E {total:.3} of {threshold:.3}");
            }
            if let Some((lower, upper)) = guardrail.interval {
                // As JSON prints numbers (`1.0`, not `1`), as this line always has.
                line += &format!(
                    ", interval [{}, {}]",
                    Value::from(lower),
                    Value::from(upper)
                );
            }
            if guardrail.breached {
                line += ", BREACHED";
            }
            if let Some(note) = &guardrail.note {
                line += &format!(" ({note})");
            }
            println!("{line}");
        }
        println!("  verdict: {}", json_text(&assessment.verdict));
    }
    if let Some(next) = status.next_decision_ms {
        println!("  next decision at {next} (Unix ms)");
    }
    Ok(())
}

/// `switchyard kill FLAG --env ENV`: the flag serves its off-variation there, and its active
/// releases there are aborted.
pub(crate) async fn run_kill(
    args: &ClientArgs,
    flag: &str,
    env: &str,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let input = ActionInput {
        comment: comment.map(str::to_owned),
    };
    let killed = args.client().kill(&args.project, env, flag, &input).await?;
    if args.output == Output::Json {
        return print_json(&killed);
    }
    println!("{flag} is OFF in {env} (version {})", killed.version);
    let serves = super::flags::describe_off(killed.serves_when_off.as_ref());
    println!("  {serves}");
    for id in &killed.aborted_releases {
        println!("  release {id} aborted");
    }
    for id in &killed.aborted_release_plans {
        println!("  release plan {id} aborted");
    }
    Ok(())
}
