//! Client subcommands (`flags`, `segments`, `envs`, `tokens`, `import`, `release`, `kill`,
//! `exposures`, `metrics`) that drive the REST API through `switchyard-client`: tables for
//! people, `--output json` for scripts. No logic beyond building requests and printing answers.

mod access;
mod change_requests;
mod config;
mod experiment_results;
mod experiments;
mod flags;
mod import;
mod promote;
mod release_plans;
mod releases;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_client::Client;
use switchyard_engine::strict::JsonSchema;

pub(crate) use access::{EnvsCommand, TokensCommand, run_envs, run_tokens};
pub(crate) use change_requests::{
    ChangeRequestsCommand, ScheduleCommand, run_change_requests, run_schedule,
};
pub(crate) use config::{
    ApplyArgs, ConfigCommand, ExportArgs, PlanArgs, run_apply, run_config, run_export, run_plan,
};
pub(crate) use experiment_results::{ExperimentsCommand, run_experiments};
pub(crate) use flags::{
    FlagsCommand, InsightArgs, SegmentsCommand, run_exposures, run_flags, run_metrics, run_segments,
};
pub(crate) use import::run_import;
pub(crate) use release_plans::{ReleasePlansCommand, run_release_plans};
pub(crate) use releases::{ReleaseCommand, run_kill, run_release};

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_URL",
        default_value = "http://127.0.0.1:8470"
    )]
    url: String,
    /// An API token (syt_…).
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_PROJECT",
        default_value = "default"
    )]
    project: String,
    #[arg(long, global = true, value_enum, default_value = "table")]
    output: Output,
}

impl ClientArgs {
    fn client(&self) -> Client {
        Client::new(&self.url).with_token(self.token.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// A request body from JSON (a file with the CLI's fields set on it), as the route's type.
/// Fields the type does not know are refused here, as the server would: the typed body sent on
/// would silently drop them.
fn request<T: DeserializeOwned + JsonSchema>(body: Value, what: &str) -> anyhow::Result<T> {
    let unknown = switchyard_engine::strict::unknown_fields::<T>(&body);
    if !unknown.is_empty() {
        anyhow::bail!(
            "not a valid {what}: unknown field{} {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown
                .iter()
                .map(|field| format!("`{field}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    serde_json::from_value(body).with_context(|| format!("not a valid {what}"))
}

/// An answer as pretty JSON. It goes through `Value` so keys print sorted, as they always have.
fn print_json(answer: &impl Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(answer)?)?
    );
    Ok(())
}

/// A value as JSON prints it (`"id"` with its quotes, `1.0`), for lines that always showed it so.
fn json_text(value: impl Serialize) -> String {
    serde_json::to_value(value).map_or_else(|_| String::new(), |v| v.to_string())
}

/// A value as a table cell: strings bare, absent values empty, the rest as JSON.
fn cell(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(Value::Null) | Err(_) => String::new(),
        Ok(other) => other.to_string(),
    }
}

/// A table column: its name and how a row fills it.
type Column<T> = (&'static str, fn(&T) -> String);

/// A listed type, as a table shows it: one row per item, in these columns.
trait Row: Serialize + Sized + 'static {
    const COLUMNS: &'static [Column<Self>];
}

/// Prints rows as JSON or as an aligned table of their columns.
fn print_table<T: Row>(args: &ClientArgs, rows: &[T]) -> anyhow::Result<()> {
    if args.output == Output::Json {
        return print_json(&rows);
    }
    let columns = T::COLUMNS;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, cell_of)| cell_of(row)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(
        columns
            .iter()
            .map(|(name, _)| name.to_uppercase())
            .collect(),
    );
    for row in table {
        line(row);
    }
    Ok(())
}
