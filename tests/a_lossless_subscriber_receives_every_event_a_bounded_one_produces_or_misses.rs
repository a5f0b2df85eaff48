//! `Terminal::events_lossless` receives every event, in the same order, that
//! the bounded `Terminal::events` would have: all of them when the bounded
//! one keeps up, and, when it falls behind, also the ones it reports only as
//! `EventsMissed { count }` (R21, on a paused clock).

mod terminal_support;

use futures::StreamExt;
use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use terminal_support::rig_of;

use readerlink::transport::sim::Fleet;

/// Connects the example fleet's four readers at once, inserts and removes a
/// card on each, and returns what a bounded subscriber (of `capacity`, read
/// only at the end, as a slow app would) and a lossless one received.
fn run(capacity: usize) -> (Vec<TerminalEvent>, Vec<TerminalEvent>) {
    virtual_time_system().block_on(async {
        let rig = rig_of(Fleet::example(), Tracer::off(), |builder| {
            builder.event_capacity(capacity)
        });
        let mut bounded = rig.terminal.events();
        let mut lossless = rig.terminal.events_lossless();
        let serials: Vec<String> = rig.world.serials().iter().map(|s| s.to_string()).collect();
        let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
        let readers = rig.discover(&serials).await;
        let config = ConnectionConfig::new(&rig.shop.id);
        let connects = readers
            .iter()
            .map(|r| rig.terminal.connect_reader(r, config.clone()));
        for result in futures::future::join_all(connects).await {
            result.expect("every reader connects");
        }
        for reader in &readers {
            rig.world.insert_card(&reader.serial_number).unwrap();
            rig.settle().await;
            rig.world.remove_card(&reader.serial_number).unwrap();
            rig.settle().await;
        }
        rig.settle().await;
        let drain = |stream: &mut futures::stream::BoxStream<'static, TerminalEvent>| {
            let mut events = Vec::new();
            while let Some(Some(event)) = futures::FutureExt::now_or_never(stream.next()) {
                events.push(event);
            }
            events
        };
        (drain(&mut bounded), drain(&mut lossless))
    })
}

#[test]
fn a_lossless_subscriber_gets_what_a_bounded_one_that_keeps_up_gets() {
    let (bounded, lossless) = run(1 << 16);
    assert!(
        !bounded
            .iter()
            .any(|e| matches!(e, TerminalEvent::EventsMissed { .. })),
        "a large enough capacity keeps up"
    );
    let count = |kind: fn(&TerminalEvent) -> bool| bounded.iter().filter(|e| kind(e)).count();
    assert_eq!(
        count(|e| matches!(e, TerminalEvent::Connected { .. })),
        4,
        "{bounded:#?}"
    );
    assert_eq!(
        count(|e| matches!(
            e,
            TerminalEvent::CardInserted { .. } | TerminalEvent::CardRemoved { .. }
        )),
        8,
        "{bounded:#?}"
    );
    assert_eq!(lossless, bounded);
}

#[test]
fn a_lossless_subscriber_gets_the_events_a_bounded_one_that_fell_behind_missed() {
    const CAPACITY: usize = 16;
    let (bounded, lossless) = run(CAPACITY);
    let Some(TerminalEvent::EventsMissed { count }) = bounded.first() else {
        panic!("the bounded subscriber fell behind: {bounded:#?}");
    };
    let missed = usize::try_from(*count).unwrap();
    assert_eq!(bounded.len() - 1, CAPACITY, "it kept only the newest events");
    assert!(
        !lossless
            .iter()
            .any(|e| matches!(e, TerminalEvent::EventsMissed { .. })),
        "a lossless stream never misses"
    );
    assert_eq!(
        lossless.len(),
        missed + CAPACITY,
        "the lossless subscriber has exactly the missed ones besides"
    );
    assert_eq!(&lossless[missed..], &bounded[1..], "and the kept ones, in order");
}
