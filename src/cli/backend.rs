//! `readerlink backend`: runs the local backend server until Ctrl-C,
//! optionally with simulated update presets for some readers
//! (`--update-preset SERIAL=PRESET`, repeatable).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
pub use crate::backend::DEFAULT_SECRET_KEY;
use crate::backend::{BackendServer, FaultInjector, ServerConfig};
use crate::reader::SerialNumber;
use crate::secret::Secret;
use crate::updater::SimulatedUpdatePreset;

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
    /// Answers the update catalog for one reader from a simulated preset
    /// (none, available, required, low_battery,
    /// low_battery_succeed_connect, random; random draws from --seed).
    /// Repeatable.
    #[arg(long = "update-preset", value_name = "SERIAL=PRESET")]
    pub update_presets: Vec<UpdatePresetArg>,
    /// The key update manifests are signed with (a file of 64 hex digits,
    /// R19). Without it a key is made at start (from --seed when given);
    /// its public half is printed, and served at
    /// `GET /v1/terminal/updates/signing_key`, for apps to pin.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// One `--update-preset SERIAL=PRESET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePresetArg {
    /// The reader.
    pub serial: SerialNumber,
    /// What the catalog answers it.
    pub preset: SimulatedUpdatePreset,
}

/// Why an `--update-preset` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdatePresetArgError {
    /// No `=` between the serial number and the preset.
    #[error("`{0}` is not SERIAL=PRESET")]
    MissingEquals(String),
    /// Nothing before the `=`.
    #[error("`{0}` has no serial number before `=`")]
    EmptySerial(String),
    /// The name after the `=` is no preset.
    #[error("{0}")]
    UnknownPreset(String),
}

impl std::str::FromStr for UpdatePresetArg {
    type Err = UpdatePresetArgError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (serial, preset) = text
            .split_once('=')
            .ok_or_else(|| UpdatePresetArgError::MissingEquals(text.to_owned()))?;
        let serial = serial.trim();
        if serial.is_empty() {
            return Err(UpdatePresetArgError::EmptySerial(text.to_owned()));
        }
        let preset = preset
            .trim()
            .parse::<SimulatedUpdatePreset>()
            .map_err(UpdatePresetArgError::UnknownPreset)?;
        Ok(Self {
            serial: SerialNumber::new(serial),
            preset,
        })
    }
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
        update_presets: args
            .update_presets
            .into_iter()
            .map(|arg| (arg.serial, arg.preset))
            .collect(),
        epoch: None,
        signing_key: args.signing_key,
    };
    let server = BackendServer::start(config).map_err(|e| CliError::Other(e.to_string()))?;
    println!("readerlink backend listening on {}", server.url());
    let key = server
        .core()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .update_public_key()
        .map_err(|e| CliError::Other(format!("the update signing key: {e}")))?;
    println!(
        "update manifests signed by key {} (public key {})",
        key.key_id(),
        key.to_hex()
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_preset_is_serial_equals_preset_and_anything_else_is_refused_naming_why() {
        assert_eq!(
            "WPC32-0001=low_battery_succeed_connect".parse::<UpdatePresetArg>(),
            Ok(UpdatePresetArg {
                serial: SerialNumber::new("WPC32-0001"),
                preset: SimulatedUpdatePreset::LowBatterySucceedConnect,
            })
        );
        assert_eq!(
            "WPC32-0001".parse::<UpdatePresetArg>(),
            Err(UpdatePresetArgError::MissingEquals("WPC32-0001".into()))
        );
        assert_eq!(
            "=required".parse::<UpdatePresetArg>(),
            Err(UpdatePresetArgError::EmptySerial("=required".into()))
        );
        let unknown = "S1=sometimes".parse::<UpdatePresetArg>().unwrap_err();
        assert!(
            matches!(&unknown, UpdatePresetArgError::UnknownPreset(m) if m.contains("`sometimes`") && m.contains("low_battery")),
            "{unknown}"
        );
    }

    #[test]
    fn the_backend_command_takes_update_presets_repeatedly_and_refuses_a_bad_one() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "readerlink",
            "backend",
            "--update-preset",
            "S1=required",
            "--update-preset",
            "S2=available",
        ])
        .unwrap();
        let crate::cli::Command::Backend(args) = cli.command else {
            panic!("not the backend command");
        };
        assert_eq!(
            args.update_presets
                .iter()
                .map(|a| (a.serial.as_str(), a.preset))
                .collect::<Vec<_>>(),
            [
                ("S1", SimulatedUpdatePreset::Required),
                ("S2", SimulatedUpdatePreset::Available)
            ]
        );
        let err =
            crate::cli::Cli::try_parse_from(["readerlink", "backend", "--update-preset", "S1"]).unwrap_err();
        assert!(err.to_string().contains("is not SERIAL=PRESET"), "{err}");
    }
}
