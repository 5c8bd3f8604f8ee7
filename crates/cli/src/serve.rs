//! `switchyard serve`, and the storage options it shares with `audit verify`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use switchyard_server::delivery::{
    DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_KEY, DeliveryConfig,
};
use switchyard_server::{AppState, Clock, DEFAULT_LISTEN, bootstrap};
use switchyard_store::Store;

#[derive(Debug, Args)]
pub(crate) struct StorageArgs {
    /// Where the embedded SQLite database lives (ignored with --database-url).
    #[arg(long, env = "SWITCHYARD_DATA_DIR", default_value = "switchyard-data")]
    data_dir: PathBuf,
    /// `postgres://user@host/db` to run on PostgreSQL (several replicas may share it).
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    database_url: Option<String>,
}

impl StorageArgs {
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                switchyard_store::create_private_dir(&self.data_dir)
                    .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
                format!("sqlite://{}", self.data_dir.join("switchyard.db").display())
            }
        };
        Store::open(&url)
            .await
            .with_context(|| format!("cannot open storage at {url}"))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

/// Runtime options shared by the long-running commands.
#[derive(Debug, Args)]
pub(crate) struct RuntimeArgs {
    /// Threads serving requests (default: one per CPU). On a machine shared with other busy
    /// processes, fewer threads can mean lower tail latency.
    #[arg(long, env = "SWITCHYARD_WORKERS")]
    pub workers: Option<usize>,
}

/// Connection hygiene shared by `serve` and `relay` (docs/delivery.md, "Connections").
#[derive(Debug, Args)]
pub(crate) struct ConnectionArgs {
    /// Connections held at once; one more is answered 503 `unavailable` and closed (default:
    /// 25,000, lowered to the open-file limit less a reserve of a tenth, 64 to 1,024 files).
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Time a client has to send a whole request head (`10s`, `500ms`, or seconds), from the
    /// accept or the previous response; so also how long an idle keep-alive connection stays.
    #[arg(long, env = "SWITCHYARD_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    header_timeout: std::time::Duration,
    /// Time a connection may go without a byte moving either way (a stalled body, a client
    /// that stops reading); keep it above the streams' 15 s heartbeat.
    #[arg(long, env = "SWITCHYARD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_timeout)]
    idle_timeout: std::time::Duration,
}

impl ConnectionArgs {
    pub(crate) fn limits(&self) -> switchyard_server::ConnectionLimits {
        let defaults = switchyard_server::ConnectionLimits::default();
        switchyard_server::ConnectionLimits {
            max_connections: self.max_connections.map_or(defaults.max_connections, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// `10s`, `500ms`, `2m` or a number of seconds; more than zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 10s or 500ms"))?;
    let duration = match unit {
        "ms" => std::time::Duration::from_millis(number),
        "s" => std::time::Duration::from_secs(number),
        "m" => std::time::Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    if duration.is_zero() {
        return Err("a timeout must be more than zero".into());
    }
    Ok(duration)
}

/// Logging options shared by the long-running commands.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    log_format: LogFormat,
    /// Log filter, such as `info` or `switchyard_server=debug`.
    #[arg(long, env = "SWITCHYARD_LOG", default_value = "info")]
    log: String,
}

impl LogArgs {
    pub(crate) fn init(&self) -> anyhow::Result<()> {
        let filter =
            tracing_subscriber::EnvFilter::try_new(&self.log).context("invalid --log filter")?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Json => builder.json().init(),
            LogFormat::Pretty => builder.init(),
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: String,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    audit_key: crate::audit::AuditKeyArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
    /// OFREP evaluation requests per second allowed per SDK key (0: unlimited); over it, 429.
    #[arg(long, env = "SWITCHYARD_OFREP_RATE_LIMIT", default_value_t = 0)]
    ofrep_rate_limit: u32,
    /// SDK and OFREP change streams open at once (0: unlimited); beyond it, 503 with Retry-After.
    #[arg(long, env = "SWITCHYARD_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS)]
    max_streams: usize,
    /// Change streams open at once per SDK key (0: unlimited); beyond it, 429 with Retry-After.
    #[arg(long, env = "SWITCHYARD_MAX_STREAMS_PER_KEY", default_value_t = DEFAULT_MAX_STREAMS_PER_KEY)]
    max_streams_per_key: usize,
    /// How often the release guard assesses running releases (milliseconds).
    #[arg(long, env = "SWITCHYARD_GUARD_INTERVAL_MS", default_value_t = 1000)]
    guard_interval_ms: u64,
    /// Internal hosts webhooks may target, comma-separated: host names, addresses or CIDR
    /// networks (such as `127.0.0.0/8,::1,hooks.internal`). Loopback, private, link-local and
    /// cloud-metadata targets are refused unless listed here.
    #[arg(long, env = "SWITCHYARD_WEBHOOK_ALLOW_HOSTS", default_value = "")]
    webhook_allow_hosts: String,
    /// The longest an API token may live, in days: a longer `expires_in_days` is refused, and
    /// a token created without one lives this long.
    #[arg(long, env = "SWITCHYARD_MAX_TOKEN_LIFETIME", value_name = "DAYS",
          default_value_t = switchyard_server::access::DEFAULT_MAX_TOKEN_LIFETIME_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_token_lifetime: u32,
    #[command(flatten)]
    oidc: Box<OidcArgs>,
}

/// Single sign-on with an OpenID Connect provider (docs/security.md, "Single sign-on").
#[derive(Debug, Args)]
pub(crate) struct OidcArgs {
    /// The provider's issuer URL (its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`); turns single sign-on on.
    #[arg(long, env = "SWITCHYARD_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_client_secret_file", "oidc_redirect_url"])]
    oidc_issuer: Option<String>,
    /// The client id registered with the provider.
    #[arg(long, env = "SWITCHYARD_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// A file holding the client secret (the first line).
    #[arg(long, env = "SWITCHYARD_OIDC_CLIENT_SECRET_FILE")]
    oidc_client_secret_file: Option<PathBuf>,
    /// This server's callback as registered with the provider:
    /// `https://HOST/api/v1/auth/oidc/callback`.
    #[arg(long, env = "SWITCHYARD_OIDC_REDIRECT_URL")]
    oidc_redirect_url: Option<String>,
    /// The scopes asked for, space-separated.
    #[arg(long, env = "SWITCHYARD_OIDC_SCOPES", default_value = "openid profile")]
    oidc_scopes: String,
    /// The ID token claim that names the account.
    #[arg(
        long,
        env = "SWITCHYARD_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username"
    )]
    oidc_username_claim: String,
    /// The ID token claim that lists the person's groups.
    #[arg(long, env = "SWITCHYARD_OIDC_ROLE_CLAIM", default_value = "groups")]
    oidc_role_claim: String,
    /// Which role each group gives: `group=role,group=role`.
    #[arg(long, env = "SWITCHYARD_OIDC_ROLE_MAP", default_value = "")]
    oidc_role_map: String,
    /// Create an account on a person's first sign-in (with the mapped roles, no password).
    #[arg(long, env = "SWITCHYARD_OIDC_JIT_ACCOUNTS")]
    oidc_jit_accounts: bool,
    /// How long a single sign-on session lasts, in minutes.
    #[arg(long, env = "SWITCHYARD_OIDC_SESSION_MINUTES", default_value_t = 720,
          value_parser = clap::value_parser!(u64).range(1..))]
    oidc_session_minutes: u64,
    /// The longest an API token minted from a single sign-on session may live, in days.
    #[arg(long, env = "SWITCHYARD_OIDC_MACHINE_TOKEN_MAX_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    oidc_machine_token_max_days: u32,
    /// Refuse sign-in with a password (`POST /api/v1/auth/token`): people sign in with single
    /// sign-on; API tokens keep working.
    #[arg(long, env = "SWITCHYARD_NO_LOCAL_PASSWORDS")]
    no_local_passwords: bool,
}

impl OidcArgs {
    fn config(&self) -> anyhow::Result<Option<switchyard_server::access::oidc::OidcConfig>> {
        use switchyard_server::access::oidc::OidcConfig;
        let (Some(issuer), Some(client_id), Some(secret_file), Some(redirect_url)) = (
            &self.oidc_issuer,
            &self.oidc_client_id,
            &self.oidc_client_secret_file,
            &self.oidc_redirect_url,
        ) else {
            if self.no_local_passwords {
                anyhow::bail!("--no-local-passwords needs single sign-on (--oidc-issuer)");
            }
            return Ok(None);
        };
        let secret = std::fs::read_to_string(secret_file)
            .with_context(|| format!("cannot read {}", secret_file.display()))?;
        let secret = secret.lines().next().unwrap_or("").trim().to_owned();
        anyhow::ensure!(!secret.is_empty(), "{} is empty", secret_file.display());
        let role_map = OidcConfig::parse_role_map(&self.oidc_role_map)
            .map_err(|e| anyhow::anyhow!("invalid --oidc-role-map: {e}"))?;
        Ok(Some(OidcConfig {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret: secret,
            redirect_url: redirect_url.clone(),
            scopes: self.oidc_scopes.clone(),
            username_claim: self.oidc_username_claim.clone(),
            role_claim: self.oidc_role_claim.clone(),
            role_map,
            jit_accounts: self.oidc_jit_accounts,
            session: std::time::Duration::from_secs(self.oidc_session_minutes.saturating_mul(60)),
            machine_token_max_days: self.oidc_machine_token_max_days,
        }))
    }
}

pub(crate) async fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
    crate::memory::return_freed_memory();
    args.log.init()?;
    let oidc = args.oidc.config()?;
    let webhook_targets =
        switchyard_server::releases::WebhookTargets::parse(&args.webhook_allow_hosts)
            .map_err(|e| anyhow::anyhow!("invalid --webhook-allow-hosts: {e}"))?;
    let store = args
        .storage
        .open()
        .await?
        .with_audit_signer(args.audit_key.signer(&args.storage)?);
    // Listen before the first start creates the admin: its password must not be lost to a busy port.
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let first_start = bootstrap(&store).await?;
    if let Some(created) = first_start {
        let url = format!("http://{}", listener.local_addr()?);
        println!(
            "First start: created account {:?} (role admin) and project \"default\" with \
             environments production and staging.\n\
             \n  admin password: {}\n  admin API token: {}\n\n\
             Both are shown only now. Open the console at {url}/ and sign in as {:?}, or try:\n\
             \n  export SWITCHYARD_URL={url} SWITCHYARD_TOKEN={}\n  switchyard flags list\n",
            created.account, created.password, created.token, created.account, created.token
        );
    }
    tracing::info!(
        address = %listener.local_addr()?,
        storage = ?store.backend(),
        "switchyard serve is listening"
    );
    // Always on stdout, whatever the log level: who started `--listen 127.0.0.1:0` reads the port.
    println!("listening on {}", listener.local_addr()?);
    let delivery = DeliveryConfig {
        ofrep_rate_limit: args.ofrep_rate_limit,
        max_streams: args.max_streams,
        max_streams_per_key: args.max_streams_per_key,
        ..DeliveryConfig::default()
    };
    let guard = switchyard_server::releases::GuardConfig {
        interval: std::time::Duration::from_millis(args.guard_interval_ms.max(50)),
    };
    let access = switchyard_server::access::AccessConfig {
        max_token_lifetime_days: args.max_token_lifetime,
        oidc: oidc.map(switchyard_server::access::oidc::Oidc::new),
        local_passwords: !args.oidc.no_local_passwords,
        ..Default::default()
    };
    let state = AppState::with_access(store.clone(), delivery, guard, access, Clock::default());
    state.webhooks.allow_targets(webhook_targets);
    let limits = args.connections.limits();
    switchyard_server::serve_with(listener, state, limits, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, exit.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
