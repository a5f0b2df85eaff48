//! The keys that sign update images and the keys a terminal trusts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::updater::Sha256Digest;

/// Why a key could not be made, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed while generating a key.
    #[error("the random source failed while generating a signing key: {0}")]
    RandomSource(String),
    /// A key's text is not the right number of hex digits.
    #[error("a {what} is {expected} hex digits")]
    NotHex {
        /// Which kind of key.
        what: &'static str,
        /// How many hex digits it takes.
        expected: usize,
    },
    /// The bytes are not a valid ed25519 public key.
    #[error("the bytes are not a valid ed25519 public key")]
    InvalidPublicKey,
    /// The key file could not be read or written.
    #[error("the key file {path} could not be {action}: {source}")]
    File {
        /// The file.
        path: String,
        /// `read` or `written`.
        action: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], KeyError> {
    let text = text.trim();
    let bad = || KeyError::NotHex {
        what,
        expected: 2 * N,
    };
    if text.len() != 2 * N || !text.is_ascii() {
        return Err(bad());
    }
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The key a backend signs update manifests with (ed25519). Its `Debug`
/// shows only its [`KeyId`]; it has no `Display` and is not `Serialize`,
/// so it cannot reach a log, a trace or an answer by accident. Its bytes
/// are wiped when it is dropped.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        use rand::TryRngCore as _;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| KeyError::RandomSource(e.to_string()))?;
        Ok(Self::from_bytes(&seed))
    }

    /// The key whose secret is these 32 bytes (the ed25519 seed).
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Reads a key written by [`SigningKey::write_file`]: its 32 secret
    /// bytes as 64 hex digits.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| KeyError::File {
                path: path.display().to_string(),
                action: "read",
                source,
            })?);
        let seed = zeroize::Zeroizing::new(from_hex::<32>(&text, "signing key")?);
        Ok(Self::from_bytes(&seed))
    }

    /// Writes the key's 32 secret bytes as 64 hex digits, readable by the
    /// owner only on Unix.
    pub fn write_file(&self, path: &Path) -> Result<(), KeyError> {
        let text = zeroize::Zeroizing::new(to_hex(self.0.as_bytes()));
        let file_error = |source| KeyError::File {
            path: path.display().to_string(),
            action: "written",
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        use std::io::Write as _;
        let mut file = options.open(path).map_err(file_error)?;
        file.write_all(text.as_bytes()).map_err(file_error)?;
        file.sync_all().map_err(file_error)
    }

    /// Its public half, which terminals pin.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Its fingerprint.
    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    pub(super) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// An ed25519 public key, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidPublicKey)
    }

    /// The key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&from_hex::<32>(text, "public key")?)
    }

    /// Its 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 64 hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(self.0.as_bytes())
    }

    /// Its fingerprint: the first 8 bytes of the SHA-256 of its bytes.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256Digest::of(self.0.as_bytes());
        let mut id = [0; 8];
        id.copy_from_slice(&digest.0[..8]);
        KeyId(id)
    }

    /// Whether `signature` is this key's signature of `message` (strict
    /// verification: no malleable or small-order signatures).
    pub(super) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A short fingerprint of a public key (8 bytes, 16 hex digits): a signed
/// manifest names the key that signed it, and a terminal looks it up among
/// the keys it trusts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The 16 hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parses 16 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        from_hex::<8>(text, "key id").map(Self)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// The public keys a terminal trusts to sign update images, pinned in its
/// configuration — never fetched from where the images come from. As JSON,
/// a list of hex keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys(BTreeMap<KeyId, PublicKey>);

impl TrustedKeys {
    /// No key: every image is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` too.
    pub fn with(mut self, key: PublicKey) -> Self {
        self.insert(key);
        self
    }

    /// Trusts `key` too.
    pub fn insert(&mut self, key: PublicKey) {
        self.0.insert(key.key_id(), key);
    }

    /// The trusted key with this fingerprint.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.0.get(id)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<PublicKey> for TrustedKeys {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        let mut keys = Self::new();
        for key in iter {
            keys.insert(key);
        }
        keys
    }
}

impl Serialize for TrustedKeys {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.values())
    }
}

impl<'de> Deserialize<'de> for TrustedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<PublicKey>::deserialize(deserializer)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_debug_shows_its_id_and_never_its_bytes() {
        let seed = [0x5a; 32];
        let key = SigningKey::from_bytes(&seed);
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.key_id().to_hex()), "{debug}");
        assert!(!debug.contains(&to_hex(&seed)), "{debug}");
        assert!(!debug.contains("5a5a"), "{debug}");
    }

    #[test]
    fn a_signing_key_written_to_a_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = SigningKey::generate().unwrap();
        key.write_file(&path).unwrap();
        assert_eq!(
            SigningKey::from_file(&path).unwrap().public_key(),
            key.public_key()
        );
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            SigningKey::from_file(&path),
            Err(KeyError::NotHex { .. })
        ));
    }

    #[test]
    fn trusted_keys_round_trip_as_a_list_of_hex_keys() {
        let keys: TrustedKeys = [SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32])]
            .iter()
            .map(SigningKey::public_key)
            .collect();
        let json = serde_json::to_string(&keys).unwrap();
        assert_eq!(serde_json::from_str::<TrustedKeys>(&json).unwrap(), keys);
        assert!(serde_json::from_str::<TrustedKeys>("[\"00\"]").is_err());
    }
}
