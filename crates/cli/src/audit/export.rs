//! `audit export`, which writes the audit log as JSON lines from a cursor (following it with
//! `--follow`), and `audit verify-export`, which checks such lines offline with the public key
//! alone (`docs/security.md`, "Audit export").

use std::io::{BufRead as _, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_server::api::types::{AuditExportLine, ChainForm};
use switchyard_store::{AuditPublicKey, ChainReport, ExportVerifier, SignedHead};

/// How long a follower waits before reconnecting after the stream ended or failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The server's base URL.
    #[arg(long, env = "SWITCHYARD_URL", default_value = "http://127.0.0.1:8470")]
    url: String,
    /// An API token allowed `audit:read`.
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Export the records after this sequence number. Without it: after the last line already
    /// in `--out`, or from the first record.
    #[arg(long)]
    since: Option<u64>,
    /// Keep going: write records as they are committed, reconnecting (from the last record
    /// written) when the server goes away, until interrupted.
    #[arg(long)]
    follow: bool,
    /// Append the lines to this file instead of writing them to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyExportArgs {
    /// Export files, in order (an export and the ones resumed after it form one chain).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The server's audit public key (64 hex digits: `public_key` of `GET /api/v1/audit/verify`,
    /// or the server's log at start).
    #[arg(long, env = "SWITCHYARD_AUDIT_PUBLIC_KEY")]
    public_key: String,
    /// A signed head kept from the server: a file holding `GET /api/v1/audit/verify`'s answer or
    /// its `signed_head`. The export must contain that record with that hash, which shows the
    /// log was not cut short before it.
    #[arg(long)]
    signed_head: Option<PathBuf>,
    /// Where the signed form starts (`signed_from` of `GET /api/v1/audit/verify`); by default
    /// at the first line that says it is signed.
    #[arg(long)]
    signed_from: Option<i64>,
}

/// `audit export`: lines to standard output or `--out`; the cursor to resume from on standard
/// error when it ends.
pub(crate) async fn run_export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let mut cursor = match (args.since, &args.out) {
        (Some(since), _) => i64::try_from(since).context("--since is too large")?,
        (None, Some(out)) => last_seq_in(out)?.unwrap_or(0),
        (None, None) => 0,
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let client = reqwest::Client::new();
    loop {
        match export_once(&client, args, &mut cursor, &mut out).await {
            Ok(()) if !args.follow => break,
            Ok(()) => eprintln!("the export stream ended; reconnecting after record {cursor}"),
            Err(Failure::Refused(error)) => return Err(error),
            Err(Failure::Connection(error)) if args.follow => {
                eprintln!("{error:#}; reconnecting after record {cursor}");
            }
            Err(Failure::Connection(error)) => return Err(error),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
    eprintln!("cursor: {cursor} (resume with --since {cursor})");
    Ok(ExitCode::SUCCESS)
}

enum Failure {
    /// The server answered with an error: retrying would get the same.
    Refused(anyhow::Error),
    /// The server could not be reached, or the stream broke.
    Connection(anyhow::Error),
}

/// One request: writes every complete line it receives and moves `cursor` past it.
async fn export_once(
    client: &reqwest::Client,
    args: &ExportArgs,
    cursor: &mut i64,
    out: &mut Box<dyn Write>,
) -> Result<(), Failure> {
    let url = format!("{}/api/v1/audit/export", args.url.trim_end_matches('/'));
    let mut request = client
        .get(url)
        .query(&[("since", cursor.to_string())])
        .query(&[("follow", args.follow)]);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let connection = |e: reqwest::Error| Failure::Connection(e.into());
    let mut response = request.send().await.map_err(connection)?;
    let status = response.status();
    if !status.is_success() {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let error = anyhow::anyhow!("the server answered {status}: {message}");
        return Err(if status.is_server_error() {
            Failure::Connection(error)
        } else {
            Failure::Refused(error)
        });
    }
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(connection)? {
        pending.extend_from_slice(&chunk);
        // Only complete lines are written; a line cut by a broken connection is sent again.
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        let complete: Vec<u8> = pending.drain(..=end).collect();
        for line in complete.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue; // a keep-alive
            }
            let seq = serde_json::from_slice::<Value>(line)
                .ok()
                .and_then(|value| value["seq"].as_i64())
                .ok_or_else(|| {
                    Failure::Refused(anyhow::anyhow!("the server sent a line without `seq`"))
                })?;
            let written = out.write_all(line).and_then(|()| out.write_all(b"\n"));
            written
                .map_err(|e| Failure::Refused(anyhow::Error::from(e).context("cannot write")))?;
            *cursor = seq;
        }
        out.flush()
            .map_err(|e| Failure::Refused(anyhow::Error::from(e).context("cannot write")))?;
    }
    Ok(())
}

/// The `seq` of the last line in an earlier export, to resume after it.
fn last_seq_in(path: &Path) -> anyhow::Result<Option<i64>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(seq) = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|value| value["seq"].as_i64())
        {
            last = Some(seq);
        }
    }
    Ok(last)
}

/// What `audit verify-export` prints: the chain report, and the records the export spans.
#[derive(Debug, Serialize)]
struct ExportReport {
    #[serde(flatten)]
    chain: ChainReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<i64>,
}

/// A signed head as `GET /api/v1/audit/verify` reports it.
#[derive(Debug, Deserialize)]
struct HeadView {
    seq: i64,
    hash: String,
    signature: String,
}

/// `audit verify-export`: 0 when every line verifies, 1 at the first that does not, 2 when it
/// cannot check (a file or the key cannot be read).
pub(crate) fn run_verify_export(args: &VerifyExportArgs) -> anyhow::Result<ExitCode> {
    let key = AuditPublicKey::from_hex(&args.public_key).context("--public-key")?;
    let mut verifier = ExportVerifier::new(Some(key));
    if let Some(path) = &args.signed_head {
        verifier = verifier.expect_head(read_head(path)?);
    }
    if let Some(seq) = args.signed_from {
        verifier = verifier.signed_from(seq);
    }
    'files: for path in &args.files {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let place = format!("{} line {}", path.display(), index + 1);
            match serde_json::from_str::<AuditExportLine>(&line) {
                Ok(exported) if exported.agrees_with_record() => {
                    verifier.check(&exported.row(), exported.form == ChainForm::Signed);
                }
                Ok(_) => verifier.fail(format!("{place}: its fields differ from its record")),
                Err(error) => verifier.fail(format!("{place} is not an export line: {error}")),
            }
            if verifier.broken().is_some() {
                break 'files;
            }
        }
    }
    let (first, last) = (verifier.first(), verifier.last());
    let chain = verifier.finish();
    let ok = chain.ok;
    let report = ExportReport { chain, first, last };
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !ok {
        eprintln!(
            "export broken at record {}: {}",
            report.chain.first_broken.unwrap_or_default(),
            report.chain.problem.as_deref().unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn read_head(path: &Path) -> anyhow::Result<SignedHead> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let head = value.get("signed_head").unwrap_or(&value).clone();
    let HeadView {
        seq,
        hash,
        signature,
    } = serde_json::from_value(head).with_context(|| {
        format!(
            "{} holds no signed head (`seq`, `hash`, `signature`)",
            path.display()
        )
    })?;
    Ok(SignedHead {
        seq,
        hash,
        signature,
    })
}
