//! `change-requests …`: review what waits for approval in protected environments
//! (`docs/governance.md`).

use clap::{Args, Subcommand};
use switchyard_client::types::{ChangeRequest, ReviewInput};
use switchyard_client::{ChangeRequestFilter, Review};

use super::{ClientArgs, Column, Row, cell, print_json, print_table};

#[derive(Debug, Subcommand)]
pub(crate) enum ChangeRequestsCommand {
    /// A project's change requests, newest first.
    List {
        /// pending, applied, rejected, withdrawn or conflict.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        env: Option<String>,
    },
    /// One change request: the proposed write, its diff, base versions, approvals, history.
    Show { id: String },
    /// Approve someone else's change request (the last approval needed applies it).
    Approve(ReviewArgs),
    /// Reject a change request.
    Reject(ReviewArgs),
    /// Withdraw your own change request.
    Withdraw(ReviewArgs),
    /// Apply an approved change request.
    Apply(ReviewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    id: String,
    #[arg(long)]
    comment: Option<String>,
    /// The revision you read (a newer one is refused, so nobody approves what they did not read).
    #[arg(long)]
    revision: Option<u32>,
}

impl Row for ChangeRequest {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |r| r.body.id.clone()),
        ("env", |r| r.body.environment.clone()),
        ("operation", |r| cell(r.body.operation)),
        ("target", |r| r.body.target.clone()),
        ("state", |r| cell(r.body.state)),
        ("revision", |r| r.body.revision.to_string()),
        ("approved", |r| {
            format!("{}/{}", r.approved, r.body.required_approvals)
        }),
        ("author", |r| r.body.author.clone()),
    ];
}

pub(crate) async fn run_change_requests(
    args: &ClientArgs,
    command: &ChangeRequestsCommand,
) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let (review, target) = match command {
        ChangeRequestsCommand::List { state, env } => {
            let filter = ChangeRequestFilter {
                state: state.as_deref(),
                environment: env.as_deref(),
            };
            return print_table(args, &api.change_requests(project, &filter).await?);
        }
        ChangeRequestsCommand::Show { id } => {
            return print_json(&api.change_request(project, id).await?);
        }
        ChangeRequestsCommand::Approve(target) => (Review::Approve, target),
        ChangeRequestsCommand::Reject(target) => (Review::Reject, target),
        ChangeRequestsCommand::Withdraw(target) => (Review::Withdraw, target),
        ChangeRequestsCommand::Apply(target) => (Review::Apply, target),
    };
    let input = ReviewInput {
        comment: target.comment.clone(),
        revision: target.revision,
    };
    print_json(
        &api.review_change_request(project, &target.id, review, &input)
            .await?,
    )
}
