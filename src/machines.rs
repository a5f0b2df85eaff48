//! The registry of every machine in the crate, for `readerlink diagrams`
//! and the tests that keep `state-diagrams/` honest.

use crate::runtime::{MachineSpec, Vocabulary};

/// One machine as the registry knows it.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// Its declared table.
    pub spec: &'static MachineSpec,
    /// The names its types give (input, state and superstate variants),
    /// to check the table against; `None` for a machine not yet run
    /// through [`crate::runtime::StatigMachine`].
    pub vocabulary: Option<Vocabulary>,
}

/// Every machine. Add a machine here when you add one.
pub fn registry() -> Vec<Registered> {
    let checked = |spec, vocabulary| Registered {
        spec,
        vocabulary: Some(vocabulary),
    };
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
        Registered {
            spec: &crate::terminal::SPEC,
            vocabulary: None,
        },
        checked(&crate::reconnect::SPEC, crate::reconnect::Reconnect::vocabulary()),
        Registered {
            spec: &crate::session::SPEC,
            vocabulary: None,
        },
        Registered {
            spec: &crate::reboot::SPEC,
            vocabulary: None,
        },
    ]
}

/// Every machine's declared table.
pub fn all() -> Vec<&'static MachineSpec> {
    registry().into_iter().map(|m| m.spec).collect()
}
