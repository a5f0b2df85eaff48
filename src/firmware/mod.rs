//! Firmware integrity (R19): update images are signed, and an image goes
//! to a reader only after the host has checked it against metadata a
//! trusted key signed.
//!
//! A backend signs a [`Manifest`] — version, device type, size, SHA-256
//! digest and an expiry — with its [`SigningKey`] (ed25519, through
//! `ed25519-dalek`). A terminal pins the public keys it trusts
//! ([`TrustedKeys`]), configured with it and never fetched from where the
//! images come from. Before the first chunk is written, [`verify`] checks,
//! in order: the signature (a trusted key, a valid signature), the expiry,
//! the device type, rollback (the version is not older than the installed
//! one, [`compare_versions`]), the size and the digest; the first failure is
//! an [`IntegrityError`] naming its check. [`prepare_install`] verifies and
//! only then cuts the image into `UpdateChunk` frames, so a rejected image
//! yields none. After the install and a fresh hello, [`confirm_running`]
//! tells an image the reader really runs from one it fell back from (the
//! updater makes the same comparison after every commit, and ends an
//! install whose image does not run with `update_not_activated`).
//!
//! ```
//! use readerlink::firmware::{Expectation, Manifest, SigningKey, TrustedKeys, prepare_install, sign, verify};
//! use readerlink::reader::DeviceType;
//! use readerlink::updater::IntegrityCheck;
//!
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let trusted = TrustedKeys::new().with(key.public_key());
//! let image = vec![0xA5; 4096];
//! let signed = sign(&Manifest::for_image("3.2.0", DeviceType::StripeM2, &image, 60_000), &key);
//! let reader = Expectation { device_type: DeviceType::StripeM2, installed_version: "3.1.0".into(), now: 1_000 };
//!
//! let verified = verify(&signed, &image, &trusted, &reader).unwrap();
//! assert_eq!(verified.manifest.version, "3.2.0");
//! assert_eq!(prepare_install(&signed, &image, &trusted, &reader, 512).unwrap().chunks.len(), 8);
//!
//! // One flipped byte: rejected, naming the check, and nothing to send.
//! let mut tampered = image.clone();
//! tampered[100] ^= 1;
//! let error = prepare_install(&signed, &tampered, &trusted, &reader, 512).unwrap_err();
//! assert_eq!(error.check(), IntegrityCheck::Digest);
//! ```
//!
//! The simulated reader checks again on its side and boots a new image
//! only on trial ([`crate::transport::sim`]'s firmware slots).

mod install;
mod keys;
mod manifest;
mod version;

pub use install::{NotActivated, PreparedChunk, PreparedInstall, confirm_running, prepare_install};
pub use keys::{KeyError, KeyId, PublicKey, SigningKey, TrustedKeys};
pub use manifest::{
    Expectation, IntegrityError, Manifest, Signature, SignedManifest, VerifiedImage, sign, verify,
};
pub use version::{VersionError, compare_versions};
