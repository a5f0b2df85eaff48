//! `SimWorld::open_raw_link`: a duplex ATT-payload pipe straight to a
//! simulated reader's wire-protocol peer (what a BlueZ D-Bus mock bridges
//! to), and the link semantics every central sees.

mod sim_support;

use std::time::Duration;

use futures::StreamExt;
use readerlink::protocol::{Command, ReaderMessage, Reassembler, Request, fragment};
use readerlink::transport::sim::{Fleet, SimWorld};
use readerlink::transport::{LinkEvent, LinkLossCause, ScanEvent, Transport, TransportError};
use sim_support::serial;

#[tokio::test(start_paused = true)]
async fn hello_over_a_raw_link_is_answered_with_reader_info() {
    let world = SimWorld::example();
    let mut raw = world.open_raw_link(&serial("STRM2-0001")).unwrap();
    assert_eq!(raw.att_payload, 244);
    for payload in fragment(&Request::new(9, Command::Hello).encode(), raw.att_payload) {
        raw.write(payload).await.unwrap();
    }
    let mut reassembler = Reassembler::new();
    let frame = loop {
        let Some(LinkEvent::NotificationReceived(payload)) = raw.next_event().await else {
            panic!("link lost")
        };
        if let Some(frame) = reassembler.push(&payload).unwrap() {
            break frame;
        }
    };
    let ReaderMessage::ReaderInfo { request_id, info } = ReaderMessage::decode(&frame).unwrap() else {
        panic!("not reader info")
    };
    assert_eq!(request_id, 9);
    assert_eq!(info.serial_number, serial("STRM2-0001"));
}

#[tokio::test(start_paused = true)]
async fn a_second_link_to_a_connected_reader_is_refused_and_unknown_serials_are_typed_errors() {
    let world = SimWorld::example();
    let _first = world.open_raw_link(&serial("STRM2-0001")).unwrap();
    assert!(matches!(
        world.open_raw_link(&serial("STRM2-0001")),
        Err(TransportError::ConnectFailed { .. })
    ));
    assert_eq!(
        world.open_raw_link(&serial("NOPE")).err(),
        Some(TransportError::UnknownPeripheral("NOPE".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn writes_after_a_lost_signal_vanish_until_the_loss_is_reported_then_fail() {
    let world = SimWorld::example();
    let mut raw = world.open_raw_link(&serial("STRM2-0001")).unwrap();
    world.lose_link(&serial("STRM2-0001"), None).unwrap();
    let hello = fragment(&Request::new(1, Command::Hello).encode(), raw.att_payload).remove(0);
    assert_eq!(
        raw.write(hello.clone()).await,
        Ok(()),
        "the central does not know yet"
    );
    assert_eq!(
        raw.next_event().await,
        Some(LinkEvent::LinkLost(LinkLossCause::SignalLost))
    );
    assert_eq!(raw.next_event().await, None);
    assert!(matches!(raw.write(hello).await, Err(TransportError::LinkDown(_))));
}

#[tokio::test(start_paused = true)]
async fn disconnecting_ends_the_events_and_lets_the_reader_advertise_again() {
    let world = SimWorld::example();
    let raw = world.open_raw_link(&serial("WPC32-0001")).unwrap();
    let link = raw.into_link();
    let mut events = link.events;
    link.writer.disconnect().await.unwrap();
    assert_eq!(
        events.next().await,
        Some(LinkEvent::LinkLost(LinkLossCause::LocalClosed))
    );
    assert_eq!(events.next().await, None);
    assert!(!world.reader_state(&serial("WPC32-0001")).unwrap().connected);
    link.writer
        .disconnect()
        .await
        .expect("disconnecting twice is harmless");
    // Dropping a link closes it too.
    drop(world.open_raw_link(&serial("WPC32-0001")).unwrap());
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(world.open_raw_link(&serial("WPC32-0001")).is_ok());
}

/// The first advertisements the scan hears, as (peripheral, rssi, long form).
async fn first_advertisements(fleet: Fleet) -> Vec<(String, i16, bool)> {
    let world = SimWorld::new(fleet);
    let transport = world.transport();
    let scan = transport.scan().await.unwrap();
    scan.take(40)
        .map(|event| match event {
            ScanEvent::AdvertisementSeen(ad) => (ad.peripheral, ad.rssi, ad.reader.battery_percent.is_some()),
            other => panic!("{other:?}"),
        })
        .collect()
        .await
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_world_and_another_seed_another() {
    let a = first_advertisements(Fleet::example()).await;
    let b = first_advertisements(Fleet::example()).await;
    assert_eq!(a, b);
    let mut other = Fleet::example();
    other.seed += 1;
    assert_ne!(
        a,
        first_advertisements(other).await,
        "the RSSI jitter follows the seed"
    );
}
