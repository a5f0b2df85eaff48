//! Reconnect at start (R11) on the hub's Harness: what it cannot start is
//! answered at once with a typed error, and the search is the machine's
//! own declared timer (so a trace holds it).

mod hub_support;

use std::time::Duration;

use hub_support::{HubRig, answer, connected, m2};
use readerlink::store::LastConnected;
use readerlink::terminal::{TerminalInput, TerminalOutput};

const A: &str = "STRM2-0001";

fn saved() -> Option<LastConnected> {
    Some(LastConnected {
        serial_number: A.into(),
        location: "tml_000001".into(),
    })
}

#[test]
fn no_saved_reader_and_a_connected_saved_reader_are_refused_at_once() {
    let mut h = HubRig::new();
    h.input(TerminalInput::ReconnectSavedReaderRequested {
        call: 1,
        saved: None,
        timeout_ms: 5_000,
    });
    assert_eq!(answer(&h, 1).as_deref(), Some("no_saved_reader"));

    let mut h = connected(A);
    h.input(TerminalInput::ReconnectSavedReaderRequested {
        call: 2,
        saved: saved(),
        timeout_ms: 5_000,
    });
    assert_eq!(answer(&h, 2).as_deref(), Some("already_connected"));
    assert_eq!(h.hub.state(), "idle");
}

#[test]
fn a_second_reconnect_at_start_is_refused_and_the_first_times_out_on_its_declared_timer() {
    let mut h = HubRig::new();
    h.input(TerminalInput::ReconnectSavedReaderRequested {
        call: 1,
        saved: saved(),
        timeout_ms: 5_000,
    });
    assert_eq!(h.hub.state(), "finding_saved_reader");
    assert!(
        h.hub
            .outputs()
            .iter()
            .any(|(_, o)| matches!(o, TerminalOutput::StartDiscovery(_)))
    );
    h.input(TerminalInput::ReconnectSavedReaderRequested {
        call: 2,
        saved: saved(),
        timeout_ms: 5_000,
    });
    assert_eq!(
        answer(&h, 2).as_deref(),
        Some("saved_reader_reconnect_in_progress")
    );

    h.note("a discovery lists another reader only");
    h.input(TerminalInput::ReadersDiscovered {
        readers: vec![m2("STRM2-0002")],
    });
    assert_eq!(h.hub.state(), "finding_saved_reader");
    h.hub.advance(Duration::from_secs(5));
    assert_eq!(h.hub.state(), "idle");
    assert_eq!(answer(&h, 1).as_deref(), Some("saved_reader_not_found"));
    assert!(
        h.hub
            .outputs()
            .iter()
            .any(|(_, o)| matches!(o, TerminalOutput::StopDiscovery))
    );
}
