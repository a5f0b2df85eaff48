//! Reconnect at start (R11) on the hub's Harness: what it cannot start is
//! answered at once with a typed error, and the search is the machine's
//! own declared timer (so a trace holds it).

mod hub_support;

use std::time::Duration;

use hub_support::{HubRig, answer, connected, m2};
use readerlink::scanner::DiscoveryError;
use readerlink::store::LastConnected;
use readerlink::terminal::{TerminalEvent, TerminalInput, TerminalOutput};
use readerlink::transport::TransportError;

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

#[test]
fn a_discovery_that_fails_ends_the_search_at_once_and_a_superseded_one_does_not() {
    let mut h = HubRig::new();
    h.input(TerminalInput::ReconnectSavedReaderRequested {
        call: 1,
        saved: saved(),
        timeout_ms: 5_000,
    });
    h.note("the app's own discovery supersedes it: the app's lists may still show the reader");
    h.input(TerminalInput::SavedReaderDiscoveryFailed {
        error: DiscoveryError::Superseded,
    });
    assert_eq!(h.hub.state(), "finding_saved_reader");
    assert_eq!(answer(&h, 1), None);

    h.note("the adapter is off");
    let from = h.hub.outputs().len();
    h.input(TerminalInput::SavedReaderDiscoveryFailed {
        error: DiscoveryError::Transport(TransportError::AdapterUnavailable("powered off".into())),
    });
    assert_eq!(h.hub.state(), "idle");
    assert_eq!(
        answer(&h, 1).as_deref(),
        Some("discovery_transport_failed"),
        "not saved_reader_not_found, which a reader off answers"
    );
    assert!(
        h.published(from)
            .iter()
            .any(|e| matches!(e, TerminalEvent::SavedReaderNotFound { .. }))
    );
    assert!(
        h.hub.armed_timers().is_empty(),
        "the search timer was cancelled: {:?}",
        h.hub.armed_timers()
    );
}
