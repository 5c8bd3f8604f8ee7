//! The `switchyard` binary. A thin shell over the crates: it parses arguments (each flag also
//! readable from a `SWITCHYARD_*` environment variable), reads files, the clock and randomness,
//! and prints. No evaluation, storage or authorization logic lives here.

mod audit;
mod commands;
mod eval;
mod memory;
mod relay;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: event intake allocates and frees many small blocks a
/// batch on both runtime threads, and glibc's malloc (`_int_malloc`, `malloc_consolidate`,
/// `unlink_chunk`) took over 40 % of the server's CPU samples there (BENCHMARKS.md, Events,
/// "2026-12-07, 12:42").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Feature management and progressive delivery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane (embedded SQLite by default, PostgreSQL with --database-url).
    Serve(serve::ServeArgs),
    /// Serve an upstream's environments from memory (and disk) at the edge.
    Relay(relay::RelayArgs),
    /// Offline: what would this context get from this flag, and why.
    Eval(eval::EvalArgs),
    /// Check a data file: every problem with its field, exit status 1 if there are any.
    Validate(eval::ValidateArgs),
    /// Flags of a project, through the API.
    Flags {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::FlagsCommand,
    },
    /// Segments of an environment, through the API.
    Segments {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::SegmentsCommand,
    },
    /// Environments of a project, through the API.
    Envs {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::EnvsCommand,
    },
    /// API tokens, through the API.
    Tokens {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::TokensCommand,
    },
    /// Load a data file (native, LaunchDarkly or Unleash) into an environment, through the API.
    Import {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        data: eval::DataArgs,
        /// The environment that receives the targeting (flags are created project-wide).
        #[arg(long)]
        env: String,
    },
    /// Contexts exposed to a flag in an environment, through the API.
    Exposures {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        insight: commands::InsightArgs,
    },
    /// Metric statistics per variation cohort of a flag, through the API.
    Metrics {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        insight: commands::InsightArgs,
    },
    /// Guarded releases, through the API.
    Release {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::ReleaseCommand,
    },
    /// Experiments, through the API: `results`.
    Experiments {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::ExperimentsCommand,
    },
    /// Release plans: one flag's guarded release in waves over several environments, through
    /// the API.
    ReleasePlans {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::ReleasePlansCommand,
    },
    /// Change requests in environments that require approvals: list, show, approve, reject,
    /// withdraw, apply.
    ChangeRequests {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::ChangeRequestsCommand,
    },
    /// Scheduled changes: a toggle, a removal of targets or a targeting that applies by itself
    /// at a time (as a change request, if it has its approvals by then).
    Schedule {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(subcommand)]
        command: commands::ScheduleCommand,
    },
    /// Kill switch: turn a flag off in an environment and abort its releases there.
    Kill {
        #[command(flatten)]
        client: commands::ClientArgs,
        flag: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Write a project as YAML files to review in Git (docs/config-as-code.md).
    Export {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        args: commands::ExportArgs,
    },
    /// Compare files with the live project: exit 0 if nothing would change, 2 if something
    /// would, 1 on error.
    Plan {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        args: commands::PlanArgs,
    },
    /// Apply files to the live project in one commit (or one change request).
    Apply {
        #[command(flatten)]
        client: commands::ClientArgs,
        #[command(flatten)]
        args: commands::ApplyArgs,
    },
    /// The config-as-code files' JSON Schemas.
    Config {
        #[command(subcommand)]
        command: commands::ConfigCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Print the API's OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    // A usage error exits 1, not clap's 2: `plan` and `diff` exit 2 for drift, which CI must
    // not read into a mistyped command. Help and version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.exit_code() == 0 { 0 } else { 1 };
            // Printing to a closed pipe is no reason to fail differently.
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Eval(args) => eval::run_eval(&args),
        Command::Validate(args) => eval::run_validate(&args),
        Command::Config { command } => commands::run_config(&command),
        Command::Openapi => {
            let document = switchyard_server::api::openapi_document();
            serde_json::to_string_pretty(&document)
                .map(|text| {
                    println!("{text}");
                    ExitCode::SUCCESS
                })
                .map_err(Into::into)
        }
        async_command => run_async(async_command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let workers = match &command {
        Command::Serve(args) => args.runtime.workers,
        Command::Relay(args) => args.runtime.workers,
        _ => None,
    };
    if let Some(workers) = workers {
        runtime.worker_threads(workers.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async move {
        let done = match command {
            Command::Serve(args) => serve::run_serve(&args).await,
            Command::Relay(args) => relay::run_relay(&args).await,
            Command::Flags { client, command } => commands::run_flags(&client, &command).await,
            Command::Segments { client, command } => {
                commands::run_segments(&client, &command).await
            }
            Command::Envs { client, command } => commands::run_envs(&client, &command).await,
            Command::Tokens { client, command } => commands::run_tokens(&client, &command).await,
            Command::Import { client, data, env } => {
                commands::run_import(&client, &data, &env).await
            }
            Command::Exposures { client, insight } => {
                commands::run_exposures(&client, &insight).await
            }
            Command::Metrics { client, insight } => commands::run_metrics(&client, &insight).await,
            Command::Release { client, command } => commands::run_release(&client, &command).await,
            Command::Experiments { client, command } => {
                commands::run_experiments(&client, &command).await
            }
            Command::ReleasePlans { client, command } => {
                commands::run_release_plans(&client, &command).await
            }
            Command::ChangeRequests { client, command } => {
                commands::run_change_requests(&client, &command).await
            }
            Command::Schedule { client, command } => {
                commands::run_schedule(&client, &command).await
            }
            Command::Kill {
                client,
                flag,
                env,
                comment,
            } => commands::run_kill(&client, &flag, &env, comment.as_deref()).await,
            // Config commands choose their own exit status (plan: 2 when something would change).
            Command::Export { client, args } => {
                return Ok(commands::run_export(&client, &args).await);
            }
            Command::Plan { client, args } => return Ok(commands::run_plan(&client, &args).await),
            Command::Apply { client, args } => {
                return Ok(commands::run_apply(&client, &args).await);
            }
            // The audit check chooses its own exit status.
            Command::Audit { command } => return audit::run_audit(&command).await,
            Command::Eval(_) | Command::Validate(_) | Command::Openapi | Command::Config { .. } => {
                unreachable!("handled synchronously")
            }
        };
        done.map(|()| ExitCode::SUCCESS)
    })
}
