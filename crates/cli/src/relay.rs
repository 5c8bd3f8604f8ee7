//! `switchyard relay`: follow an upstream's environments and serve them from memory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use switchyard_server::delivery::{DEFAULT_MAX_STREAMS_PER_KEY, DeliveryConfig};
use switchyard_server::relay::{DEFAULT_RELAY_LISTEN, Relay, RelayConfig};

use crate::serve::{ConnectionArgs, LogArgs, RuntimeArgs, shutdown_signal};

#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// The control plane or relay to follow, such as `http://switchyard:8470`.
    #[arg(long, env = "SWITCHYARD_UPSTREAM")]
    upstream: String,
    /// A server SDK key to relay (repeat for several environments; the environment variable
    /// takes a comma-separated list and keeps keys out of the process list). The environment's
    /// client keys are served too, as the upstream lists them.
    #[arg(
        long = "sdk-key",
        env = "SWITCHYARD_SDK_KEYS",
        value_delimiter = ',',
        required = true,
        hide_env_values = true
    )]
    sdk_keys: Vec<String>,
    /// Where each environment's last-known-good snapshot is kept.
    #[arg(
        long,
        env = "SWITCHYARD_RELAY_DATA_DIR",
        default_value = "switchyard-relay-data"
    )]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = DEFAULT_RELAY_LISTEN)]
    listen: String,
    /// Longest wait, in milliseconds, between attempts to reach an unreachable upstream.
    #[arg(long, env = "SWITCHYARD_RECONNECT_MAX_MS", default_value_t = 1000)]
    reconnect_max_ms: u64,
    /// How often, in milliseconds, each environment's client keys and allowed origins are read
    /// from the upstream: a client key revoked upstream stops working here within this.
    #[arg(
        long,
        env = "SWITCHYARD_CLIENT_KEYS_REFRESH_MS",
        default_value_t = 1_000
    )]
    client_keys_refresh_ms: u64,
    /// Open streams allowed at once (0: unlimited); beyond it, 503 with Retry-After.
    #[arg(long, env = "SWITCHYARD_MAX_STREAMS", default_value_t = 20_000)]
    max_streams: usize,
    /// Open streams allowed at once per SDK key (0: unlimited); beyond it, 429 with Retry-After.
    #[arg(long, env = "SWITCHYARD_MAX_STREAMS_PER_KEY", default_value_t = DEFAULT_MAX_STREAMS_PER_KEY)]
    max_streams_per_key: usize,
    /// OFREP evaluation requests per second allowed per SDK key (0: unlimited); over it, 429.
    #[arg(long, env = "SWITCHYARD_OFREP_RATE_LIMIT", default_value_t = 0)]
    ofrep_rate_limit: u32,
    /// Record OFREP answers as evaluations and exposures, sent upstream with the events.
    #[arg(long, env = "SWITCHYARD_RECORD_EVALUATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    record_evaluations: bool,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
}

pub(crate) async fn run_relay(args: &RelayArgs) -> anyhow::Result<()> {
    crate::memory::return_freed_memory();
    args.log.init()?;
    let config = RelayConfig {
        upstream: args.upstream.trim_end_matches('/').to_owned(),
        sdk_keys: args.sdk_keys.clone(),
        data_dir: args.data_dir.clone(),
        delivery: DeliveryConfig {
            ofrep_rate_limit: args.ofrep_rate_limit,
            max_streams: args.max_streams,
            max_streams_per_key: args.max_streams_per_key,
            record_evaluations: args.record_evaluations,
            ..DeliveryConfig::default()
        },
        reconnect_max: Duration::from_millis(args.reconnect_max_ms.max(10)),
        client_keys_refresh: Duration::from_millis(args.client_keys_refresh_ms.max(100)),
    };
    let relay = Relay::start(config).await.map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        address = %listener.local_addr()?,
        upstream = %args.upstream,
        keys = args.sdk_keys.len(),
        "switchyard relay is listening"
    );
    // Always on stdout, whatever the log level: who started `--listen 127.0.0.1:0` reads the port.
    println!("listening on {}", listener.local_addr()?);
    let limits = args.connections.limits();
    switchyard_server::relay::serve_with(listener, relay, limits, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
