//! Once a disconnected reader's session is released (the actor count back
//! to its baseline), the hub answers every call about the reader itself,
//! as the idle session answered it: each call gets its answer at once, no
//! call hangs, the statuses and the event stream read as before, and the
//! reader connects again. Its own test binary: the actor count is
//! process-wide.

mod common;
mod terminal_support;

use futures::StreamExt;
use readerlink::cancelable::CancelOutcome;
use readerlink::reader::ConnectionStatus;
use readerlink::runtime::{Tracer, live_machine_actors, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalError};
use terminal_support::rig;

#[test]
fn every_call_about_a_released_reader_is_answered_as_an_idle_session_answered_it() {
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let readers = rig.discover(&["STRM2-0001"]).await;
        let reader = &readers[0];
        let serial = &reader.serial_number;
        let before = live_machine_actors();

        rig.terminal
            .connect_reader(reader, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the connect succeeds");
        let transaction = rig
            .terminal
            .start_transaction(serial)
            .await
            .expect("a transaction starts on the connected reader");
        rig.terminal.disconnect_reader(serial).await.expect("disconnect");
        rig.settle().await;
        assert_eq!(live_machine_actors(), before, "the reader's session was released");

        let mut events = rig.terminal.events_lossless();
        let not_connected = |answer: Result<(), TerminalError>, call: &str| match answer {
            Err(TerminalError::NotConnected { serial_number }) => assert_eq!(&serial_number, serial),
            other => panic!("{call}: {other:?}, not not_connected"),
        };
        not_connected(rig.terminal.disconnect_reader(serial).await, "disconnect_reader");
        not_connected(rig.terminal.reboot_reader(serial).await, "reboot_reader");
        not_connected(
            rig.terminal.install_available_update(serial).await,
            "install_available_update",
        );
        not_connected(
            rig.terminal.start_transaction(serial).await.map(|_| ()),
            "start_transaction",
        );
        assert_eq!(
            transaction.end().await,
            Ok(()),
            "a transaction that ended with the link is ended already"
        );
        assert_eq!(
            rig.terminal.cancel_reconnect(serial).await,
            CancelOutcome::AlreadyEnded
        );
        assert_eq!(rig.terminal.reader_status(serial), ConnectionStatus::NotConnected);
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        assert!(rig.terminal.connected_readers().is_empty());
        rig.settle().await;
        assert_eq!(live_machine_actors(), before, "no call started an actor");
        let mut late = Vec::new();
        while let Some(Some(event)) = futures::FutureExt::now_or_never(events.next()) {
            late.push(event);
        }
        assert!(
            late.is_empty(),
            "calls refused in place publish nothing: {late:?}"
        );

        let again = rig
            .terminal
            .connect_reader(reader, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the released reader connects again");
        assert_eq!(
            rig.terminal.reader_status(&again.serial_number),
            ConnectionStatus::Connected
        );
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Connected);
        rig.terminal
            .start_transaction(serial)
            .await
            .expect("a transaction starts on its fresh session")
            .end()
            .await
            .expect("and ends");
    });
}
