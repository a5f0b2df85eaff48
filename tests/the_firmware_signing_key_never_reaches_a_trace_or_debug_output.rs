//! The signing key's bytes never reach the log or `Debug` output: a whole
//! install — key generation and loading, signing, a rejected and an
//! accepted verify, the transfer to a simulated reader — runs under a
//! TRACE-level subscriber, every value involved is `Debug`-printed into
//! it, and the text is searched for the key's bytes in hex (either case)
//! and base64 (standard and URL-safe). This binary installs the global
//! subscriber and holds one test.

mod firmware_support;
mod sim_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use firmware_support::*;
use readerlink::firmware::{Expectation, SigningKey, TrustedKeys, prepare_install, sign, verify};
use readerlink::reader::DeviceType;
use readerlink::transport::sim::reader::CONFIRM_AFTER_MS;
use sim_support::{Central, serial};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every way the key's bytes could be written, long enough not to appear
/// by chance (a run of 16 hex digits or base64 characters is enough).
fn forms(seed: &[u8; 32]) -> Vec<String> {
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![hex.clone(), hex.to_uppercase()];
    for alphabet in [STANDARD, URL_SAFE] {
        forms.push(base64(seed, alphabet));
    }
    // Any 8 consecutive bytes, so a partial print is caught too.
    for window in 0..=24 {
        forms.push(hex[2 * window..2 * window + 16].to_owned());
    }
    forms.push(format!("{:?}", &seed[..8]).trim_end_matches(']').to_owned());
    forms
}

#[tokio::test(start_paused = true)]
async fn a_traced_install_never_shows_the_signing_key_bytes() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test binary installs the only global subscriber");

    // A generated key, kept in a file and loaded back, and the fixed one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firmware-signing.key");
    SigningKey::generate().unwrap().write_file(&path).unwrap();
    let generated = SigningKey::from_file(&path).unwrap();
    let generated_seed: [u8; 32] = {
        let text = std::fs::read_to_string(&path).unwrap();
        std::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
    };
    let keys = [(key(), SEED), (generated, generated_seed)];

    let world = world();
    let mut central = Central::connect_in(&world, SERIAL).await;
    for (key, _) in &keys {
        tracing::debug!(?key, "signing with");
        let trusted = TrustedKeys::new().with(key.public_key());
        tracing::trace!(?trusted, "trusted keys");
        let image = image(IMAGE_LEN, 9);
        let manifest =
            readerlink::firmware::Manifest::for_image(NEW, DeviceType::StripeM2, &image, EXPIRES_AT);
        let signed = sign(&manifest, key);
        tracing::debug!(?signed, json = %serde_json::to_string(&signed).unwrap(), "signed");
        let info = hello(&mut central).await;
        let expectation = Expectation {
            device_type: info.device_type,
            installed_version: info.software_version.clone(),
            now: world.now(),
        };
        let mut tampered = image.clone();
        tampered[7] ^= 1;
        let rejected = prepare_install(&signed, &tampered, &trusted, &expectation, CHUNK_LEN).unwrap_err();
        tracing::warn!(?rejected, json = %serde_json::to_string(&rejected).unwrap(), "rejected");
        let verified = verify(&signed, &image, &trusted, &expectation).unwrap();
        tracing::debug!(?verified.manifest, ?verified.key_id, "verified");
        let prepared = prepare_install(&signed, &image, &trusted, &expectation, CHUNK_LEN).unwrap();
        tracing::debug!(manifest = ?prepared.manifest, chunks = prepared.chunks.len(), "prepared");
        assert_eq!(
            write_install(&mut central, &prepared, |_| true).await,
            Reached::Committed
        );
        wait(CONFIRM_AFTER_MS + 100).await;
        tracing::debug!(state = ?world.reader_state(&serial(SERIAL)).unwrap(), "installed");
    }

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("update image verified"),
        "the install was traced:\n{log}"
    );
    assert!(
        log.contains("update image rejected"),
        "the rejection was traced:\n{log}"
    );
    assert!(
        log.contains("[redacted]"),
        "the key itself was printed, redacted:\n{log}"
    );
    for (key, seed) in &keys {
        assert!(log.contains(&key.key_id().to_hex()), "the key is named by its id");
        for form in forms(seed) {
            assert!(
                !log.contains(&form),
                "the key's bytes `{form}` are in the log:\n{log}"
            );
        }
    }
}
