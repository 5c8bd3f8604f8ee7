//! `envs` and `tokens`.

use std::path::PathBuf;

use clap::Subcommand;
use switchyard_client::types::{Environment, EnvironmentInput, TokenInput, TokenView};

use super::{
    ClientArgs, Column, Output, Row, json_text, print_json, print_table, read_json, request,
};

#[derive(Debug, Subcommand)]
pub(crate) enum EnvsCommand {
    List,
    Create {
        key: String,
        #[arg(long)]
        name: Option<String>,
        /// Approvals by people other than the author a change here needs (0-10; 0: none).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10))]
        required_approvals: Option<u32>,
    },
    /// Rename an environment, or set how many approvals a change there needs.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)))]
    Update {
        key: String,
        #[arg(long, group = "change")]
        name: Option<String>,
        /// Approvals by people other than the author a change here needs (0-10; 0: none).
        #[arg(long, group = "change", value_parser = clap::value_parser!(u32).range(0..=10))]
        required_approvals: Option<u32>,
        #[arg(long)]
        comment: Option<String>,
    },
    Delete {
        key: String,
    },
    /// Compare two environments' targeting, flag by flag, in words.
    Compare(super::promote::CompareArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    List,
    /// Create a token (printed once), scoped by a JSON file of policy statements, or
    /// `--unscoped` with all of its owner's rights.
    Create {
        name: String,
        #[arg(long, required_unless_present = "unscoped")]
        scope_file: Option<PathBuf>,
        /// All of the owner's rights (said explicitly, never by omission).
        #[arg(long, conflicts_with = "scope_file")]
        unscoped: bool,
        /// Days until it expires: at most the server's maximum token lifetime (90 days unless
        /// `serve --max-token-lifetime` says otherwise); absent, the maximum.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    Revoke {
        id: String,
    },
}

impl Row for Environment {
    const COLUMNS: &[Column<Self>] = &[
        ("key", |env| env.body.key.clone()),
        ("name", |env| env.body.name.clone()),
        ("critical", |env| env.body.critical.to_string()),
        ("approvals", |env| env.body.required_approvals.to_string()),
        ("version", |env| env.version.to_string()),
    ];
}

pub(crate) async fn run_envs(args: &ClientArgs, command: &EnvsCommand) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    match command {
        EnvsCommand::List => print_table(args, &api.environments(project).await?),
        EnvsCommand::Create {
            key,
            name,
            required_approvals,
        } => {
            let input = EnvironmentInput {
                key: key.clone(),
                name: name.clone().unwrap_or_default(),
                description: String::new(),
                critical: false,
                allowed_origins: None,
                required_approvals: *required_approvals,
                version: None,
                comment: None,
            };
            print_json(&api.create_environment(project, &input).await?)
        }
        EnvsCommand::Update {
            key,
            name,
            required_approvals,
            comment,
        } => {
            // The rest as it is, at the version read (a change meanwhile is a 409, not lost).
            let current = api.environment(project, key).await?;
            let input = EnvironmentInput {
                key: key.clone(),
                name: name.clone().unwrap_or(current.body.name),
                description: current.body.description,
                critical: current.body.critical,
                allowed_origins: None,
                required_approvals: *required_approvals,
                version: Some(current.version),
                comment: comment.clone(),
            };
            print_json(&api.update_environment(project, key, &input).await?)
        }
        EnvsCommand::Delete { key } => {
            print_json(&api.delete_environment(project, key, None).await?)
        }
        EnvsCommand::Compare(compare) => super::promote::run_compare(args, compare).await,
    }
}

impl Row for TokenView {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |token| token.id.clone()),
        ("name", |token| token.name.clone()),
        ("account", |token| token.account.clone()),
        ("scoped", |token| token.statements.is_some().to_string()),
    ];
}

pub(crate) async fn run_tokens(args: &ClientArgs, command: &TokensCommand) -> anyhow::Result<()> {
    let api = args.client();
    match command {
        TokensCommand::List => print_table(args, &api.tokens().await?),
        TokensCommand::Create {
            name,
            scope_file,
            unscoped,
            expires_in_days,
        } => {
            let statements = match scope_file {
                Some(path) => Some(request(read_json(path)?, "list of policy statements")?),
                None => None,
            };
            let input = TokenInput {
                name: name.clone(),
                account: None,
                statements,
                unscoped: *unscoped,
                expires_in_days: *expires_in_days,
                comment: None,
            };
            let created = api.create_token(&input).await?;
            if args.output == Output::Table {
                println!("{}", created.token.as_deref().unwrap_or_default());
                eprintln!(
                    "token {} created; the secret above is shown only once",
                    json_text(&created.id)
                );
                return Ok(());
            }
            print_json(&created)
        }
        TokensCommand::Revoke { id } => print_json(&api.delete_token(id).await?),
    }
}
