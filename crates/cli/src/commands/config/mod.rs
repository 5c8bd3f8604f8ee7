//! Config as code (`docs/config-as-code.md`): `export` writes a project as YAML files, `plan`
//! compares files with the live project (exit 0: nothing would change, 2: something would,
//! 1: error, as `terraform plan -detailed-exitcode`), `apply` applies them in one commit, and
//! `config schema` prints the files' JSON Schemas. The server decides what is valid and what
//! changes; this module reads and writes files and prints.

mod files;
mod plan;
mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use switchyard_client::types::{ConfigApplied, ConfigApplyInput, ConfigPlan, ProjectConfig};
use switchyard_client::{ApiFailure, Method, StatusCode};

use self::files::Problem;
use self::plan::SavedPlan;
use super::{ClientArgs, Output, print_json};

/// Exit status of `plan` when something would change (`terraform plan -detailed-exitcode`).
const CHANGES: u8 = 2;
/// Exit status of every config command that failed.
const FAILED: u8 = 1;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The directory to write (created if needed); files of flags and segments the project no
    /// longer has are removed from it.
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The directory `export` wrote (and people edited since).
    #[arg(long)]
    dir: PathBuf,
    /// Delete the live flags, segments, environments and targeting the files do not hold (else
    /// they are left alone).
    #[arg(long)]
    prune: bool,
    /// Save the plan for `apply --plan`.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The directory `export` wrote (and people edited since).
    #[arg(long)]
    dir: PathBuf,
    /// Delete the live flags, segments, environments and targeting the files do not hold (else
    /// they are left alone).
    #[arg(long)]
    prune: bool,
    /// Refuse unless the live project is at this revision (as a plan printed it).
    #[arg(long, conflicts_with = "plan")]
    expect_revision: Option<String>,
    /// Apply the plan `plan --out` saved: refused if the files or the project changed since.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Recorded in the audit log (and on the change request, if approval is needed).
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the JSON Schema of a file kind (project, flag or segment), or write all three.
    Schema {
        /// `project`, `flag` or `segment`; without it, all three as one object by name.
        name: Option<String>,
        /// Write `project.json`, `flag.json` and `segment.json` into this directory instead.
        #[arg(long, conflicts_with = "name")]
        out: Option<PathBuf>,
    },
}

/// Runs a config command: its own exit status, or 1 after printing the error.
async fn exit_status(run: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    match run.await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

pub(crate) async fn run_export(client: &ClientArgs, args: &ExportArgs) -> ExitCode {
    exit_status(export(client, args)).await
}

pub(crate) async fn run_plan(client: &ClientArgs, args: &PlanArgs) -> ExitCode {
    exit_status(plan(client, args)).await
}

pub(crate) async fn run_apply(client: &ClientArgs, args: &ApplyArgs) -> ExitCode {
    exit_status(apply(client, args)).await
}

pub(crate) fn run_config(command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Schema { name, out } = command;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for name in schema::SCHEMA_NAMES {
            let text = schema::schema_text(name).context("no such schema")?;
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = match name {
        Some(name) => schema::schema_text(name).with_context(|| {
            let known = schema::SCHEMA_NAMES.join(", ");
            format!("no schema named {name:?} (one of {known})")
        })?,
        None => {
            let all: serde_json::Map<String, Value> = schema::SCHEMA_NAMES
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), schema::schema(name)?)))
                .collect();
            serde_json::to_string_pretty(&all)? + "\n"
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn export(client: &ClientArgs, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let export = client.client().project_config(&client.project).await?;
    let written = files::write_dir(&export.config, &args.dir)?;
    if client.output == Output::Json {
        print_json(&json!({
            "revision": export.revision,
            "dir": args.dir,
            "files": written.files,
            "changed": written.changed,
            "removed": written.removed,
        }))?;
    } else {
        for file in &written.changed {
            println!("wrote    {file}");
        }
        for file in &written.removed {
            println!("removed  {file}");
        }
        println!(
            "Exported project {} at revision {} to {}: {} files, {} changed, {} removed.",
            client.project,
            export.revision,
            args.dir.display(),
            written.files,
            written.changed.len(),
            written.removed.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn plan(client: &ClientArgs, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let config = match read(&args.dir)? {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let digest = plan::files_digest(&config)?;
    let plan = match compute_plan(client, config, args.prune).await? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            revision: plan.revision.clone(),
            files_digest: digest,
            prune: args.prune,
            plan: plan.clone(),
        };
        saved.write(out)?;
    }
    if client.output == Output::Json {
        print_json(&plan)?;
    } else {
        print!("{}", plan::render(&plan, args.prune));
    }
    Ok(if plan.changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CHANGES)
    })
}

async fn apply(client: &ClientArgs, args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let config = match read(&args.dir)? {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let (shown, expect_revision, prune) = match &args.plan {
        Some(path) => {
            let saved = SavedPlan::read(path)?;
            if plan::files_digest(&config)? != saved.files_digest {
                anyhow::bail!(
                    "the files in {} changed since the plan in {} was made: run plan again",
                    args.dir.display(),
                    path.display()
                );
            }
            if args.prune && !saved.prune {
                anyhow::bail!("the plan in {} was made without --prune", path.display());
            }
            (saved.plan, saved.revision, saved.prune)
        }
        None => {
            let plan = match compute_plan(client, config.clone(), args.prune).await? {
                Ok(plan) => plan,
                Err(code) => return Ok(code),
            };
            // A project already past the expected revision is refused before anything is
            // shown as if it would apply (the server checks again on apply).
            if let Some(expected) = &args.expect_revision
                && *expected != plan.revision
            {
                anyhow::bail!(
                    "the project changed since revision {expected} (it is at {}): \
                     nothing was applied; run plan again",
                    plan.revision
                );
            }
            let expect = plan.revision.clone();
            (plan, expect, args.prune)
        }
    };
    let table = client.output != Output::Json;
    if table {
        print!("{}", plan::render(&shown, prune));
    }
    if shown.changes.is_empty() {
        if !table {
            print_json(&json!({"revision": shown.revision, "plan": shown}))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let input = ConfigApplyInput {
        config,
        prune,
        expect_revision: Some(expect_revision.clone()),
        comment: args.comment.clone(),
    };
    let (status, body) = call(client, "/apply", &input).await?;
    if status == StatusCode::ACCEPTED {
        let request = &body["change_request"];
        if table {
            let id = super::cell(&request["id"]);
            println!(
                "\nThe changes wait for approval as change request {id} ({}): \
                 switchyard change-requests show {id}",
                super::cell(&request["state"])
            );
        } else {
            print_json(&body)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if status == StatusCode::CONFLICT {
        let failure = ApiFailure::from_body(status, &body);
        if failure.field.as_deref() == Some("expect_revision") {
            anyhow::bail!(
                "the project changed since the plan (made against revision {expect_revision}): \
                 nothing was applied; run plan again ({})",
                failure.message
            );
        }
    }
    let applied: ConfigApplied = match refused_with_problems(status, &body) {
        Some(code) => return Ok(code),
        None => success(status, body)?,
    };
    if table {
        println!(
            "\nApplied {} change{}: the project is at revision {}.",
            applied.plan.changes.len(),
            if applied.plan.changes.len() == 1 {
                ""
            } else {
                "s"
            },
            applied.revision
        );
    } else {
        print_json(&applied)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The files in `dir` as the document, or (after printing every problem) the exit status.
fn read(dir: &Path) -> anyhow::Result<Result<ProjectConfig, ExitCode>> {
    match files::read_dir(dir)? {
        Ok(config) => Ok(Ok(config)),
        Err(problems) => {
            print_problems(&problems);
            Ok(Err(ExitCode::from(FAILED)))
        }
    }
}

fn print_problems(problems: &[Problem]) {
    for problem in problems {
        eprintln!("{problem}");
    }
    let count = problems.len();
    eprintln!(
        "error: {count} problem{} in the files: nothing was sent",
        if count == 1 { "" } else { "s" }
    );
}

/// The server's plan for `config`, or (after printing why not) the exit status.
async fn compute_plan(
    client: &ClientArgs,
    config: ProjectConfig,
    prune: bool,
) -> anyhow::Result<Result<ConfigPlan, ExitCode>> {
    let input = ConfigApplyInput {
        config,
        prune,
        expect_revision: None,
        comment: None,
    };
    let (status, body) = call(client, "/plan", &input).await?;
    match refused_with_problems(status, &body) {
        Some(code) => Ok(Err(code)),
        None => Ok(Ok(success(status, body)?)),
    }
}

/// A refusal that lists problems by file and field (`422 {"error": {"problems": […]}}`):
/// prints them all and answers the exit status.
fn refused_with_problems(status: StatusCode, body: &Value) -> Option<ExitCode> {
    if status.is_success() {
        return None;
    }
    let listed = body["error"]["problems"].as_array()?;
    let text = |value: &Value, name: &str| value[name].as_str().unwrap_or_default().to_owned();
    let problems: Vec<Problem> = listed
        .iter()
        .map(|p| Problem {
            file: text(p, "file"),
            field: text(p, "field"),
            message: text(p, "message"),
        })
        .collect();
    print_problems(&problems);
    Some(ExitCode::from(FAILED))
}

/// `POST /api/v1/projects/{project}/config{suffix}` with `input`: the status and the answer,
/// read here rather than by the typed client so that a 422 can list its problems one per line.
async fn call(
    client: &ClientArgs,
    suffix: &str,
    input: &ConfigApplyInput,
) -> anyhow::Result<(StatusCode, Value)> {
    let project = &client.project;
    let plain = project
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain || project.is_empty() {
        anyhow::bail!("{project:?} is not a project key");
    }
    let path = format!("/api/v1/projects/{project}/config{suffix}");
    let body = serde_json::to_value(input)?;
    Ok(client
        .client()
        .call(Method::POST, &path, Some(body))
        .await?)
}

/// A success's body as `T`; anything else as the API's error.
fn success<T: serde::de::DeserializeOwned>(status: StatusCode, body: Value) -> anyhow::Result<T> {
    if !status.is_success() {
        return Err(ApiFailure::from_body(status, &body).into());
    }
    serde_json::from_value(body).context("the server answered something this CLI cannot read")
}
