//! Signed images and a host-side install over a raw simulated link, for the
//! firmware integrity tests (R19): the host verifies and frames with
//! `prepare_install`, writes exactly the frames it got, and reads the
//! reader's answers.
#![allow(dead_code)]

use std::time::Duration;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use readerlink::firmware::{
    Expectation, IntegrityError, Manifest, PreparedInstall, SignedManifest, SigningKey, TrustedKeys,
    prepare_install, sign,
};
use readerlink::protocol::{Command, ErrorCode, ReaderInfo, ReaderMessage, fragment};
use readerlink::reader::DeviceType;
use readerlink::transport::sim::{ReaderSpec, SimWorld, reader::BOOT_MS};

use crate::sim_support::{Central, serial};

pub const SERIAL: &str = "FW-1";
pub const OLD: &str = "3.1.0";
pub const NEW: &str = "3.2.0";
/// The manifests expire an hour into the run.
pub const EXPIRES_AT: u64 = 60 * 60 * 1000;
/// 12 chunks of 256 bytes.
pub const CHUNK_LEN: u16 = 256;
pub const IMAGE_LEN: usize = 12 * CHUNK_LEN as usize;

/// The backend's key in these tests (fixed, so a test can look for its
/// bytes).
pub const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44,
    0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&SEED)
}

pub fn trusted() -> TrustedKeys {
    TrustedKeys::new().with(key().public_key())
}

pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// A release of `version` for the M2, signed by [`key`].
pub fn release(version: &str) -> (SignedManifest, Vec<u8>) {
    let image = image(IMAGE_LEN, 7);
    let manifest = Manifest::for_image(version, DeviceType::StripeM2, &image, EXPIRES_AT);
    (sign(&manifest, &key()), image)
}

pub fn m2() -> ReaderSpec {
    let mut spec = ReaderSpec::new(SERIAL, DeviceType::StripeM2, OLD);
    spec.battery = 0.9;
    spec
}

pub fn world() -> SimWorld {
    SimWorld::with_readers(vec![m2()])
}

/// Asks the reader who it is.
pub async fn hello(central: &mut Central) -> ReaderInfo {
    match central.request(Command::Hello).await {
        Some(ReaderMessage::ReaderInfo { info, .. }) => info,
        other => panic!("no hello: {other:?}"),
    }
}

/// What the host knows of the reader from its hello.
pub fn expectation(info: &ReaderInfo, world: &SimWorld) -> Expectation {
    Expectation {
        device_type: info.device_type,
        installed_version: info.software_version.clone(),
        now: world.now(),
    }
}

/// Verifies and frames the release for the reader `central` talks to.
pub async fn prepare(
    world: &SimWorld,
    central: &mut Central,
    signed: &SignedManifest,
    image: &[u8],
) -> Result<PreparedInstall, IntegrityError> {
    let info = hello(central).await;
    prepare_install(signed, image, &trusted(), &expectation(&info, world), CHUNK_LEN)
}

/// How far [`write_install`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The reader answered every step; its commit was acknowledged.
    Committed,
    /// The reader refused a step.
    Refused(ErrorCode),
    /// The link went before the end.
    LinkLost,
    /// `after_step` stopped it.
    Stopped,
}

/// Writes a prepared install: `UpdateBegin` (window 1), then each chunk
/// frame exactly as prepared, waiting for its acknowledgement, then
/// `UpdateCommit`. `after_step(k)` runs after step `k` (0: begin
/// acknowledged, `k` in 1..=chunks: chunk `k` acknowledged) and may cut
/// the reader off; it returns `false` to stop there (before the commit,
/// when it stops after the last chunk).
pub async fn write_install(
    central: &mut Central,
    prepared: &PreparedInstall,
    mut after_step: impl FnMut(usize) -> bool,
) -> Reached {
    match central.request(prepared.begin(1)).await {
        Some(ReaderMessage::Ack { .. }) => {}
        Some(ReaderMessage::Error { code, .. }) => return Reached::Refused(code),
        Some(other) => panic!("unexpected answer to UpdateBegin: {other:?}"),
        None => return Reached::LinkLost,
    }
    if !after_step(0) {
        return Reached::Stopped;
    }
    for (i, chunk) in prepared.chunks.iter().enumerate() {
        for payload in fragment(&chunk.frame, central.link.att_payload) {
            if central.link.writer.write(payload).await.is_err() {
                return Reached::LinkLost;
            }
        }
        loop {
            match central.next_message().await {
                Some(ReaderMessage::UpdateChunkAck { up_to_offset, .. })
                    if up_to_offset == chunk.offset + chunk.len as u32 =>
                {
                    break;
                }
                Some(ReaderMessage::Error { code, .. }) => return Reached::Refused(code),
                Some(_) => {}
                None => return Reached::LinkLost,
            }
        }
        if !after_step(i + 1) {
            return Reached::Stopped;
        }
    }
    match central.request(Command::UpdateCommit).await {
        Some(ReaderMessage::Ack { .. }) => Reached::Committed,
        Some(ReaderMessage::Error { code, .. }) => Reached::Refused(code),
        Some(other) => panic!("unexpected answer to UpdateCommit: {other:?}"),
        None => Reached::LinkLost,
    }
}

/// Lets virtual time pass.
pub async fn wait(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Connects once the reader has booted (power-on or reboot).
pub async fn connect_when_up(world: &SimWorld) -> Central {
    for _ in 0..100 {
        let state = world.reader_state(&serial(SERIAL)).unwrap();
        if state.powered && !state.booting && !state.connected {
            return Central::connect_in(world, SERIAL).await;
        }
        wait(BOOT_MS / 10).await;
    }
    panic!(
        "the reader never came up: {:?}",
        world.reader_state(&serial(SERIAL))
    );
}
