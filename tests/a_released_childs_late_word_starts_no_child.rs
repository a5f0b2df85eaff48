//! A session that went back to `not_connected` releases its children
//! (connection, reconnect supervisor, reboot timer, updater). What one of
//! them sent before it was stopped still reaches the session, ahead of
//! `ChildrenReleased`: a reboot that came due, the reader's answer to an
//! update command, the updater's next transfer command. None of it may ask
//! another child for anything — the shell would start a fresh child for
//! it, which would only ignore it, and the session would not be idle
//! again until that child was released too. What the updater reports (an
//! install that ended) is still published.

mod hub_support;

use readerlink::connection::{ConnectError, ConnectionEvent};
use readerlink::reader::Reader;
use readerlink::runtime::Harness;
use readerlink::session::{HubItem, Session, SessionInput, SessionOutput};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use readerlink::updater::{TransferCommand, UpdateError};

fn reader() -> Reader {
    hub_support::m2("A")
}

/// Outputs for a child: the connection, supervisor, reboot timer or
/// updater.
fn to_children(outputs: &[SessionOutput]) -> Vec<&SessionOutput> {
    outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                SessionOutput::ToConnection(_)
                    | SessionOutput::ToSupervisor(_)
                    | SessionOutput::ToRebootTimer(_)
                    | SessionOutput::ToUpdater(_)
            )
        })
        .collect()
}

#[test]
fn a_released_childs_late_word_starts_no_child_and_the_session_goes_idle() {
    let mut session = Harness::new(Session::new(reader()));
    let out = session.input(SessionInput::ConnectRequested {
        call: 1,
        reader: reader(),
        config: ConnectionConfig::new("tml_000001"),
    });
    assert_eq!(
        to_children(&out).len(),
        1,
        "the connect asks the connection: {out:?}"
    );
    let out = session.input(SessionInput::from(ConnectionEvent::ConnectFailed {
        error: ConnectError::LinkTimedOut { after_ms: 10_000 },
    }));
    assert_eq!(session.state(), "not_connected");
    assert!(out.contains(&SessionOutput::ReleaseChildren), "{out:?}");

    for late in [
        SessionInput::RebootDue,
        SessionInput::UpdateTransfer {
            command: TransferCommand::Commit,
        },
        SessionInput::UpdateBeginAcked,
        SessionInput::UpdateChunksAcked { up_to_offset: 4096 },
        SessionInput::UpdateCommitAcked,
        SessionInput::RunningVersionReported {
            software_version: "3.1.0".into(),
        },
        SessionInput::UpdateCancelRequested,
    ] {
        let out = session.input(late.clone());
        assert!(
            to_children(&out).is_empty(),
            "{late:?} in not_connected asks a released child: {out:?}"
        );
        assert_eq!(session.state(), "not_connected");
    }

    // The updater's word on the install the disconnect cut is published.
    let out = session.input(SessionInput::UpdateInstallFinished {
        update: None,
        error: Some(UpdateError::NotActivated),
    });
    assert!(to_children(&out).is_empty(), "{out:?}");
    let published = out.iter().any(|o| match o {
        SessionOutput::ToHub(report) => report.now.iter().any(|item| {
            matches!(
                item,
                HubItem::Publish(TerminalEvent::UpdateInstallFinished {
                    error: Some(UpdateError::NotActivated),
                    ..
                })
            )
        }),
        _ => false,
    });
    assert!(published, "the install's end is published: {out:?}");

    // Then the children are gone, and the session is idle: it handled the
    // one call it was routed.
    let out = session.input(SessionInput::ChildrenReleased);
    assert_eq!(out, [SessionOutput::ToHubIdle { inputs_seen: 1 }]);
}
