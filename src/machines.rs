//! The registry of every machine in the crate, for `readerlink diagrams`
//! and the tests that keep `state-diagrams/` honest.

use crate::runtime::{MachineSpec, Vocabulary};

/// One machine as the registry knows it.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// Its declared table.
    pub spec: &'static MachineSpec,
    /// The names its types give (input, state and superstate variants),
    /// to check the table against.
    pub vocabulary: Vocabulary,
}

/// Every machine. Add a machine here when you add one.
pub fn registry() -> Vec<Registered> {
    let checked = |spec, vocabulary| Registered { spec, vocabulary };
    vec![
        checked(
            &crate::runtime::example::SPEC,
            crate::runtime::example::Turnstile::vocabulary(),
        ),
        checked(&crate::scanner::SPEC, crate::scanner::Scanner::vocabulary()),
        checked(
            &crate::connection::SPEC,
            crate::connection::Connection::vocabulary(),
        ),
        checked(&crate::terminal::SPEC, crate::terminal::Hub::vocabulary()),
        checked(&crate::reconnect::SPEC, crate::reconnect::Reconnect::vocabulary()),
        checked(&crate::session::SPEC, crate::session::Session::vocabulary()),
        checked(&crate::reboot::SPEC, crate::reboot::RebootTimer::vocabulary()),
        checked(&crate::updater::SPEC, crate::updater::Updater::vocabulary()),
    ]
}

/// Every machine's declared table.
pub fn all() -> Vec<&'static MachineSpec> {
    registry().into_iter().map(|m| m.spec).collect()
}
