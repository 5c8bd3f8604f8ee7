//! Client subcommands (`flags`, `segments`, `envs`, `tokens`, `import`) that drive the REST API:
//! tables for people, `--output json` for scripts. No logic beyond building requests and
//! printing answers.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct ClientArgs {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// List flags with their state in every environment.
    List {
        /// Search key, name and description.
        #[arg(long)]
        q: Option<String>,
    },
    /// Show one flag.
    Get { key: String },
    /// Create a flag (boolean unless --kind/--file say otherwise).
    Create {
        key: String,
        #[arg(long, default_value = "boolean")]
        kind: String,
        /// A JSON file with the whole flag (variations, tags, …) instead of --kind.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Turn a flag on or off in one environment (flips it without --on/--off).
    Toggle {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Replace a flag's targeting in one environment from a JSON file.
    Target {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        comment: Option<String>,
    },
    Delete {
        key: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    List {
        #[arg(long)]
        env: String,
    },
    Get {
        key: String,
        #[arg(long)]
        env: String,
    },
    /// Create the segment in a JSON file, or replace it if it exists.
    Apply {
        #[arg(long)]
        env: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        comment: Option<String>,
    },
    Delete {
        key: String,
        #[arg(long)]
        env: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvsCommand {
    List,
    Create {
        key: String,
        #[arg(long)]
        name: Option<String>,
    },
    Delete {
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    List,
    /// Create a token (printed once), optionally scoped by a JSON file of policy statements.
    Create {
        name: String,
        #[arg(long)]
        scope_file: Option<PathBuf>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    Revoke {
        id: String,
    },
}

struct Api<'a> {
    args: &'a ClientArgs,
    http: reqwest::Client,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.args.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.args.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = &body["error"];
            let field = error["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            bail!(
                "{} {}: {}{field}",
                status.as_u16(),
                error["code"].as_str().unwrap_or("error"),
                error["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Replaces `{collection}/{key}` (at its current version) or creates it when absent.
    async fn put_or_create(&self, collection: &str, mut body: Value) -> anyhow::Result<Value> {
        let key = body["key"]
            .as_str()
            .context("the document needs a \"key\"")?
            .to_owned();
        let path = format!("{collection}/{key}");
        match self.get(&path).await {
            Ok(current) => {
                body["version"] = current["version"].clone();
                self.call(reqwest::Method::PUT, &path, Some(body)).await
            }
            Err(e) if e.to_string().starts_with("404") => {
                self.call(reqwest::Method::POST, collection, Some(body))
                    .await
            }
            Err(e) => Err(e),
        }
    }
}

/// Which flag's events to show, and over what time.
#[derive(Debug, Args)]
pub struct InsightArgs {
    flag: String,
    #[arg(long)]
    env: String,
    /// How far back, in hours.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Exposures only: one variation's contexts.
    #[arg(long)]
    variation: Option<String>,
    /// Exposures only: at most this many.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

impl InsightArgs {
    fn path(&self, args: &ClientArgs, what: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let from = now - self.hours * 3_600_000;
        format!(
            "/projects/{}/environments/{}/flags/{}/{what}?from={from}&to={}",
            args.project,
            self.env,
            self.flag,
            now + 60_000
        )
    }
}

/// `switchyard exposures FLAG`: who has been exposed to the flag, and to which variation.
pub async fn run_exposures(args: &ClientArgs, insight: &InsightArgs) -> anyhow::Result<()> {
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let mut path = insight.path(args, "exposures");
    path.push_str(&format!("&limit={}", insight.limit));
    if let Some(variation) = &insight.variation {
        path.push_str(&format!("&variation={}", query_escape(variation)));
    }
    let rows = api.get(&path).await?;
    print(
        args,
        &rows,
        &[
            "kind",
            "key",
            "variation",
            "version",
            "reason",
            "first_seen",
            "last_seen",
        ],
        |row, column| match column {
            "first_seen" | "last_seen" => row[format!("{column}_ms")]
                .as_i64()
                .map(switchyard_engine::time::format_rfc3339_ms)
                .unwrap_or_default(),
            other => cell(&row[other]),
        },
    )
}

/// `switchyard metrics FLAG`: each metric per variation cohort.
pub async fn run_metrics(args: &ClientArgs, insight: &InsightArgs) -> anyhow::Result<()> {
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let rows = api.get(&insight.path(args, "metrics")).await?;
    print(
        args,
        &rows,
        &["metric", "variation", "count", "mean", "std_dev", "sum"],
        |row, column| match row[column].as_f64() {
            Some(number) if column != "count" => format!("{number:.3}"),
            _ => cell(&row[column]),
        },
    )
}

/// Loads a data file (native, LaunchDarkly or Unleash) into a project and one of its
/// environments: segments, then every flag's definition, then every flag's targeting (so
/// prerequisites and segment references resolve). Existing flags and segments are replaced.
pub async fn run_import(
    args: &ClientArgs,
    data: &crate::eval::DataArgs,
    env: &str,
) -> anyhow::Result<()> {
    use reqwest::Method;
    let dataset = crate::eval::load(data)?;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let project = format!("/projects/{}", args.project);
    for segment in &dataset.segments {
        let body = serde_json::to_value(segment)?;
        api.put_or_create(&format!("{project}/environments/{env}/segments"), body)
            .await
            .with_context(|| format!("segment {}", segment.key))?;
    }
    for flag in &dataset.flags {
        let mut spec = serde_json::to_value(flag)?;
        let targeting = serde_json::to_value(&flag.targeting)?;
        if let (Some(spec), Some(targeting)) = (spec.as_object_mut(), targeting.as_object()) {
            spec.retain(|field, _| !targeting.contains_key(field) && field != "version");
        }
        api.put_or_create(&format!("{project}/flags"), spec)
            .await
            .with_context(|| format!("flag {}", flag.key))?;
    }
    for flag in &dataset.flags {
        let path = format!("{project}/environments/{env}/flags/{}", flag.key);
        let mut targeting = serde_json::to_value(&flag.targeting)?;
        targeting["version"] = api.get(&path).await?["version"].clone();
        api.call(Method::PUT, &path, Some(targeting))
            .await
            .with_context(|| format!("targeting of flag {}", flag.key))?;
    }
    let summary = json!({
        "project": args.project,
        "environment": env,
        "flags": dataset.flags.len(),
        "segments": dataset.segments.len(),
    });
    if args.output == Output::Json {
        println!("{summary}");
    } else {
        println!(
            "imported {} flags and {} segments into {}/{env}",
            dataset.flags.len(),
            dataset.segments.len(),
            args.project
        );
    }
    Ok(())
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn comment_query(comment: &Option<String>) -> String {
    comment
        .as_deref()
        .map(|c| format!("?comment={}", query_escape(c)))
        .unwrap_or_default()
}

pub async fn run_flags(args: &ClientArgs, command: &FlagsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let base = format!("/projects/{}", args.project);
    let answer = match command {
        FlagsCommand::List { q } => {
            let filter = q
                .as_deref()
                .map(|q| format!("?q={}", query_escape(q)))
                .unwrap_or_default();
            let flags = api.get(&format!("{base}/flags{filter}")).await?;
            return print(
                args,
                &flags,
                &["key", "kind", "environments", "version"],
                |flag, column| match column {
                    "environments" => flag["environments"]
                        .as_object()
                        .map(|envs| {
                            envs.iter()
                                .map(|(env, t)| {
                                    format!(
                                        "{env}:{}",
                                        if t["on"] == json!(true) { "on" } else { "off" }
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default(),
                    other => cell(&flag[other]),
                },
            );
        }
        FlagsCommand::Get { key } => api.get(&format!("{base}/flags/{key}")).await?,
        FlagsCommand::Create {
            key,
            kind,
            file,
            comment,
        } => {
            let mut body = match file {
                Some(path) => read_json(path)?,
                None => json!({"kind": kind}),
            };
            body["key"] = json!(key);
            body["comment"] = json!(comment);
            api.call(Method::POST, &format!("{base}/flags"), Some(body))
                .await?
        }
        FlagsCommand::Toggle {
            key,
            env,
            on,
            off,
            comment,
        } => {
            let state = if *on {
                json!(true)
            } else if *off {
                json!(false)
            } else {
                Value::Null
            };
            let body = json!({"on": state, "comment": comment});
            let path = format!("{base}/environments/{env}/flags/{key}/toggle");
            let answer = api.call(Method::POST, &path, Some(body)).await?;
            if args.output == Output::Table {
                let state = if answer["on"] == json!(true) {
                    "ON"
                } else {
                    "OFF"
                };
                println!("{key} is {state} in {env} (version {})", answer["version"]);
                return Ok(());
            }
            answer
        }
        FlagsCommand::Target {
            key,
            env,
            file,
            comment,
        } => {
            let path = format!("{base}/environments/{env}/flags/{key}");
            let current = api.get(&path).await?;
            let mut body = read_json(file)?;
            body["version"] = current["version"].clone();
            body["comment"] = json!(comment);
            api.call(Method::PUT, &path, Some(body)).await?
        }
        FlagsCommand::Delete { key, comment } => {
            api.call(
                Method::DELETE,
                &format!("{base}/flags/{key}{}", comment_query(comment)),
                None,
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
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
    Pause(ReleaseAction),
    /// Resume a held release.
    Resume(ReleaseAction),
    /// Go to the next stage now (or complete after the last).
    Advance(ReleaseAction),
    /// Restore the flag's serving from before the release.
    Rollback(ReleaseAction),
    /// Stop the release and restore the previous serving.
    Abort(ReleaseAction),
}

#[derive(Debug, Args)]
pub struct ReleaseAction {
    id: String,
    #[arg(long)]
    env: String,
    #[arg(long)]
    comment: Option<String>,
}

pub async fn run_release(args: &ClientArgs, command: &ReleaseCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let base = |env: &str| format!("/projects/{}/environments/{env}/releases", args.project);
    let (verb, action) = match command {
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
            let status = api.call(Method::POST, &base(env), Some(body)).await?;
            return print_release(args, &status);
        }
        ReleaseCommand::Status { id, env } => {
            let status = api.get(&format!("{}/{id}", base(env))).await?;
            return print_release(args, &status);
        }
        ReleaseCommand::List { env } => {
            let releases = api.get(&base(env)).await?;
            return print(
                args,
                &releases,
                &["id", "flag", "variation", "state", "stage"],
                |release, column| cell(&release[column]),
            );
        }
        ReleaseCommand::Pause(action) => ("pause", action),
        ReleaseCommand::Resume(action) => ("resume", action),
        ReleaseCommand::Advance(action) => ("advance", action),
        ReleaseCommand::Rollback(action) => ("rollback", action),
        ReleaseCommand::Abort(action) => ("abort", action),
    };
    let path = format!("{}/{}/{verb}", base(&action.env), action.id);
    let status = api
        .call(
            Method::POST,
            &path,
            Some(json!({"comment": action.comment})),
        )
        .await?;
    print_release(args, &status)
}

/// A release status for people: state and stage, cohorts, each guardrail's evidence.
fn print_release(args: &ClientArgs, status: &Value) -> anyhow::Result<()> {
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(status)?);
        return Ok(());
    }
    let stage = status["stage"].as_u64().unwrap_or_default() as usize;
    let stages = status["stages"].as_array().map_or(0, Vec::len);
    println!(
        "release {} of {} → {:?}: {} at stage {stage} of {stages} ({})",
        cell(&status["id"]),
        cell(&status["flag"]),
        cell(&status["variation"]),
        cell(&status["state"]),
        cell(&status["stages"][stage]["name"]),
    );
    if let Some(hold) = status["hold"].as_object() {
        println!("  holding: {}", cell(&hold["reason"]));
    }
    if let Some(assessment) = status["assessment"].as_object() {
        let count = |map: &str, cohort: &str| assessment[map][cohort].as_i64().unwrap_or(0);
        println!(
            "  evaluations: treated {} / control {} / audience {}; contexts: treated {} / control {}",
            count("evaluations", "treated"),
            count("evaluations", "control"),
            count("evaluations", "audience"),
            count("contexts", "treated"),
            count("contexts", "control"),
        );
        for guardrail in assessment["guardrails"].as_array().into_iter().flatten() {
            let mut line = format!(
                "  {}: treated {} / control {}",
                cell(&guardrail["metric"]),
                guardrail["treated"],
                guardrail["control"]
            );
            if let (Some(total), Some(threshold)) = (
                guardrail["ln_e_total"].as_f64(),
                guardrail["threshold"].as_f64(),
            ) {
                line += &format!(", ln E {total:.3} of {threshold:.3}");
            }
            if let Some(interval) = guardrail["interval"].as_array() {
                line += &format!(", interval [{}, {}]", interval[0], interval[1]);
            }
            if guardrail["breached"] == json!(true) {
                line += ", BREACHED";
            }
            if let Some(note) = guardrail["note"].as_str() {
                line += &format!(" ({note})");
            }
            println!("{line}");
        }
        println!("  verdict: {}", assessment["verdict"]);
    }
    if let Some(next) = status["next_decision_ms"].as_i64() {
        println!("  next decision at {next} (Unix ms)");
    }
    Ok(())
}

/// `switchyard kill FLAG --env ENV`: the flag serves its off-variation there, and its active
/// releases there are aborted.
pub async fn run_kill(
    args: &ClientArgs,
    flag: &str,
    env: &str,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let path = format!(
        "/projects/{}/environments/{env}/flags/{flag}/kill",
        args.project
    );
    let answer = api
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({"comment": comment})),
        )
        .await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{flag} is OFF in {env} (version {})", answer["version"]);
        for id in answer["aborted_releases"].as_array().into_iter().flatten() {
            println!("  release {} aborted", cell(id));
        }
    }
    Ok(())
}

pub async fn run_segments(args: &ClientArgs, command: &SegmentsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let base = |env: &str| format!("/projects/{}/environments/{env}/segments", args.project);
    let answer = match command {
        SegmentsCommand::List { env } => {
            let segments = api.get(&base(env)).await?;
            return print(
                args,
                &segments,
                &["key", "included", "rules", "version"],
                |segment, column| match column {
                    "included" | "rules" => {
                        segment[column].as_array().map_or(0, Vec::len).to_string()
                    }
                    other => cell(&segment[other]),
                },
            );
        }
        SegmentsCommand::Get { key, env } => api.get(&format!("{}/{key}", base(env))).await?,
        SegmentsCommand::Apply { env, file, comment } => {
            let mut body = read_json(file)?;
            body["comment"] = json!(comment);
            api.put_or_create(&base(env), body).await?
        }
        SegmentsCommand::Delete { key, env } => {
            api.call(Method::DELETE, &format!("{}/{key}", base(env)), None)
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

pub async fn run_envs(args: &ClientArgs, command: &EnvsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let base = format!("/projects/{}/environments", args.project);
    let answer = match command {
        EnvsCommand::List => {
            let envs = api.get(&base).await?;
            return print(
                args,
                &envs,
                &["key", "name", "critical", "version"],
                |env, column| cell(&env[column]),
            );
        }
        EnvsCommand::Create { key, name } => {
            let body = json!({"key": key, "name": name.clone().unwrap_or_default()});
            api.call(Method::POST, &base, Some(body)).await?
        }
        EnvsCommand::Delete { key } => {
            api.call(Method::DELETE, &format!("{base}/{key}"), None)
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

pub async fn run_tokens(args: &ClientArgs, command: &TokensCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api {
        args,
        http: reqwest::Client::new(),
    };
    let answer = match command {
        TokensCommand::List => {
            let tokens = api.get("/tokens").await?;
            return print(
                args,
                &tokens,
                &["id", "name", "account", "scoped"],
                |token, column| match column {
                    "scoped" => (!token["statements"].is_null()).to_string(),
                    other => cell(&token[other]),
                },
            );
        }
        TokensCommand::Create {
            name,
            scope_file,
            expires_in_days,
        } => {
            let statements = scope_file.as_ref().map(read_json).transpose()?;
            let body =
                json!({"name": name, "statements": statements, "expires_in_days": expires_in_days});
            let created = api.call(Method::POST, "/tokens", Some(body)).await?;
            if args.output == Output::Table {
                println!("{}", created["token"].as_str().unwrap_or_default());
                eprintln!(
                    "token {} created; the secret above is shown only once",
                    created["id"]
                );
                return Ok(());
            }
            created
        }
        TokensCommand::Revoke { id } => {
            api.call(Method::DELETE, &format!("/tokens/{id}"), None)
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Prints a JSON array as JSON or as an aligned table of `columns`.
fn print(
    args: &ClientArgs,
    rows: &Value,
    columns: &[&str],
    cell_of: impl Fn(&Value, &str) -> String,
) -> anyhow::Result<()> {
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| columns.iter().map(|c| cell_of(row, c)).collect())
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([columns[i].len()])
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
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in table {
        line(row);
    }
    Ok(())
}
