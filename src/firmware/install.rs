//! The host side of an install: verify, then cut the image into
//! `UpdateChunk` frames. Nothing is framed unless every check passed.

use super::keys::{KeyId, TrustedKeys};
use super::manifest::{Expectation, IntegrityError, Manifest, SignedManifest, verify};
use crate::protocol::{Command, MAX_CHUNK_LEN, Request, RequestId};

/// One `UpdateChunk` frame, ready to fragment and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedChunk {
    /// Where in the image its bytes go.
    pub offset: u32,
    /// How many image bytes it carries.
    pub len: u16,
    /// The whole encoded frame ([`Request::encode`]).
    pub frame: Vec<u8>,
}

/// A verified image cut into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedInstall {
    /// The manifest the image passed against.
    pub manifest: Manifest,
    /// The trusted key that signed it.
    pub key_id: KeyId,
    /// The image's `UpdateChunk` frames in order; chunk `i` carries
    /// request id `i + 1` (wrapping).
    pub chunks: Vec<PreparedChunk>,
}

impl PreparedInstall {
    /// The `UpdateBegin` that announces this image, acknowledged every
    /// `window` chunks.
    pub fn begin(&self, window: u8) -> Command {
        Command::UpdateBegin {
            version: self.manifest.version.clone(),
            size: self.manifest.size,
            sha256: self.manifest.sha256.0,
            window: window.max(1),
        }
    }
}

/// Verifies `image` against `signed` ([`verify`]) and only then cuts it
/// into `UpdateChunk` frames of `chunk_len` bytes (clamped to
/// 1..=[`MAX_CHUNK_LEN`]; the last one shorter). A rejected image yields
/// its [`IntegrityError`] and no frame at all.
pub fn prepare_install(
    signed: &SignedManifest,
    image: &[u8],
    trusted: &TrustedKeys,
    expectation: &Expectation,
    chunk_len: u16,
) -> Result<PreparedInstall, IntegrityError> {
    let verified = match verify(signed, image, trusted, expectation) {
        Ok(verified) => verified,
        Err(error) => {
            tracing::warn!(check = %error.check(), code = error.code(), "update image rejected: {error}");
            return Err(error);
        }
    };
    let chunk_len = (chunk_len as usize).clamp(1, MAX_CHUNK_LEN);
    let chunks: Vec<PreparedChunk> = verified
        .image
        .chunks(chunk_len)
        .enumerate()
        .map(|(i, bytes)| {
            let offset = (i * chunk_len) as u32;
            let request_id = (i as RequestId).wrapping_add(1);
            PreparedChunk {
                offset,
                len: bytes.len() as u16,
                frame: Request::new(
                    request_id,
                    Command::UpdateChunk {
                        offset,
                        bytes: bytes.to_vec(),
                    },
                )
                .encode(),
            }
        })
        .collect();
    tracing::info!(
        version = %verified.manifest.version,
        key_id = %verified.key_id,
        chunks = chunks.len(),
        "update image verified"
    );
    Ok(PreparedInstall {
        manifest: verified.manifest.clone(),
        key_id: verified.key_id,
        chunks,
    })
}

/// An install whose transfer and commit the reader acknowledged, but whose
/// image does not run afterwards: the reader fell back to its old slot (the
/// new image never confirmed itself). A failed install, not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the reader runs {running} after {installed} was installed: the new image was never activated")]
pub struct NotActivated {
    /// The version installed.
    pub installed: String,
    /// The version the reader reports running.
    pub running: String,
}

/// Checks, after an install and a fresh hello, that the reader runs the
/// version it was given.
pub fn confirm_running(manifest: &Manifest, running_version: &str) -> Result<(), NotActivated> {
    if running_version == manifest.version {
        Ok(())
    } else {
        Err(NotActivated {
            installed: manifest.version.clone(),
            running: running_version.to_owned(),
        })
    }
}
