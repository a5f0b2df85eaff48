//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Points insta at the top-level `snapshots/` folder for the rest of the
/// test: `let _snapshots = common::snapshots();`.
pub fn snapshots() -> insta::internals::SettingsBindDropGuard {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind_to_scope()
}

/// Installs a tracing subscriber that prints no wall time, so log output is
/// deterministic (and quiet unless RUST_LOG is set).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .with_test_writer()
        .try_init();
}
