//! Signed image metadata, and the checks an image passes before any of it
//! goes to a reader (R19).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keys::{KeyId, SigningKey, TrustedKeys};
use super::version::compare_versions;
use crate::reader::DeviceType;
use crate::runtime::Millis;
use crate::updater::{IntegrityCheck, Sha256Digest};

/// What a signature vouches for about one update image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The software version the image carries: a reader never goes back
    /// to an older one (rollback protection).
    pub version: String,
    /// The model the image is built for.
    pub device_type: DeviceType,
    /// The image's size in bytes: a truncated or padded image fails.
    pub size: u32,
    /// The image's SHA-256 digest.
    pub sha256: Sha256Digest,
    /// After this time (ms of the runtime's clock) the metadata is stale:
    /// a mirror cannot keep offering an image its signer has withdrawn
    /// (a freeze attack).
    pub expires_at: Millis,
}

/// Domain separation: these bytes start every signed message, so a
/// signature over a manifest can never be taken for one over anything
/// else.
const SIGNING_CONTEXT: &[u8] = b"readerlink firmware manifest v1\0";

impl Manifest {
    /// The metadata for `image`.
    pub fn for_image(
        version: impl Into<String>,
        device_type: DeviceType,
        image: &[u8],
        expires_at: Millis,
    ) -> Self {
        Self {
            version: version.into(),
            device_type,
            size: image.len() as u32,
            sha256: Sha256Digest::of(image),
            expires_at,
        }
    }

    /// The bytes the signature covers: a fixed binary layout (context,
    /// version length and bytes, device type name length and bytes, size
    /// and expiry little-endian, digest), so signer and verifier agree
    /// whatever JSON library wrote the manifest.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let device = self.device_type.api_name().as_bytes();
        let mut out = Vec::with_capacity(SIGNING_CONTEXT.len() + self.version.len() + device.len() + 64);
        out.extend_from_slice(SIGNING_CONTEXT);
        out.extend_from_slice(&(self.version.len() as u32).to_le_bytes());
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(&(device.len() as u32).to_le_bytes());
        out.extend_from_slice(device);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.sha256.0);
        out
    }
}

/// An ed25519 signature, written as 128 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.0[..4].iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "Signature({hex}…)")
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        serializer.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bad = || serde::de::Error::custom("a signature is 128 hex digits");
        if text.len() != 128 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0; 64];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

/// A manifest with the signature of the key it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    /// What is vouched for.
    pub manifest: Manifest,
    /// Which key signed it.
    pub key_id: KeyId,
    /// The signature of [`Manifest::signed_bytes`].
    pub signature: Signature,
}

/// Signs `manifest` with `key`.
pub fn sign(manifest: &Manifest, key: &SigningKey) -> SignedManifest {
    SignedManifest {
        manifest: manifest.clone(),
        key_id: key.key_id(),
        signature: Signature(key.sign_bytes(&manifest.signed_bytes())),
    }
}

/// What the terminal knows of the reader an image is meant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The reader's model.
    pub device_type: DeviceType,
    /// The version the reader runs now: the image must not be older.
    pub installed_version: String,
    /// Now, on the runtime's clock (ms): the manifest must not have
    /// expired.
    pub now: Millis,
}

/// An image that passed every check, with the manifest it passed against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage<'a> {
    /// The manifest, signed by a trusted key.
    pub manifest: &'a Manifest,
    /// The trusted key that signed it.
    pub key_id: KeyId,
    /// The image, matching the manifest's size and digest.
    pub image: &'a [u8],
}

/// Why an update image may not go to a reader (R19). Every kind names the
/// check it failed ([`IntegrityError::check`]) and has a stable
/// [`code`](Self::code); as JSON it is `{"code": ..., "message": ...,
/// ...fields}` ([`crate::error_data`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The manifest names a key the terminal does not trust.
    ///
    /// Code: `firmware_key_not_trusted`.
    #[error("the update image is signed by key {key_id}, which is not trusted")]
    UnknownKey {
        /// The key the manifest names.
        key_id: KeyId,
    },
    /// The signature does not verify under the key the manifest names:
    /// the manifest was altered, or signed by another key.
    ///
    /// Code: `firmware_signature_invalid`.
    #[error("the update manifest's signature does not verify under key {key_id}")]
    BadSignature {
        /// The key the manifest names.
        key_id: KeyId,
    },
    /// The manifest has expired.
    ///
    /// Code: `firmware_manifest_expired`.
    #[error("the update manifest expired at {expires_at} ms (now {now} ms)")]
    Expired {
        /// When it expired.
        expires_at: Millis,
        /// Now.
        now: Millis,
    },
    /// The image is built for another model.
    ///
    /// Code: `firmware_wrong_device_type`.
    #[error("the update image is for the {image}, the reader is a {reader}")]
    WrongDeviceType {
        /// The model the manifest names.
        image: DeviceType,
        /// The reader's model.
        reader: DeviceType,
    },
    /// The image's version is older than the one the reader runs.
    ///
    /// Code: `firmware_rollback`.
    #[error("the update image's version {image_version} is older than the installed {installed_version}")]
    Rollback {
        /// The manifest's version.
        image_version: String,
        /// The reader's version.
        installed_version: String,
    },
    /// A version could not be read, so rollback cannot be ruled out.
    ///
    /// Code: `firmware_version_unreadable`.
    #[error("the version `{version}` cannot be read: {reason}")]
    UnreadableVersion {
        /// The version as written.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is shorter than its manifest states.
    ///
    /// Code: `firmware_image_truncated`.
    #[error("the update image is truncated: {actual} bytes of {expected}")]
    Truncated {
        /// The manifest's size.
        expected: u32,
        /// The image's size.
        actual: u64,
    },
    /// The image is longer than its manifest states.
    ///
    /// Code: `firmware_image_oversized`.
    #[error("the update image is oversized: {actual} bytes, {expected} expected")]
    Oversized {
        /// The manifest's size.
        expected: u32,
        /// The image's size.
        actual: u64,
    },
    /// The image's digest is not the manifest's.
    ///
    /// Code: `firmware_digest_mismatch`.
    #[error("the update image's digest {actual:?} is not the manifest's {expected:?}")]
    DigestMismatch {
        /// The manifest's digest.
        expected: Sha256Digest,
        /// The image's digest.
        actual: Sha256Digest,
    },
}

crate::error_data::impl_error_data!(
    IntegrityError,
    placeholder = IntegrityError::Expired {
        expires_at: 0,
        now: 0
    }
);

impl IntegrityError {
    /// Every code of this type's kinds.
    pub const CODES: &'static [&'static str] = &[
        "firmware_key_not_trusted",
        "firmware_signature_invalid",
        "firmware_manifest_expired",
        "firmware_wrong_device_type",
        "firmware_rollback",
        "firmware_version_unreadable",
        "firmware_image_truncated",
        "firmware_image_oversized",
        "firmware_digest_mismatch",
    ];

    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownKey { .. } => "firmware_key_not_trusted",
            Self::BadSignature { .. } => "firmware_signature_invalid",
            Self::Expired { .. } => "firmware_manifest_expired",
            Self::WrongDeviceType { .. } => "firmware_wrong_device_type",
            Self::Rollback { .. } => "firmware_rollback",
            Self::UnreadableVersion { .. } => "firmware_version_unreadable",
            Self::Truncated { .. } => "firmware_image_truncated",
            Self::Oversized { .. } => "firmware_image_oversized",
            Self::DigestMismatch { .. } => "firmware_digest_mismatch",
        }
    }

    /// The check the image failed, as the updater reports it
    /// ([`crate::updater::UpdateError::ImageRejected`]).
    pub fn check(&self) -> IntegrityCheck {
        match self {
            Self::UnknownKey { .. } | Self::BadSignature { .. } => IntegrityCheck::Signature,
            Self::Expired { .. } => IntegrityCheck::Expiry,
            Self::WrongDeviceType { .. } => IntegrityCheck::DeviceType,
            Self::Rollback { .. } | Self::UnreadableVersion { .. } => IntegrityCheck::Rollback,
            Self::Truncated { .. } | Self::Oversized { .. } => IntegrityCheck::Size,
            Self::DigestMismatch { .. } => IntegrityCheck::Digest,
        }
    }
}

/// Checks `image` against its signed manifest before any of it goes to a
/// reader, in this order: the signature (a trusted key, a valid signature),
/// the expiry, the device type, rollback (the version is not older than
/// the installed one), the size, the digest. The first check that fails is
/// the error.
pub fn verify<'a>(
    signed: &'a SignedManifest,
    image: &'a [u8],
    trusted: &TrustedKeys,
    expectation: &Expectation,
) -> Result<VerifiedImage<'a>, IntegrityError> {
    let key_id = signed.key_id;
    let key = trusted
        .get(&key_id)
        .ok_or(IntegrityError::UnknownKey { key_id })?;
    let manifest = &signed.manifest;
    if !key.verifies(&manifest.signed_bytes(), &signed.signature.0) {
        return Err(IntegrityError::BadSignature { key_id });
    }
    if expectation.now >= manifest.expires_at {
        return Err(IntegrityError::Expired {
            expires_at: manifest.expires_at,
            now: expectation.now,
        });
    }
    if manifest.device_type != expectation.device_type {
        return Err(IntegrityError::WrongDeviceType {
            image: manifest.device_type,
            reader: expectation.device_type,
        });
    }
    match compare_versions(&manifest.version, &expectation.installed_version) {
        Ok(std::cmp::Ordering::Less) => {
            return Err(IntegrityError::Rollback {
                image_version: manifest.version.clone(),
                installed_version: expectation.installed_version.clone(),
            });
        }
        Ok(_) => {}
        Err(error) => {
            let version = match &error {
                super::VersionError::Empty { version }
                | super::VersionError::NotNumeric { version, .. }
                | super::VersionError::EmptyPreRelease { version } => version.clone(),
            };
            return Err(IntegrityError::UnreadableVersion {
                version,
                reason: error.to_string(),
            });
        }
    }
    let actual = image.len() as u64;
    let expected = manifest.size;
    if actual < expected as u64 {
        return Err(IntegrityError::Truncated { expected, actual });
    }
    if actual > expected as u64 {
        return Err(IntegrityError::Oversized { expected, actual });
    }
    let digest = Sha256Digest::of(image);
    if digest != manifest.sha256 {
        return Err(IntegrityError::DigestMismatch {
            expected: manifest.sha256,
            actual: digest,
        });
    }
    Ok(VerifiedImage {
        manifest,
        key_id,
        image,
    })
}
