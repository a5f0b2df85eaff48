//! R19 on the simulated side: an update is written to the inactive slot and
//! only a commit with the right digest switches to it; an install cut off —
//! failure at a percentage, power loss, lost link, abort, wrong digest —
//! leaves the old slot active and bootable.

mod sim_support;

use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use readerlink::protocol::{Command, ErrorCode, ReaderMessage, Slot};
use readerlink::reader::DeviceType;
use readerlink::transport::sim::{FaultPlan, ReaderSpec, SimWorld};
use sha2::{Digest, Sha256};
use sim_support::{Central, serial};
use tokio::time::Instant;

const OLD: &str = "3.1.0";
const NEW: &str = "3.2.0";

fn image(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    ChaCha8Rng::seed_from_u64(7).fill_bytes(&mut bytes);
    bytes
}

fn m2() -> ReaderSpec {
    let mut spec = ReaderSpec::new("UPD-1", DeviceType::StripeM2, OLD);
    spec.battery = 0.9;
    spec
}

/// The reader boots from the old slot and still runs the old version.
async fn assert_old_slot_bootable(world: &SimWorld) {
    let id = serial("UPD-1");
    let state = world.reader_state(&id).unwrap();
    assert_eq!(state.active_slot, Slot::A);
    assert_eq!(state.software_version, OLD);
    assert_eq!(state.inactive_image, None, "the half-written slot is erased");
    assert_eq!(state.update_progress, None);
    // Reboot it and ask: it boots the old image.
    if state.connected {
        let _ = world.power_off(&id);
    } else if state.powered {
        world.cut_power(&id).unwrap();
    }
    world.power_on(&id).unwrap();
    let mut central = Central::connect_in(world, "UPD-1").await;
    let Some(ReaderMessage::ReaderInfo { info, .. }) = central.request(Command::Hello).await else {
        panic!("no hello after the reboot")
    };
    assert_eq!((info.active_slot, info.software_version.as_str()), (Slot::A, OLD));
}

#[tokio::test(start_paused = true)]
async fn a_complete_install_switches_to_the_new_slot_and_keeps_the_old_one() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    let image = image(100_000);
    let started = Instant::now();
    let (result, progress) = central.install(NEW, &image, 480, 8).await;
    let took = started.elapsed();
    assert_eq!(result, Ok(()));
    assert_eq!(progress.len(), 20, "a progress report every 5 %: {progress:?}");
    assert_eq!(progress.last(), Some(&(100_000, 100_000)));
    let state = world.reader_state(&serial("UPD-1")).unwrap();
    assert_eq!(
        (state.active_slot, state.software_version.as_str()),
        (Slot::B, NEW)
    );
    assert_eq!(state.inactive_image.as_deref(), Some(OLD));
    let Some(ReaderMessage::ReaderInfo { info, .. }) = central.request(Command::Hello).await else {
        panic!()
    };
    assert_eq!(info.software_version, NEW);
    let rate = image.len() as f64 / took.as_secs_f64();
    let ceiling = world
        .link_model()
        .ceiling_bytes_per_second(central.link.att_payload);
    println!(
        "100 kB at 244-byte payloads, window 8 x 480 B: {took:?}, {rate:.0} B/s (link ceiling {ceiling:.0} B/s)"
    );
    assert!(
        rate > 0.5 * ceiling && rate <= ceiling,
        "{rate} B/s against a ceiling of {ceiling}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_install_over_the_default_payload_is_bound_by_the_link() {
    let mut spec = m2();
    spec.att_payload = 20;
    let world = SimWorld::with_readers(vec![spec]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    let image = image(20_000);
    let started = Instant::now();
    assert_eq!(central.install(NEW, &image, 240, 4).await.0, Ok(()));
    let took = started.elapsed();
    let rate = image.len() as f64 / took.as_secs_f64();
    let ceiling = world.link_model().ceiling_bytes_per_second(20);
    println!(
        "20 kB at 20-byte payloads, window 4 x 240 B: {took:?}, {rate:.0} B/s (link ceiling {ceiling:.0} B/s)"
    );
    assert!(
        rate > 0.5 * ceiling && rate <= ceiling,
        "{rate} B/s against a ceiling of {ceiling}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_install_failing_at_40_percent_leaves_the_old_slot_bootable() {
    let world = SimWorld::with_readers(vec![m2()]);
    world.fail_next_install_at(&serial("UPD-1"), 40).unwrap();
    let mut central = Central::connect_in(&world, "UPD-1").await;
    let (result, progress) = central.install(NEW, &image(50_000), 500, 4).await;
    assert_eq!(result, Err(ErrorCode::InstallFailed));
    let furthest = progress.last().map_or(0, |p| p.0);
    assert!(
        (15_000..20_000).contains(&furthest),
        "failed near 40 %: {progress:?}"
    );
    drop(central);
    assert_old_slot_bootable(&world).await;
    // Only the next install fails; the one after succeeds.
    let mut central = Central::connect_in(&world, "UPD-1").await;
    assert_eq!(central.install(NEW, &image(50_000), 500, 4).await.0, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_fault_plan_fails_the_first_install_at_a_percentage() {
    let mut spec = m2();
    spec.fault = FaultPlan {
        fail_install_at_percent: Some(70),
        ..FaultPlan::default()
    };
    let world = SimWorld::with_readers(vec![spec]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    assert_eq!(
        central.install(NEW, &image(10_000), 500, 4).await.0,
        Err(ErrorCode::InstallFailed)
    );
    let state = world.reader_state(&serial("UPD-1")).unwrap();
    assert_eq!(
        (state.active_slot, state.software_version.as_str()),
        (Slot::A, OLD)
    );
}

/// Starts an install and writes `chunks` chunks of it.
async fn half_install(central: &mut Central, image: &[u8], chunks: usize) {
    let begin = Command::UpdateBegin {
        version: NEW.into(),
        size: image.len() as u32,
        sha256: Sha256::digest(image).into(),
        window: 1,
    };
    assert!(matches!(
        central.request(begin).await,
        Some(ReaderMessage::Ack { .. })
    ));
    for (i, chunk) in image.chunks(500).take(chunks).enumerate() {
        let id = central
            .send(Command::UpdateChunk {
                offset: (i * 500) as u32,
                bytes: chunk.to_vec(),
            })
            .await;
        central.response_to(id).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn power_lost_mid_install_leaves_the_old_slot_bootable() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    half_install(&mut central, &image(20_000), 10).await;
    assert_eq!(
        world.reader_state(&serial("UPD-1")).unwrap().update_progress,
        Some((5_000, 20_000))
    );
    world.cut_power(&serial("UPD-1")).unwrap();
    drop(central);
    assert_old_slot_bootable(&world).await;
}

#[tokio::test(start_paused = true)]
async fn a_link_lost_mid_install_leaves_the_old_slot_bootable() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    half_install(&mut central, &image(20_000), 10).await;
    world
        .lose_link(&serial("UPD-1"), Some(Duration::from_secs(1)))
        .unwrap();
    central.until_lost().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_old_slot_bootable(&world).await;
}

#[tokio::test(start_paused = true)]
async fn an_aborted_install_leaves_the_old_slot_bootable() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    half_install(&mut central, &image(20_000), 10).await;
    assert!(matches!(
        central.request(Command::UpdateAbort).await,
        Some(ReaderMessage::Ack { .. })
    ));
    assert!(matches!(
        central.request(Command::UpdateCommit).await,
        Some(ReaderMessage::Error {
            code: ErrorCode::NoUpdateInProgress,
            ..
        })
    ));
    drop(central);
    assert_old_slot_bootable(&world).await;
}

#[tokio::test(start_paused = true)]
async fn an_image_that_does_not_match_its_digest_is_not_booted() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    let good = image(5_000);
    let mut bad = good.clone();
    bad[4_000] ^= 0xff;
    let begin = Command::UpdateBegin {
        version: NEW.into(),
        size: good.len() as u32,
        sha256: Sha256::digest(&good).into(),
        window: 100,
    };
    assert!(matches!(
        central.request(begin).await,
        Some(ReaderMessage::Ack { .. })
    ));
    for (i, chunk) in bad.chunks(500).enumerate() {
        central
            .send(Command::UpdateChunk {
                offset: (i * 500) as u32,
                bytes: chunk.to_vec(),
            })
            .await;
    }
    assert!(matches!(
        central.request(Command::UpdateCommit).await,
        Some(ReaderMessage::Error {
            code: ErrorCode::DigestMismatch,
            ..
        })
    ));
    drop(central);
    assert_old_slot_bootable(&world).await;
}

#[tokio::test(start_paused = true)]
async fn a_chunk_out_of_place_is_answered_with_where_to_resume() {
    let world = SimWorld::with_readers(vec![m2()]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    let image = image(2_000);
    half_install(&mut central, &image, 2).await;
    let id = central
        .send(Command::UpdateChunk {
            offset: 1_500,
            bytes: image[1_500..].to_vec(),
        })
        .await;
    assert_eq!(
        central.response_to(id).await,
        Some(ReaderMessage::Error {
            request_id: id,
            code: ErrorCode::UnexpectedOffset
        })
    );
    assert_eq!(
        central.response_to(id).await,
        Some(ReaderMessage::UpdateChunkAck {
            request_id: id,
            up_to_offset: 1_000
        })
    );
}

#[tokio::test(start_paused = true)]
async fn an_install_is_refused_on_a_low_battery() {
    let mut spec = m2();
    spec.battery = 0.4;
    let world = SimWorld::with_readers(vec![spec]);
    let mut central = Central::connect_in(&world, "UPD-1").await;
    assert_eq!(
        central.install(NEW, &image(1_000), 500, 1).await.0,
        Err(ErrorCode::BatteryTooLow)
    );
}
