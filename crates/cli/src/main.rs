//! The `switchyard` binary. A thin shell over the crates: it parses arguments (each flag also
//! readable from a `SWITCHYARD_*` environment variable), reads files, the clock and randomness,
//! and prints. No evaluation logic lives here.

mod eval;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Offline: what would this context get from this flag, and why.
    Eval(eval::EvalArgs),
    /// Check a data file: every problem with its field, exit status 1 if there are any.
    Validate(eval::ValidateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Eval(args) => eval::run_eval(&args),
        Command::Validate(args) => eval::run_validate(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
