//! Restart intensity, wired: a connection machine that panics is
//! replaced by a fresh one once in five seconds (its lost session is
//! reported, for its owner to end); past that its actor stops and
//! reports it failed for good, while other readers' connections keep
//! running. The panic comes from
//! `ConnectionInput::PanicInjected`, which only unit-test builds have.

use std::cell::RefCell;
use std::time::Duration;

use super::*;
use crate::backend::{BackendCore, CreateLocation, LocalBackend};
use crate::reader::{DeviceType, Reader};
use crate::runtime::shell::{CurrentState, virtual_time_system};
use crate::transport::sim::SimWorld;

fn reader(serial: &str, device_type: DeviceType) -> Reader {
    Reader {
        serial_number: serial.into(),
        device_type,
        software_version: None,
        battery: None,
        rssi: None,
        peripheral: serial.into(),
        available_update: None,
    }
}

type Reports = Rc<RefCell<Vec<ConnectionEvent>>>;

fn connection(
    world: &SimWorld,
    backend: &LocalBackend,
    serial: &str,
    restarts: RestartIntensity,
) -> (Addr<ConnectionActor>, Reports) {
    let reports: Reports = Rc::default();
    let log = reports.clone();
    let addr = start_connection(ConnectionParts {
        serial: serial.into(),
        transport: Arc::new(world.transport()),
        backend: Arc::new(backend.clone()),
        report: Rc::new(move |event| log.borrow_mut().push(event)),
        tracer: Tracer::off(),
        clock: Clock::start(),
        restarts,
        image: ImageSlot::default(),
    });
    (addr, reports)
}

fn take(reports: &Reports) -> Vec<ConnectionEvent> {
    std::mem::take(&mut *reports.borrow_mut())
}

fn connected(events: &[ConnectionEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ConnectionEvent::Connected { .. }))
}

#[test]
fn one_panic_in_five_seconds_restarts_the_machine_a_second_stops_the_actor_and_others_keep_running() {
    virtual_time_system().block_on(async {
        let world = SimWorld::example();
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let shop = backend
            .core()
            .lock()
            .unwrap()
            .create_location(CreateLocation::new("Shop", "1 Main St", "US"))
            .unwrap();
        let connect = |r: &Reader| {
            Deliver::from(
                "test",
                ConnectionInput::ConnectRequested {
                    reader: r.clone(),
                    location: shop.id.clone(),
                },
            )
        };
        let settle = || tokio::time::sleep(Duration::from_secs(2));
        let m2 = reader("STRM2-0001", DeviceType::StripeM2);
        let wisepad = reader("WPC32-0001", DeviceType::WisePad3);
        let (m2_actor, m2_reports) = connection(&world, &backend, "STRM2-0001", RestartIntensity::default());
        let (wp_actor, wp_reports) = connection(&world, &backend, "WPC32-0001", RestartIntensity::default());
        m2_actor.do_send(connect(&m2));
        wp_actor.do_send(connect(&wisepad));
        settle().await;
        assert!(connected(&take(&m2_reports)));
        assert!(connected(&take(&wp_reports)));

        // First panic: a fresh machine; the lost session is reported
        // (the owner, which knows it was connected, ends it).
        m2_actor.do_send(Deliver::from("test", ConnectionInput::PanicInjected));
        settle().await;
        assert!(matches!(
            &take(&m2_reports)[..],
            [ConnectionEvent::MachineFailed { for_good: false, .. }]
        ));
        assert_eq!(m2_actor.send(CurrentState).await.unwrap(), "disconnected");
        m2_actor.do_send(connect(&m2));
        settle().await;
        assert!(connected(&take(&m2_reports)), "the fresh machine connects");

        // Second panic within 5 s of the first: past the intensity.
        m2_actor.do_send(Deliver::from("test", ConnectionInput::PanicInjected));
        settle().await;
        let reports = take(&m2_reports);
        assert!(
            matches!(
                &reports[..],
                [ConnectionEvent::MachineFailed { panic, for_good: true }] if panic.contains("injected")
            ),
            "{reports:?}"
        );
        assert!(!m2_actor.connected(), "the actor stopped");

        // The other reader's connection is untouched and still answers.
        assert_eq!(wp_actor.send(CurrentState).await.unwrap(), "idle");
        assert!(take(&wp_reports).iter().all(|e| !matches!(
            e,
            ConnectionEvent::Disconnected { .. } | ConnectionEvent::MachineFailed { .. }
        )));
    });
}

#[test]
fn panics_further_apart_than_the_window_are_each_restarted() {
    virtual_time_system().block_on(async {
        let world = SimWorld::example();
        let backend = LocalBackend::new(BackendCore::in_memory(1));
        let restarts = RestartIntensity {
            max_restarts: 2,
            within: Duration::from_secs(5),
        };
        let (actor, reports) = connection(&world, &backend, "STRM2-0001", restarts);
        for _ in 0..5 {
            actor.do_send(Deliver::from("test", ConnectionInput::PanicInjected));
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert!(actor.connected(), "two in 5 s are allowed");
        }
        // Each lost (here: empty) session is reported; the owner,
        // which knows nothing ran, ignores it.
        assert!(
            take(&reports)
                .iter()
                .all(|e| matches!(e, ConnectionEvent::MachineFailed { for_good: false, .. }))
        );
        for _ in 0..3 {
            actor.do_send(Deliver::from("test", ConnectionInput::PanicInjected));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!actor.connected(), "more than two in 5 s stop it");
    });
}
