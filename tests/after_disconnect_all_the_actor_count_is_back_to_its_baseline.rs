//! Actors are released when a reader's connection ends for good: after
//! `disconnect_all` each reader that was connected has no actor left —
//! its connection, reconnect supervisor, 24-hour reboot timer and updater
//! stop, then its session once it is idle — so the actor count is back to
//! what it was before the connects. Each starts again with the next
//! connect. Its own test binary: the actor count is process-wide.

mod common;
mod terminal_support;

use futures::StreamExt;
use readerlink::reader::ConnectionStatus;
use readerlink::runtime::{Tracer, live_machine_actors, virtual_time_system};
use readerlink::terminal::ConnectionConfig;
use terminal_support::rig;

#[test]
fn after_disconnect_all_no_reader_keeps_an_actor_and_each_connects_again() {
    virtual_time_system().block_on(async {
        let rig = rig(Tracer::off());
        let readers = rig.discover(&["STRM2-0001", "WPC32-0001"]).await;
        let before = live_machine_actors();

        for reader in &readers {
            rig.terminal
                .connect_reader(reader, ConnectionConfig::new(&rig.shop.id))
                .await
                .expect("the connect succeeds");
        }
        rig.settle().await;
        let connected = live_machine_actors();
        assert!(
            connected >= before + 2 * 3,
            "each connected reader runs a session, a connection and a reboot timer at least: {before} -> {connected}"
        );

        rig.terminal.disconnect_all().await.expect("disconnect all");
        rig.settle().await;
        assert_eq!(
            live_machine_actors(),
            before,
            "no actor of a disconnected reader is left ({connected} while connected)"
        );
        for reader in &readers {
            assert_eq!(
                rig.terminal.reader_status(&reader.serial_number),
                ConnectionStatus::NotConnected
            );
        }
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::NotConnected);
        assert!(rig.terminal.connected_readers().is_empty());

        let again = rig
            .terminal
            .connect_reader(&readers[0], ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("a released reader connects again");
        assert_eq!(
            rig.terminal.reader_status(&again.serial_number),
            ConnectionStatus::Connected
        );
        let mut events = rig.terminal.events_lossless();
        rig.world
            .lose_link(&again.serial_number, Some(std::time::Duration::from_secs(3)))
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        assert_eq!(
            rig.terminal.reader_status(&again.serial_number),
            ConnectionStatus::Connected,
            "its supervisor, started again, reconnects it"
        );
        let mut kinds = Vec::new();
        while let Some(Some(event)) = futures::FutureExt::now_or_never(events.next()) {
            kinds.push(format!("{event:?}").split([' ', '{']).next().unwrap_or_default().to_owned());
        }
        assert!(
            kinds.iter().any(|k| k == "ReconnectSucceeded"),
            "the link was lost and won back: {kinds:?}"
        );
    });
}
