//! R19, the sweeps: an install of a 12-chunk signed image is cut off — the
//! reader's power cut in one sweep, its link dropped in the other — at
//! every step: after the host's verify, after the begin, at every chunk
//! boundary, once the reader has verified the image at the commit, during
//! its trial boot, and once the new image has confirmed itself. After each
//! cut, the reader boots a valid image (the old or the new, never
//! neither), its version never goes down, and a retried install
//! completes: the reader then runs the new version.

mod firmware_support;
mod sim_support;

use std::cmp::Ordering;

use firmware_support::*;
use readerlink::firmware::{compare_versions, confirm_running};
use readerlink::protocol::{Command, Slot};
use readerlink::transport::sim::reader::CONFIRM_AFTER_MS;
use readerlink::transport::sim::{SimReaderState, SimWorld};
use sim_support::{Central, serial};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    PowerCut,
    LinkDrop,
}

/// Where in the install the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The host verified and framed the image; nothing sent yet.
    HostVerified,
    /// The reader acknowledged `UpdateBegin`.
    Begun,
    /// The reader acknowledged chunk `k` (1-based).
    Chunk(usize),
    /// The reader verified the whole image at the commit; its trial boot
    /// is due.
    ReaderVerified,
    /// The new image runs on trial and has not confirmed itself.
    TrialBooted,
    /// The new image confirmed itself.
    Confirmed,
}

fn steps(chunks: usize) -> Vec<Step> {
    let mut steps = vec![Step::HostVerified, Step::Begun];
    steps.extend((1..=chunks).map(Step::Chunk));
    steps.extend([Step::ReaderVerified, Step::TrialBooted, Step::Confirmed]);
    steps
}

fn strike(world: &SimWorld, fault: Fault) {
    let id = serial(SERIAL);
    match fault {
        Fault::PowerCut => world.cut_power(&id).unwrap(),
        Fault::LinkDrop => world
            .lose_link(&id, Some(std::time::Duration::from_secs(1)))
            .unwrap(),
    }
}

fn state(world: &SimWorld) -> SimReaderState {
    world.reader_state(&serial(SERIAL)).unwrap()
}

/// Waits (virtual time, 1 ms at a time) until the reader's state says so.
async fn until(world: &SimWorld, what: &str, done: impl Fn(&SimReaderState) -> bool) {
    for _ in 0..10_000 {
        if done(&state(world)) {
            return;
        }
        wait(1).await;
    }
    panic!("the reader never reached `{what}`: {:?}", state(world));
}

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

/// One install cut off at `step`; `Ok` with what happened when every
/// check holds, `Err` naming the first that does not.
async fn survives(fault: Fault, step: Step) -> Result<String, String> {
    let world = world();
    let (signed, image) = release(NEW);
    let mut central = Central::connect_in(&world, SERIAL).await;
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();
    let chunks = prepared.chunks.len();
    match step {
        Step::HostVerified => strike(&world, fault),
        Step::Begun | Step::Chunk(_) => {
            let at = match step {
                Step::Chunk(k) => k,
                _ => 0,
            };
            write_install(&mut central, &prepared, |k| {
                if k == at {
                    strike(&world, fault);
                }
                k != at
            })
            .await;
        }
        Step::ReaderVerified | Step::TrialBooted | Step::Confirmed => {
            assert_eq!(
                write_install(&mut central, &prepared, |k| k < chunks).await,
                Reached::Stopped
            );
            central.send(Command::UpdateCommit).await;
            match step {
                Step::ReaderVerified => {
                    until(&world, "verified, trial boot due", |s| {
                        s.update_progress.is_none() && s.inactive_image.as_deref() == Some(NEW) && !s.on_trial
                    })
                    .await
                }
                Step::TrialBooted => until(&world, "on trial", |s| s.on_trial).await,
                _ => until(&world, "confirmed", |s| !s.on_trial && s.software_version == NEW).await,
            }
            strike(&world, fault);
        }
    }
    drop(central);
    match fault {
        Fault::PowerCut => world.power_on(&serial(SERIAL)).unwrap(),
        Fault::LinkDrop => wait(2_000).await,
    }

    // It boots a valid image, old or new, and did not go back.
    let mut central = connect_when_up(&world).await;
    let info = hello(&mut central).await;
    let after_cut = info.software_version.clone();
    check!(
        after_cut == OLD || after_cut == NEW,
        "boots `{after_cut}`, neither the old nor the new image"
    );
    let slot_holds = |s: &SimReaderState| s.software_version.clone();
    check!(
        slot_holds(&state(&world)) == after_cut,
        "the active slot holds {:?}, hello says {after_cut}",
        state(&world)
    );
    check!(
        compare_versions(&after_cut, OLD) != Ok(Ordering::Less),
        "went down to {after_cut}"
    );
    check!(
        !state(&world).on_trial,
        "still on trial after the fault: {:?}",
        state(&world)
    );

    // A retried install completes, and the reader runs it.
    let prepared = prepare(&world, &mut central, &signed, &image)
        .await
        .map_err(|e| format!("the retry was refused by the host: {e}"))?;
    let reached = write_install(&mut central, &prepared, |_| true).await;
    check!(reached == Reached::Committed, "the retry ended {reached:?}");
    wait(CONFIRM_AFTER_MS + 100).await;
    let info = hello(&mut central).await;
    confirm_running(&prepared.manifest, &info.software_version).map_err(|e| e.to_string())?;
    let end = state(&world);
    check!(
        !end.on_trial && end.inactive_image.is_some(),
        "the retried image is not final: {end:?}"
    );
    check!(
        compare_versions(&info.software_version, &after_cut) != Ok(Ordering::Less),
        "went down from {after_cut} to {}",
        info.software_version
    );
    let slot = if after_cut == NEW { "new" } else { "old" };
    Ok(format!(
        "boots the {slot} image {after_cut}; retried install runs {}",
        info.software_version
    ))
}

async fn sweep(fault: Fault) {
    let all = steps(IMAGE_LEN / CHUNK_LEN as usize);
    let total = all.len();
    let mut survived = 0;
    let mut failures = Vec::new();
    for step in all {
        match survives(fault, step).await {
            Ok(what) => {
                survived += 1;
                println!("{fault:?} at {step:?}: {what}");
            }
            Err(why) => {
                println!("{fault:?} at {step:?}: FAILED: {why}");
                failures.push(format!("{step:?}: {why}"));
            }
        }
    }
    println!("{fault:?}: {survived} of {total} steps survived");
    assert_eq!(survived, total, "{failures:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_power_cut_at_every_step_leaves_a_bootable_reader_that_takes_the_update_again() {
    sweep(Fault::PowerCut).await;
}

#[tokio::test(start_paused = true)]
async fn a_link_drop_at_every_step_leaves_a_bootable_reader_that_takes_the_update_again() {
    sweep(Fault::LinkDrop).await;
}

#[tokio::test(start_paused = true)]
async fn a_power_cut_before_the_new_image_confirms_falls_back_and_after_keeps_it() {
    // The outcome of the interesting steps, not only their survival.
    for (step, expected) in [
        (Step::ReaderVerified, (Slot::A, OLD)),
        (Step::TrialBooted, (Slot::A, OLD)),
        (Step::Confirmed, (Slot::B, NEW)),
    ] {
        let what = survives(Fault::PowerCut, step).await.unwrap();
        assert!(
            what.starts_with(&format!(
                "boots the {} image {}",
                if expected.1 == NEW { "new" } else { "old" },
                expected.1
            )),
            "{step:?}: {what}"
        );
    }
}
