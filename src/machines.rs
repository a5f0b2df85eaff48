//! The registry of every machine in the crate, for `readerlink diagrams`
//! and the tests that keep `state-diagrams/` honest.

use crate::runtime::MachineSpec;

/// Every machine's declared table. Add a machine here when you add one.
pub fn all() -> Vec<&'static MachineSpec> {
    vec![
        &crate::runtime::example::SPEC,
        &crate::scanner::SPEC,
        &crate::connection::SPEC,
        &crate::terminal::SPEC,
        &crate::session::SPEC,
        &crate::reconnect::SPEC,
    ]
}
