//! R19: a transfer the reader acknowledged, commit included, is not yet a
//! success. When the new image does not confirm itself after its first
//! boot, the reader falls back to its old slot; the host, reading the
//! version after the reconnect's hello, reports the install as not
//! activated.

mod firmware_support;
mod sim_support;

use firmware_support::*;
use readerlink::firmware::{NotActivated, confirm_running};
use readerlink::protocol::Slot;
use readerlink::transport::sim::reader::CONFIRM_AFTER_MS;
use sim_support::{Central, serial};

#[tokio::test(start_paused = true)]
async fn an_image_that_never_confirms_is_reported_as_not_activated_and_the_old_one_runs() {
    let world = world();
    world.fail_next_confirm(&serial(SERIAL)).unwrap();
    let (signed, image) = release(NEW);
    let mut central = Central::connect_in(&world, SERIAL).await;
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();

    // The upload completes: every chunk and the commit are acknowledged,
    // and the new image is booted, on trial.
    assert_eq!(
        write_install(&mut central, &prepared, |_| true).await,
        Reached::Committed
    );
    let on_trial = world.reader_state(&serial(SERIAL)).unwrap();
    assert!(on_trial.on_trial, "{on_trial:?}");
    assert_eq!(on_trial.software_version, NEW);

    // It does not confirm itself: it crashes, the link goes without a
    // goodbye, and the reader reboots into the old slot.
    let (said, lost) = central.until_lost().await;
    assert!(lost.is_some(), "the link went: {said:?}");
    let mut central = connect_when_up(&world).await;
    let info = hello(&mut central).await;
    assert_eq!((info.active_slot, info.software_version.as_str()), (Slot::A, OLD));
    assert_eq!(
        confirm_running(&prepared.manifest, &info.software_version),
        Err(NotActivated {
            installed: NEW.into(),
            running: OLD.into()
        })
    );
    let state = world.reader_state(&serial(SERIAL)).unwrap();
    assert_eq!(
        state.inactive_image, None,
        "the image that failed its trial is erased"
    );

    // Only the next trial fails: installing again activates.
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();
    assert_eq!(
        write_install(&mut central, &prepared, |_| true).await,
        Reached::Committed
    );
    wait(CONFIRM_AFTER_MS + 100).await;
    let info = hello(&mut central).await;
    assert_eq!(
        confirm_running(&prepared.manifest, &info.software_version),
        Ok(())
    );
    assert_eq!(info.active_slot, Slot::B);
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_image_survives_a_reboot() {
    let world = world();
    let (signed, image) = release(NEW);
    let mut central = Central::connect_in(&world, SERIAL).await;
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();
    assert_eq!(
        write_install(&mut central, &prepared, |_| true).await,
        Reached::Committed
    );
    wait(CONFIRM_AFTER_MS + 100).await;
    world.cut_power(&serial(SERIAL)).unwrap();
    drop(central);
    world.power_on(&serial(SERIAL)).unwrap();
    let mut central = connect_when_up(&world).await;
    let info = hello(&mut central).await;
    assert_eq!((info.active_slot, info.software_version.as_str()), (Slot::B, NEW));
    assert_eq!(
        confirm_running(&prepared.manifest, &info.software_version),
        Ok(())
    );
}

#[tokio::test(start_paused = true)]
async fn a_reboot_asked_for_during_the_trial_falls_back_to_the_old_slot() {
    let world = world();
    let (signed, image) = release(NEW);
    let mut central = Central::connect_in(&world, SERIAL).await;
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();
    assert_eq!(
        write_install(&mut central, &prepared, |_| true).await,
        Reached::Committed
    );
    assert!(world.reader_state(&serial(SERIAL)).unwrap().on_trial);
    // A new install cannot begin while the trial runs.
    assert!(matches!(
        central.request(prepared.begin(1)).await,
        Some(readerlink::protocol::ReaderMessage::Error {
            code: readerlink::protocol::ErrorCode::Busy,
            ..
        })
    ));
    central
        .send(readerlink::protocol::Command::Reboot {
            kind: readerlink::protocol::RebootKind::Requested,
        })
        .await;
    central.until_lost().await;
    let mut central = connect_when_up(&world).await;
    let info = hello(&mut central).await;
    assert_eq!((info.active_slot, info.software_version.as_str()), (Slot::A, OLD));
    assert!(confirm_running(&prepared.manifest, &info.software_version).is_err());
}
