//! `readerlink backend`: runs the local backend server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::backend::{BackendServer, FaultInjector, ServerConfig};
use crate::secret::Secret;

/// The secret key used when none is given. It is not a secret: it is for a
/// backend on the local machine during development.
pub const DEFAULT_SECRET_KEY: &str = "sk_test_readerlink_local";

/// Arguments of `readerlink backend`.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4242")]
    pub listen: SocketAddr,
    /// The data file (JSON, replaced atomically on every change); without
    /// it the data lives in memory and is lost on exit.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The key clients must send as `Authorization: Bearer <key>`
    /// (default: the development key `sk_test_readerlink_local`).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_SECRET_KEY, hide_default_value = true)]
    pub secret_key: String,
    /// Seeds the connection tokens.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
        secret_key: Secret::new(args.secret_key),
        seed: args.seed,
        faults: FaultInjector::new(args.seed),
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
