//! `change-requests …`: review what waits for approval in protected environments, and when it
//! applies; `schedule …`: changes that apply by themselves at a time (a scheduled change is a
//! change request with a time); `flags remove-targets` (`docs/governance.md`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_client::types::{
    ChangeRequest, Operation, RemoveTargetsInput, RescheduleInput, ReviewInput, ScheduleInput,
    TargetingInput, ToggleInput,
};
use switchyard_client::{ChangeRequestFilter, Review};
use switchyard_engine::time::{format_rfc3339_ms, parse_rfc3339_ms};

use super::{ClientArgs, Column, Output, Row, cell, print_json, print_table, read_json, request};

/// The states a change request can be in, as `--state` takes them.
const STATES: [&str; 7] = [
    "pending",
    "applied",
    "rejected",
    "withdrawn",
    "conflict",
    "expired",
    "failed",
];

#[derive(Debug, Subcommand)]
pub(crate) enum ChangeRequestsCommand {
    /// A project's change requests, newest first (RUN_AT: when a scheduled one applies).
    List {
        /// Only requests in this state (expired: its time came before its approvals; failed:
        /// its scheduled run was refused, the history says why).
        #[arg(long, value_parser = STATES)]
        state: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// Only scheduled requests (those with a time to apply by themselves).
        #[arg(long)]
        scheduled: bool,
    },
    /// One change request: the proposed write, its diff, base versions, approvals, history,
    /// and `run_at` if it is scheduled.
    Show { id: String },
    /// Give a pending change request a time to apply by itself (if it has its approvals then),
    /// or take the time away with --clear (it then applies at once if it has them).
    Schedule {
        id: String,
        /// When it applies: an RFC 3339 time such as 2027-01-31T18:00:00Z.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        at: Option<String>,
        /// Remove its time.
        #[arg(long)]
        clear: bool,
        #[arg(long)]
        comment: Option<String>,
        /// The revision you read (a newer one is refused).
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Approve someone else's change request (the last approval needed applies it, or, if it
    /// is scheduled, lets it apply at its time).
    Approve(ReviewArgs),
    /// Reject a change request.
    Reject(ReviewArgs),
    /// Withdraw your own change request.
    Withdraw(ReviewArgs),
    /// Apply an approved change request (a scheduled one: now, before its time).
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

/// A change to make later: each becomes a change request that applies by itself at --at if it
/// has the environment's required approvals by then (else it expires).
#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// Turn a flag on or off in one environment at a time (--on or --off; "turn off on T").
    Toggle {
        key: String,
        #[arg(long)]
        env: String,
        /// The state to set then: one of --on or --off is required.
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        when: When,
    },
    /// Take context keys out of a flag's individual targets at a time ("remove this target on
    /// T"); the rest of its targeting is kept as it is then.
    RemoveTargets {
        #[command(flatten)]
        targets: RemoveTargetsArgs,
        #[command(flatten)]
        when: When,
    },
    /// Replace a flag's targeting in one environment from a JSON file at a time (it fails as a
    /// conflict if the targeting changes before then).
    Targeting {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        when: When,
    },
}

// When a scheduled change applies, and its comment. (No doc comment: clap would show it as
// the help of the commands that take these arguments.)
#[derive(Debug, Args)]
pub(crate) struct When {
    /// When it applies: an RFC 3339 time in the future, such as 2027-01-31T18:00:00Z.
    #[arg(long)]
    at: String,
    #[arg(long)]
    comment: Option<String>,
}

// Which keys to take out of a flag's individual targets, and where.
#[derive(Debug, Args)]
pub(crate) struct RemoveTargetsArgs {
    key: String,
    #[arg(long)]
    env: String,
    /// The context kind the keys are of.
    #[arg(long, default_value = "user")]
    kind: String,
    /// The keys to remove (comma-separated); each must be targeted now.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    values: Vec<String>,
}

impl RemoveTargetsArgs {
    fn input(&self, comment: Option<String>) -> anyhow::Result<RemoveTargetsInput> {
        if let Some(empty) = self.values.iter().position(String::is_empty) {
            anyhow::bail!("--values: key {} is empty", empty + 1);
        }
        Ok(RemoveTargetsInput {
            kind: self.kind.clone(),
            values: self.values.clone(),
            comment,
        })
    }
}

/// When a scheduled request applies, as the table and `show` say it.
fn run_at(request: &ChangeRequest) -> String {
    request
        .body
        .run_at_ms
        .map(format_rfc3339_ms)
        .unwrap_or_default()
}

impl Row for ChangeRequest {
    const COLUMNS: &[Column<Self>] = &[
        ("id", |r| r.body.id.clone()),
        ("env", |r| r.body.environment.clone()),
        ("operation", |r| cell(r.body.operation)),
        ("target", |r| r.body.target.clone()),
        ("state", |r| cell(r.body.state)),
        ("run_at", run_at),
        ("revision", |r| r.body.revision.to_string()),
        ("approved", |r| {
            format!("{}/{}", r.approved, r.body.required_approvals)
        }),
        ("author", |r| r.body.author.clone()),
    ];
}

/// A change request as `show` prints it: its JSON, with `run_at` in RFC 3339 beside
/// `run_at_ms` when it is scheduled.
fn print_request(request: &ChangeRequest) -> anyhow::Result<()> {
    let mut shown = serde_json::to_value(request)?;
    if request.body.run_at_ms.is_some() {
        shown["run_at"] = json!(run_at(request));
    }
    print_json(&shown)
}

/// `--at` as the server takes it, refused here when it is not a time at all.
fn checked_time(at: &str) -> anyhow::Result<String> {
    match parse_rfc3339_ms(at) {
        Some(_) => Ok(at.to_owned()),
        None => anyhow::bail!("--at: {at:?} is not an RFC 3339 time such as 2027-01-31T18:00:00Z"),
    }
}

pub(crate) async fn run_change_requests(
    args: &ClientArgs,
    command: &ChangeRequestsCommand,
) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let (review, target) = match command {
        ChangeRequestsCommand::List {
            state,
            env,
            scheduled,
        } => {
            let filter = ChangeRequestFilter {
                state: state.as_deref(),
                environment: env.as_deref(),
                scheduled: scheduled.then_some(true),
            };
            return print_table(args, &api.change_requests(project, &filter).await?);
        }
        ChangeRequestsCommand::Show { id } => {
            return print_request(&api.change_request(project, id).await?);
        }
        ChangeRequestsCommand::Schedule {
            id,
            at,
            clear: _,
            comment,
            revision,
        } => {
            let input = RescheduleInput {
                at: at.as_deref().map(checked_time).transpose()?,
                comment: comment.clone(),
                revision: *revision,
            };
            let scheduled = api.schedule_change_request(project, id, &input).await?;
            return print_request(&scheduled);
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
    print_request(
        &api.review_change_request(project, &target.id, review, &input)
            .await?,
    )
}

/// The body of a route, as a scheduled change carries it.
fn body(input: &impl Serialize) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(input)?)
}

pub(crate) async fn run_schedule(
    args: &ClientArgs,
    command: &ScheduleCommand,
) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let (operation, env, key, when, request) = match command {
        ScheduleCommand::Toggle {
            key,
            env,
            on,
            off,
            when,
        } => {
            let input = ToggleInput {
                on: *on && !*off,
                comment: when.comment.clone(),
            };
            (Operation::Toggle, env, key, when, body(&input)?)
        }
        ScheduleCommand::RemoveTargets { targets, when } => {
            let input = targets.input(when.comment.clone())?;
            let RemoveTargetsArgs { key, env, .. } = targets;
            (Operation::RemoveTargets, env, key, when, body(&input)?)
        }
        ScheduleCommand::Targeting {
            key,
            env,
            file,
            when,
        } => {
            // Pinned to the targeting read now: if it changes before the time, the change
            // is a conflict instead of undoing what was done meanwhile.
            let current = api.targeting(project, env, key).await?;
            let mut document = read_json(file)?;
            document["version"] = json!(current.targeting.version);
            document["comment"] = json!(when.comment);
            let input: TargetingInput = request(document, "targeting")?;
            (Operation::UpdateTargeting, env, key, when, body(&input)?)
        }
    };
    let input = ScheduleInput {
        environment: env.clone(),
        operation,
        target: Some(key.clone()),
        request,
        at: checked_time(&when.at)?,
    };
    let scheduled = api.schedule_change(project, &input).await?;
    if args.output == Output::Table {
        let id = &scheduled.body.id;
        let needs = scheduled.body.required_approvals;
        eprintln!(
            "scheduled as change request {id} for {} ({needs} approval(s) needed by then; \
             switchyard change-requests show {id})",
            run_at(&scheduled)
        );
    }
    print_request(&scheduled)
}

/// `flags remove-targets`: takes the keys out now (held for approval in a protected
/// environment, like a toggle).
pub(super) async fn remove_targets(
    args: &ClientArgs,
    targets: &RemoveTargetsArgs,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let input = targets.input(comment.map(str::to_owned))?;
    let api = args.client();
    let (env, key) = (&targets.env, &targets.key);
    print_json(&api.remove_targets(&args.project, env, key, &input).await?)
}
