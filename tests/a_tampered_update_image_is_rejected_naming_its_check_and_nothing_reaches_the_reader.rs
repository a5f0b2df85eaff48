//! R19 on the host: before the first chunk goes to the reader, the image is
//! checked against metadata a pinned key signed. Each tampering — one
//! flipped byte, a wrong key, an older version, a truncated or oversized
//! image, expired metadata, another device type — is refused with a typed
//! error naming its check, no chunk is framed, and the reader receives
//! nothing but the hello.

mod firmware_support;
mod sim_support;

use firmware_support::*;
use readerlink::firmware::{IntegrityError, Manifest, SignedManifest, SigningKey, sign};
use readerlink::reader::DeviceType;
use readerlink::updater::IntegrityCheck;
use sim_support::{Central, serial};

/// Runs one tampered install against a fresh reader: the host refuses it,
/// and the reader saw one command (the hello) and writes nothing.
async fn refused(signed: &SignedManifest, image: &[u8]) -> IntegrityError {
    let world = world();
    let mut central = Central::connect_in(&world, SERIAL).await;
    let error = match prepare(&world, &mut central, signed, image).await {
        Ok(prepared) => panic!(
            "a tampered image was framed into {} chunks",
            prepared.chunks.len()
        ),
        Err(error) => error,
    };
    wait(2_000).await;
    let state = world.reader_state(&serial(SERIAL)).unwrap();
    assert_eq!(state.commands_received, 1, "only the hello reached the reader");
    assert_eq!(state.update_progress, None);
    assert_eq!(state.inactive_image, None);
    assert_eq!(state.software_version, OLD);
    error
}

#[tokio::test(start_paused = true)]
async fn the_untampered_release_is_framed_and_installs() {
    let (signed, image) = release(NEW);
    let world = world();
    let mut central = Central::connect_in(&world, SERIAL).await;
    let prepared = prepare(&world, &mut central, &signed, &image).await.unwrap();
    assert_eq!(prepared.chunks.len(), 12);
    assert_eq!(
        write_install(&mut central, &prepared, |_| true).await,
        Reached::Committed
    );
    wait(2_000).await;
    assert_eq!(hello(&mut central).await.software_version, NEW);
}

#[tokio::test(start_paused = true)]
async fn one_flipped_byte_fails_the_digest_check() {
    let (signed, mut image) = release(NEW);
    image[1_000] ^= 0x01;
    let error = refused(&signed, &image).await;
    assert_eq!(error.check(), IntegrityCheck::Digest);
    assert!(
        matches!(error, IntegrityError::DigestMismatch { .. }),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_manifest_signed_by_a_key_nobody_pinned_fails_the_signature_check() {
    let (signed, image) = release(NEW);
    let stranger = SigningKey::from_bytes(&[0x42; 32]);
    let error = refused(&sign(&signed.manifest, &stranger), &image).await;
    assert_eq!(error.check(), IntegrityCheck::Signature);
    assert_eq!(
        error,
        IntegrityError::UnknownKey {
            key_id: stranger.key_id()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrong_key_claiming_the_pinned_keys_id_fails_the_signature_check() {
    let (signed, image) = release(NEW);
    let stranger = SigningKey::from_bytes(&[0x42; 32]);
    let mut forged = sign(&signed.manifest, &stranger);
    forged.key_id = key().key_id();
    let error = refused(&forged, &image).await;
    assert_eq!(error.check(), IntegrityCheck::Signature);
    assert_eq!(
        error,
        IntegrityError::BadSignature {
            key_id: key().key_id()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn metadata_altered_after_signing_fails_the_signature_check() {
    let (mut signed, image) = release(NEW);
    signed.manifest.expires_at += 1;
    let error = refused(&signed, &image).await;
    assert_eq!(
        error,
        IntegrityError::BadSignature {
            key_id: key().key_id()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_older_version_fails_the_rollback_check() {
    let (signed, image) = release("3.0.9");
    let error = refused(&signed, &image).await;
    assert_eq!(error.check(), IntegrityCheck::Rollback);
    assert_eq!(
        error,
        IntegrityError::Rollback {
            image_version: "3.0.9".into(),
            installed_version: OLD.into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_pre_release_of_the_installed_version_fails_the_rollback_check() {
    let (signed, image) = release("3.1.0-rc.1");
    assert_eq!(refused(&signed, &image).await.check(), IntegrityCheck::Rollback);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_version_fails_the_rollback_check() {
    let (signed, image) = release("3.2.x");
    let error = refused(&signed, &image).await;
    assert_eq!(error.check(), IntegrityCheck::Rollback);
    assert!(
        matches!(&error, IntegrityError::UnreadableVersion { version, .. } if version == "3.2.x"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_truncated_image_fails_the_size_check() {
    let (signed, image) = release(NEW);
    let error = refused(&signed, &image[..IMAGE_LEN - 1]).await;
    assert_eq!(error.check(), IntegrityCheck::Size);
    assert_eq!(
        error,
        IntegrityError::Truncated {
            expected: IMAGE_LEN as u32,
            actual: IMAGE_LEN as u64 - 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversized_image_fails_the_size_check() {
    let (signed, mut image) = release(NEW);
    image.extend_from_slice(&[0; 256]);
    let error = refused(&signed, &image).await;
    assert_eq!(error.check(), IntegrityCheck::Size);
    assert_eq!(
        error,
        IntegrityError::Oversized {
            expected: IMAGE_LEN as u32,
            actual: IMAGE_LEN as u64 + 256
        }
    );
}

#[tokio::test(start_paused = true)]
async fn expired_metadata_fails_the_expiry_check() {
    let image = image(IMAGE_LEN, 7);
    let stale = Manifest::for_image(NEW, DeviceType::StripeM2, &image, 1);
    let error = refused(&sign(&stale, &key()), &image).await;
    assert_eq!(error.check(), IntegrityCheck::Expiry);
    assert!(
        matches!(error, IntegrityError::Expired { expires_at: 1, now } if now >= 1),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_image_for_another_device_type_fails_the_device_type_check() {
    let image = image(IMAGE_LEN, 7);
    let other = Manifest::for_image(NEW, DeviceType::WisePad3, &image, EXPIRES_AT);
    let error = refused(&sign(&other, &key()), &image).await;
    assert_eq!(error.check(), IntegrityCheck::DeviceType);
    assert_eq!(
        error,
        IntegrityError::WrongDeviceType {
            image: DeviceType::WisePad3,
            reader: DeviceType::StripeM2
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_checks_run_signature_first_and_digest_last() {
    // Everything wrong at once: the signature is what is reported.
    let image = image(IMAGE_LEN, 7);
    let mut bad = Manifest::for_image("1.0.0", DeviceType::WisePad3, &image, 1);
    let mut signed = sign(&bad, &SigningKey::from_bytes(&[3; 32]));
    assert_eq!(
        refused(&signed, &image[1..]).await.check(),
        IntegrityCheck::Signature
    );
    // Signed right, then each check in turn.
    signed = sign(&bad, &key());
    assert_eq!(
        refused(&signed, &image[1..]).await.check(),
        IntegrityCheck::Expiry
    );
    bad.expires_at = EXPIRES_AT;
    signed = sign(&bad, &key());
    assert_eq!(
        refused(&signed, &image[1..]).await.check(),
        IntegrityCheck::DeviceType
    );
    bad.device_type = DeviceType::StripeM2;
    signed = sign(&bad, &key());
    assert_eq!(
        refused(&signed, &image[1..]).await.check(),
        IntegrityCheck::Rollback
    );
    bad.version = NEW.into();
    signed = sign(&bad, &key());
    assert_eq!(refused(&signed, &image[1..]).await.check(), IntegrityCheck::Size);
    let mut flipped = image.clone();
    flipped[0] ^= 0x80;
    assert_eq!(refused(&signed, &flipped).await.check(), IntegrityCheck::Digest);
}

#[tokio::test(start_paused = true)]
async fn the_reader_itself_refuses_an_older_version_even_from_a_host_that_skips_the_checks() {
    let world = world();
    let mut central = Central::connect_in(&world, SERIAL).await;
    let (result, _) = central.install("3.0.0", &image(1_024, 1), 256, 1).await;
    assert_eq!(result, Err(readerlink::protocol::ErrorCode::VersionTooOld));
    let state = world.reader_state(&serial(SERIAL)).unwrap();
    assert_eq!(
        (state.software_version.as_str(), state.inactive_image),
        (OLD, None)
    );
}
