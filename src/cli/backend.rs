//! `readerlink backend`: runs the local backend server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
pub use crate::backend::DEFAULT_SECRET_KEY;
use crate::backend::{BackendServer, FaultInjector, ServerConfig};
use crate::secret::Secret;

/// Arguments of `readerlink backend`.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4242")]
    pub listen: SocketAddr,
    /// The data file (JSON Lines: a snapshot, then one line per change,
    /// compacted as it grows), locked to this server; without it the data
    /// lives in memory and is lost on exit.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The key clients must send as `Authorization: Bearer <key>`
    /// (default: the development key `sk_test_readerlink_local`, which is
    /// public and only accepted on a loopback address).
    #[arg(long, value_name = "KEY")]
    pub secret_key: Option<String>,
    /// Seeds the connection tokens (and the fault injector) for a
    /// deterministic run; without it tokens come from the OS's
    /// cryptographic random source.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds a client has to send a request's head, and then its body.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub request_timeout: u64,
}

/// Runs `readerlink backend`.
pub fn run(args: BackendArgs) -> Result<(), CliError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = ServerConfig {
        listen: args.listen,
        data: args.data,
        secret_key: Secret::new(args.secret_key.unwrap_or_else(|| DEFAULT_SECRET_KEY.to_owned())),
        seed: args.seed,
        faults: FaultInjector::new(args.seed.unwrap_or(0)),
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
    };
    let server = BackendServer::start(config).map_err(|e| CliError::Other(e.to_string()))?;
    println!("readerlink backend listening on {}", server.url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("starting the runtime failed: {e}")))?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
        println!("stopping");
        server.stop().await;
    });
    Ok(())
}
