//! Secrets (connection tokens, keys) that must never reach a log or a trace.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A secret string. `Debug`, `Display` and `Serialize` all print
/// `[redacted]`; only [`Secret::expose`] gives the value, at the one place
/// that must send it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call it only where the value leaves the process
    /// for the party it is meant for.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_and_serializes_redacted() {
        let secret = Secret::new("pst_test_abc123");
        assert!(!format!("{secret:?} {secret}").contains("abc123"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "pst_test_abc123");
    }
}
