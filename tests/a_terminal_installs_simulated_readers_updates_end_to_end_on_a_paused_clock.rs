//! The public `Terminal` end to end on a paused clock, with the reference's
//! simulated update presets: the backend's catalog answers each reader from
//! its fleet preset, the image is downloaded, verified against its signed
//! manifest (R19) and sent to the simulated reader over the wire protocol
//! (R13–R18).

mod common;
mod terminal_support;

use std::time::Duration;

use readerlink::reader::ConnectionStatus;
use readerlink::runtime::{Tracer, virtual_time_system};
use readerlink::terminal::{ConnectionConfig, TerminalEvent};
use readerlink::transport::sim::Fleet;
use readerlink::updater::{SIMULATED_UPDATE_VERSION, SimulatedUpdatePreset};
use terminal_support::{Rig, rig_of};

const M2: &str = "STRM2-0001";

/// The example fleet with the M2 on `preset`.
fn fleet(preset: SimulatedUpdatePreset) -> Fleet {
    let mut fleet = Fleet::example();
    for reader in &mut fleet.readers {
        if reader.serial.as_str() == M2 {
            reader.update = preset;
        }
    }
    fleet
}

fn progress(rig: &Rig) -> Vec<f32> {
    rig.events()
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::UpdateInstallProgress { progress, .. } => Some(*progress),
            _ => None,
        })
        .collect()
}

/// The M2's statuses, in order.
fn statuses(rig: &Rig) -> Vec<ConnectionStatus> {
    rig.events()
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::ReaderStatusChanged {
                serial_number,
                status,
            } if serial_number.as_str() == M2 => Some(*status),
            _ => None,
        })
        .collect()
}

fn position(rig: &Rig, wanted: impl Fn(&TerminalEvent) -> bool) -> Option<usize> {
    rig.events().iter().position(wanted)
}

#[test]
fn a_required_update_installs_inside_the_connect_with_monotonic_progress_then_the_reader_connects() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::Required), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the connect succeeds once the update is installed");
        assert_eq!(
            connected.software_version.as_deref(),
            Some(SIMULATED_UPDATE_VERSION),
            "the connect answers with the reader on its new software"
        );
        let state = rig.world.reader_state(&m2.serial_number).unwrap();
        assert_eq!(
            state.software_version, SIMULATED_UPDATE_VERSION,
            "the reader runs it"
        );

        let progress = progress(&rig);
        assert!(
            progress.len() > 10,
            "progress is reported as the install goes: {progress:?}"
        );
        assert!(
            progress.windows(2).all(|w| w[0] <= w[1]),
            "monotonic: {progress:?}"
        );
        assert!(progress.iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(progress.last(), Some(&1.0));

        assert_eq!(
            statuses(&rig),
            vec![ConnectionStatus::Connecting, ConnectionStatus::Connected],
            "Connecting throughout the install (R13)"
        );
        let finished = position(&rig, |e| {
            matches!(
                e,
                TerminalEvent::UpdateInstallFinished {
                    error: None,
                    update: Some(_),
                    ..
                }
            )
        })
        .expect("the install finished");
        let status_connected = position(&rig, |e| {
            matches!(
                e,
                TerminalEvent::ReaderStatusChanged {
                    status: ConnectionStatus::Connected,
                    ..
                }
            )
        })
        .unwrap();
        assert!(finished < status_connected, "Connected only after the install");
        insta::assert_snapshot!("terminal_required_update_at_connect_events", rig.event_log());
    });
}

#[test]
fn a_required_update_with_the_battery_below_half_fails_the_connect() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::LowBattery), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let error = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect_err("no install below 50 %, and the reader never ran the latest software (R14, R15)");
        assert_eq!(error.code(), "battery_too_low");
        rig.settle().await;
        assert_eq!(
            rig.terminal.reader_status(&m2.serial_number),
            ConnectionStatus::NotConnected
        );
        assert!(!statuses(&rig).contains(&ConnectionStatus::Connected));
        let state = rig.world.reader_state(&m2.serial_number).unwrap();
        assert_eq!(state.software_version, "3.1.0", "the old software stays");
        insta::assert_snapshot!("terminal_required_update_low_battery_events", rig.event_log());
    });
}

#[test]
fn a_required_update_that_fails_within_the_grace_lets_the_connect_succeed_and_is_retried() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::LowBatterySucceedConnect), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the reader ran the latest software a day ago: the connect succeeds (R15)");
        assert_eq!(connected.software_version.as_deref(), Some("3.1.0"));
        assert!(rig.events().iter().any(|e| matches!(
            e,
            TerminalEvent::UpdateInstallFinished { error: Some(error), .. } if error.code() == "battery_too_low"
        )));
        insta::assert_snapshot!("terminal_required_update_low_battery_succeed_connect_events", rig.event_log());

        // Charged, the next connect installs it.
        rig.terminal.disconnect_reader(&m2.serial_number).await.unwrap();
        rig.world.set_battery(&m2.serial_number, 0.9).unwrap();
        let again = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the retried install succeeds");
        assert_eq!(again.software_version.as_deref(), Some(SIMULATED_UPDATE_VERSION));
    });
}

#[test]
fn cancelling_a_required_install_fails_the_connect_keeps_the_old_software_and_the_next_connect_retries() {
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::Required), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let mut events = rig.terminal.events_lossless();
        let connect = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id));
        let cancel = async {
            use futures::StreamExt;
            while let Some(event) = events.next().await {
                if let TerminalEvent::UpdateInstallProgress { progress, .. } = event {
                    if progress > 0.3 {
                        break;
                    }
                }
            }
            let cancelable = rig
                .events()
                .into_iter()
                .find_map(|e| match e {
                    TerminalEvent::UpdateInstallStarted { cancelable, .. } => cancelable,
                    _ => None,
                })
                .expect("a config update can be cancelled (R16)");
            cancelable.cancel().await
        };
        let (result, _) = futures::join!(connect, cancel);
        assert_eq!(
            result.expect_err("a cancelled required update fails the connect").code(),
            "unsupported_reader_version"
        );
        rig.settle().await;
        let state = rig.world.reader_state(&m2.serial_number).unwrap();
        assert_eq!(state.software_version, "3.1.0", "the old software stays");
        assert!(rig.events().iter().any(|e| matches!(
            e,
            TerminalEvent::UpdateInstallFinished { error: Some(error), .. } if error.code() == "update_canceled"
        )));

        tokio::time::sleep(Duration::from_secs(2)).await;
        let again = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the next connect installs it");
        assert_eq!(again.software_version.as_deref(), Some(SIMULATED_UPDATE_VERSION));
    });
}

#[test]
fn an_optional_update_is_reported_kept_on_the_reader_and_installed_on_request() {
    let _snapshots = common::snapshots();
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::Available), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("an optional update does not hold the connect");
        assert_eq!(connected.software_version.as_deref(), Some("3.1.0"));
        rig.settle().await;
        let available = rig
            .terminal
            .connected_reader()
            .and_then(|r| r.available_update)
            .expect("the reader keeps its available update (R17)");
        assert_eq!(available.version, SIMULATED_UPDATE_VERSION);

        rig.terminal
            .install_available_update(&m2.serial_number)
            .await
            .expect("the updater is asked");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let reader = rig.terminal.connected_reader().unwrap();
        assert_eq!(reader.software_version.as_deref(), Some(SIMULATED_UPDATE_VERSION));
        assert_eq!(
            reader.available_update, None,
            "installed: nothing left to install"
        );
        assert_eq!(
            rig.world
                .reader_state(&m2.serial_number)
                .unwrap()
                .software_version,
            SIMULATED_UPDATE_VERSION
        );
        assert_eq!(rig.terminal.connection_status(), ConnectionStatus::Connected);

        rig.terminal
            .install_available_update(&m2.serial_number)
            .await
            .expect("asked again");
        rig.settle().await;
        assert!(
            matches!(
                rig.events().last(),
                Some(TerminalEvent::UpdateInstallFinished { update: None, .. })
            ),
            "nothing pending: finished with no update"
        );
        insta::assert_snapshot!(
            "terminal_optional_update_installed_on_request_events",
            rig.event_log()
        );
    });
}

#[test]
fn an_image_signed_by_a_key_the_app_did_not_pin_is_rejected_and_nothing_reaches_the_reader() {
    virtual_time_system().block_on(async {
        let other = readerlink::firmware::SigningKey::from_bytes(&[9; 32]).public_key();
        for (trusted, case) in [
            (readerlink::firmware::TrustedKeys::new(), "no key pinned"),
            ([other].into_iter().collect(), "another key pinned"),
        ] {
            let rig = rig_of(fleet(SimulatedUpdatePreset::Required), Tracer::off(), move |b| {
                b.trusted_update_keys(trusted)
            });
            let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
            let error = rig
                .terminal
                .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
                .await
                .expect_err("a required update that cannot be trusted fails the connect (R15, R19)");
            assert_eq!(error.code(), "update_image_rejected", "{case}");
            assert!(
                rig.events().iter().any(|e| matches!(
                    e,
                    TerminalEvent::UpdateInstallFinished { error: Some(error), .. }
                        if matches!(error, readerlink::updater::UpdateError::ImageRejected {
                            check: readerlink::updater::IntegrityCheck::Signature
                        })
                )),
                "{case}: the signature check is named"
            );
            assert!(
                progress(&rig).iter().all(|p| *p == 0.0),
                "{case}: no byte was sent"
            );
            let state = rig.world.reader_state(&m2.serial_number).unwrap();
            assert_eq!(state.software_version, "3.1.0", "{case}");
        }
    });
}

#[test]
fn a_required_update_whose_new_image_fails_its_trial_is_not_activated_and_the_next_connect_installs_it() {
    virtual_time_system().block_on(async {
        let rig = rig_of(fleet(SimulatedUpdatePreset::Required), Tracer::off(), |b| b);
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        rig.world.fail_next_confirm(&m2.serial_number).unwrap();
        let error = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect_err("R19: an image written and committed but never running is no install");
        assert_eq!(error.code(), "update_not_activated", "{error}");
        rig.settle().await;
        let finished: Vec<_> = rig
            .events()
            .into_iter()
            .filter_map(|e| match e {
                TerminalEvent::UpdateInstallFinished { error, .. } => Some(error.map(|e| e.code())),
                _ => None,
            })
            .collect();
        assert_eq!(finished, [Some("update_not_activated")]);
        assert!(
            progress(&rig).iter().all(|p| *p < 1.0),
            "the install never reported it was whole"
        );
        let state = rig.world.reader_state(&m2.serial_number).unwrap();
        assert_ne!(
            state.software_version, SIMULATED_UPDATE_VERSION,
            "the reader went back to its old software"
        );

        // Once it is up again, the next connect installs the update and it runs.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let [m2] = rig.discover(&[M2]).await.try_into().unwrap();
        let connected = rig
            .terminal
            .connect_reader(&m2, ConnectionConfig::new(&rig.shop.id))
            .await
            .expect("the retried install activates");
        assert_eq!(
            connected.software_version.as_deref(),
            Some(SIMULATED_UPDATE_VERSION)
        );
    });
}
