//! The audit signing key (`serve`), `audit verify`, which works on the database directly
//! (`docs/security.md`, "Audit log"), and `audit export` / `audit verify-export` (`export.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use switchyard_store::{AuditPublicKey, AuditSigner};

use crate::serve::StorageArgs;

mod export;

/// The key file `serve` creates in the data directory when none is configured.
const DEFAULT_KEY_FILE: &str = "audit-signing.key";

/// Where the audit signing key lives.
#[derive(Debug, Args)]
pub(crate) struct AuditKeyArgs {
    /// File holding the Ed25519 key that signs audit records (64 hex digits). Replicas of one
    /// database must share it. Without it, `serve` uses (and on first start creates, mode 0600)
    /// `audit-signing.key` in the data directory; keep it elsewhere in production.
    #[arg(long, env = "SWITCHYARD_AUDIT_SIGNING_KEY")]
    audit_signing_key: Option<PathBuf>,
}

impl AuditKeyArgs {
    fn path(&self, storage: &StorageArgs) -> PathBuf {
        self.audit_signing_key
            .clone()
            .unwrap_or_else(|| storage.data_dir().join(DEFAULT_KEY_FILE))
    }

    /// The configured key, or the data directory's (created there if missing).
    pub(crate) fn signer(&self, storage: &StorageArgs) -> anyhow::Result<AuditSigner> {
        let path = self.path(storage);
        if self.audit_signing_key.is_none() {
            create_private_dir(storage.data_dir())?;
        }
        let (signer, created) = AuditSigner::load_or_create(&path)
            .with_context(|| format!("cannot read the audit signing key {}", path.display()))?;
        if created {
            tracing::warn!(
                file = %path.display(),
                public_key = %signer.public_key(),
                "created an audit signing key in the data directory; in production keep it \
                 outside (--audit-signing-key), and give every replica the same one"
            );
        } else {
            tracing::info!(public_key = %signer.public_key(), "audit records are signed");
        }
        Ok(signer)
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    key: AuditKeyArgs,
    /// The public key (64 hex digits) to check signatures with, instead of deriving it from the
    /// signing key; it is all a verifier needs.
    #[arg(long, env = "SWITCHYARD_AUDIT_PUBLIC_KEY")]
    audit_public_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute the audit log's hash chain in the database and check its signatures. Exit
    /// status 0 when it verifies, 1 at a broken link, 2 when it cannot be checked (no key, no
    /// database).
    Verify(VerifyArgs),
    /// Write the audit log as JSON lines after a cursor (`--since`), through the API; with
    /// `--follow`, keep writing records as they are committed. The cursor to resume from is
    /// printed on standard error at the end.
    Export(export::ExportArgs),
    /// Check exported JSON lines offline with the server's public key: each record's hash and
    /// signature, the links between them, and optionally a signed head kept from the server.
    /// Exit status 0 when they verify, 1 at a broken line, 2 when they cannot be checked.
    VerifyExport(export::VerifyExportArgs),
}

pub(crate) async fn run_audit(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export(args) => export::run_export(args).await,
        AuditCommand::VerifyExport(args) => export::run_verify_export(args),
        AuditCommand::Verify(args) => {
            let key = match &args.audit_public_key {
                Some(hex) => AuditPublicKey::from_hex(hex).context("--audit-public-key")?,
                None => {
                    let path = args.key.path(&args.storage);
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!(
                            "no audit key to check signatures with: cannot read {} (pass \
                             --audit-public-key or --audit-signing-key)",
                            path.display()
                        )
                    })?;
                    AuditSigner::from_file_text(&text)
                        .with_context(|| format!("{}", path.display()))?
                        .public_key()
                }
            };
            let store = args.storage.open().await?;
            let report = store.verify_audit_chain_with(Some(key)).await?;
            store.close().await;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                eprintln!(
                    "audit chain broken at record {}: {}",
                    report.first_broken.unwrap_or_default(),
                    report.problem.unwrap_or_default()
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
