//! Errors as data: every public error is written to JSON (events, `--json`
//! output, traces) in one shape — its stable code, its message, then the
//! fields of its kind:
//!
//! ```json
//! {"code": "connect_timed_out", "message": "could not reconnect within 60000 ms (3 attempt(s))", "attempts": 3, "last_error": null, "window_ms": 60000}
//! ```
//!
//! rather than serde's default `{"ConnectTimedOut": {...}}`, so a consumer
//! switches on `code` whatever the error's Rust type. A kind whose payload
//! is a single unnamed error writes it as `error`, any other single unnamed
//! value as `detail`, and a field that would hide `code` or `message` is
//! written as `detail` too. Reading accepts this shape and also serde's
//! default one, so traces recorded before it still load.
//!
//! ```
//! use readerlink::prelude::*;
//!
//! let json = serde_json::to_value(ReconnectError::Cancelled).unwrap();
//! assert_eq!(json["code"], "reconnect_cancelled");
//! assert_eq!(json["message"], "the reconnection was cancelled");
//! let back: ReconnectError = serde_json::from_value(json).unwrap();
//! assert_eq!(back, ReconnectError::Cancelled);
//! ```
//!
//! One implementation serves every error enum: the enum keeps serde's
//! derived (externally tagged) form as inherent functions
//! (`#[serde(remote = "Self")]`: they are the public `serialize` and
//! `deserialize` functions each enum shows besides its traits — call
//! serde's traits, `serde_json::to_string(&error)`, for the shape above),
//! and one macro writes the `Serialize` and `Deserialize` that reshape it.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The name an error's `Deserialize` gives `deserialize_newtype_struct`,
/// so a deserializer that reads shapes ([`crate::scenario::Shape`]) can tell
/// an error is there.
pub(crate) const MARKER: &str = "readerlink::ErrorData";

/// What the shape reader answers in place of an error's data; no JSON
/// reader ever hands a visitor bytes, so it cannot come from a file.
pub(crate) const PROBE_BYTES: &[u8] = b"readerlink::shape-probe";

/// An error written as `{"code", "message", ...fields}`.
pub trait ErrorData: fmt::Display + Sized {
    /// The Rust names of its kinds, as serde's derive knows them
    /// ([`variant_names`]).
    fn variants() -> &'static [&'static str];
    /// Its stable code.
    fn error_code(&self) -> &'static str;
    /// Every code its own kinds have (one that carries an inner error and
    /// takes its code is not listed).
    fn codes() -> &'static [&'static str];
    /// The error in serde's default, externally tagged form.
    fn to_tagged(&self) -> Result<Value, serde_json::Error>;
    /// The error from serde's default, externally tagged form.
    fn from_tagged(value: Value) -> Result<Self, serde_json::Error>;
    /// Any one error of the type, for readers of shapes.
    fn placeholder() -> Self;
}

/// Writes `error` as `{"code", "message", ...fields}`.
pub fn serialize<E: ErrorData, S: Serializer>(error: &E, serializer: S) -> Result<S::Ok, S::Error> {
    let tagged = error.to_tagged().map_err(serde::ser::Error::custom)?;
    let mut fields: Vec<(String, Value)> = Vec::new();
    if let Value::Object(outer) = tagged {
        // One key, the kind's name; a unit kind is a bare string.
        for (_, payload) in outer {
            match payload {
                // A kind whose one unnamed value is an error: that error,
                // whole, as `error`.
                Value::Object(inner) if inner.contains_key("code") && inner.contains_key("message") => {
                    fields.push(("error".to_owned(), Value::Object(inner)));
                }
                Value::Object(inner) => {
                    for (key, value) in inner {
                        let key = if key == "message" || key == "code" {
                            "detail".to_owned()
                        } else {
                            key
                        };
                        fields.push((key, value));
                    }
                }
                other => fields.push(("detail".to_owned(), other)),
            }
        }
    }
    let mut map = serializer.serialize_map(Some(fields.len() + 2))?;
    map.serialize_entry("code", error.error_code())?;
    map.serialize_entry("message", &error.to_string())?;
    for (key, value) in &fields {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

/// Reads an error written by [`serialize`] (or in serde's default form).
pub fn deserialize<'de, E: ErrorData, D: Deserializer<'de>>(deserializer: D) -> Result<E, D::Error> {
    deserializer.deserialize_newtype_struct(MARKER, ErrorVisitor(PhantomData))
}

struct ErrorVisitor<E>(PhantomData<E>);

impl<'de, E: ErrorData> Visitor<'de> for ErrorVisitor<E> {
    type Value = E;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error: {\"code\": ..., \"message\": ..., fields}")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<E, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bytes<Er: de::Error>(self, bytes: &[u8]) -> Result<E, Er> {
        if bytes == PROBE_BYTES {
            Ok(E::placeholder())
        } else {
            Err(Er::invalid_type(de::Unexpected::Bytes(bytes), &self))
        }
    }

    fn visit_str<Er: de::Error>(self, text: &str) -> Result<E, Er> {
        from_value(Value::String(text.to_owned())).map_err(Er::custom)
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<E, M::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        from_value(value).map_err(de::Error::custom)
    }
}

/// The error a JSON value holds: by its code and fields, or in serde's
/// default form.
fn from_value<E: ErrorData>(value: Value) -> Result<E, String> {
    let Value::Object(mut fields) = value else {
        return E::from_tagged(value).map_err(|e| e.to_string());
    };
    let Some(Value::String(code)) = fields.remove("code") else {
        return E::from_tagged(Value::Object(fields)).map_err(|e| e.to_string());
    };
    fields.remove("message");
    // The kinds whose code it is are tried in turn; each refuses fields it
    // does not have, so the one that fits is the one that was written.
    for variant in E::variants() {
        for candidate in candidates(variant, &fields) {
            if let Ok(error) = E::from_tagged(candidate)
                && error.error_code() == code
            {
                return Ok(error);
            }
        }
    }
    Err(format!("no error has the code `{code}` with these fields"))
}

/// The ways `fields` may have been written for `variant` in serde's
/// default form.
fn candidates(variant: &str, fields: &Map<String, Value>) -> Vec<Value> {
    let tagged = |payload: Value| Value::Object(Map::from_iter([(variant.to_owned(), payload)]));
    let mut out = Vec::new();
    if fields.is_empty() {
        out.push(Value::String(variant.to_owned()));
    }
    out.push(tagged(Value::Object(fields.clone())));
    if let (Some(error), 1) = (fields.get("error"), fields.len()) {
        out.push(tagged(error.clone()));
    }
    if let Some(detail) = fields.get("detail") {
        if fields.len() == 1 {
            out.push(tagged(detail.clone()));
        }
        for renamed in ["message", "code"] {
            let mut fields = fields.clone();
            if let Some(value) = fields.remove("detail") {
                fields.insert(renamed.to_owned(), value);
            }
            out.push(tagged(Value::Object(fields)));
        }
    }
    out
}

/// Every code an error written as data can have, sorted: what a scenario
/// pattern on an error field may name.
pub fn all_codes() -> &'static [&'static str] {
    use crate::backend::BackendError;
    use crate::connection::{CommandError, ConnectError};
    use crate::reconnect::ReconnectError;
    use crate::scanner::DiscoveryError;
    use crate::terminal::TerminalError;
    use crate::transport::TransportError;
    static CODES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes: Vec<&'static str> = [
            TerminalError::codes(),
            ConnectError::codes(),
            CommandError::codes(),
            ReconnectError::codes(),
            DiscoveryError::codes(),
            TransportError::codes(),
            BackendError::codes(),
            crate::updater::UpdateError::codes(),
            crate::firmware::IntegrityError::codes(),
        ]
        .concat();
        codes.sort_unstable();
        codes.dedup();
        codes
    })
}

/// For a field holding an error whose own `Serialize` is serde's default
/// (`#[serde(with = "crate::error_data::field")]`).
pub mod field {
    use serde::{Deserializer, Serializer};

    use super::ErrorData;

    /// Writes the field's error as data.
    pub fn serialize<E: ErrorData, S: Serializer>(error: &E, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize(error, serializer)
    }

    /// Reads the field's error.
    pub fn deserialize<'de, E: ErrorData, D: Deserializer<'de>>(deserializer: D) -> Result<E, D::Error> {
        super::deserialize(deserializer)
    }
}

/// The variant names serde's derived `Deserialize` of an enum knows, read
/// by handing it a deserializer that asks for nothing else.
pub fn variant_names<T>(
    deserialize: impl FnOnce(VariantNames) -> Result<T, VariantNamesFound>,
) -> &'static [&'static str] {
    match deserialize(VariantNames) {
        Err(VariantNamesFound(Some(names))) => names,
        _ => &[],
    }
}

/// The deserializer [`variant_names`] hands an enum's `Deserialize`.
#[derive(Debug)]
pub struct VariantNames;

/// What [`VariantNames`] answers: the names, when an enum asked.
#[derive(Debug)]
pub struct VariantNamesFound(Option<&'static [&'static str]>);

impl fmt::Display for VariantNamesFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only the variant names were asked for")
    }
}

impl std::error::Error for VariantNamesFound {}

impl de::Error for VariantNamesFound {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self(None)
    }
}

impl<'de> Deserializer<'de> for VariantNames {
    type Error = VariantNamesFound;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, VariantNamesFound> {
        Err(VariantNamesFound(None))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, VariantNamesFound> {
        Err(VariantNamesFound(None))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, VariantNamesFound> {
        Err(VariantNamesFound(Some(variants)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Implements [`ErrorData`], `Serialize` and `Deserialize` for an error
/// enum that derives `Serialize` and `Deserialize` with `#[serde(remote =
/// "Self", deny_unknown_fields)]` (serde's default form, kept as inherent
/// functions) and has an inherent `code()`.
macro_rules! impl_error_data {
    ($ty:ty, placeholder = $placeholder:expr) => {
        impl $crate::error_data::ErrorData for $ty {
            fn variants() -> &'static [&'static str] {
                $crate::error_data::variant_names(|d| <$ty>::deserialize(d))
            }

            fn error_code(&self) -> &'static str {
                <$ty>::code(self)
            }

            fn codes() -> &'static [&'static str] {
                <$ty>::CODES
            }

            fn to_tagged(&self) -> ::std::result::Result<::serde_json::Value, ::serde_json::Error> {
                struct Tagged<'a>(&'a $ty);
                impl ::serde::Serialize for Tagged<'_> {
                    fn serialize<S: ::serde::Serializer>(
                        &self,
                        serializer: S,
                    ) -> ::std::result::Result<S::Ok, S::Error> {
                        <$ty>::serialize(self.0, serializer)
                    }
                }
                ::serde_json::to_value(Tagged(self))
            }

            fn from_tagged(value: ::serde_json::Value) -> ::std::result::Result<Self, ::serde_json::Error> {
                <$ty>::deserialize(value)
            }

            fn placeholder() -> Self {
                $placeholder
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::error_data::serialize(self, serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::error_data::deserialize(deserializer)
            }
        }
    };
}
pub(crate) use impl_error_data;

/// The backend's error keeps serde's default form where the backend uses
/// it; fields of events' errors that hold one write it as data
/// ([`field`]).
impl ErrorData for crate::backend::BackendError {
    fn variants() -> &'static [&'static str] {
        variant_names(Self::deserialize)
    }

    fn error_code(&self) -> &'static str {
        self.code()
    }

    fn codes() -> &'static [&'static str] {
        &[
            "resource_missing",
            "invalid_request",
            "unauthorized",
            "http_status",
            "timeout",
            "connection_failed",
            "bad_response",
            "random_source_failed",
            "range_not_satisfiable",
            "download_incomplete",
            "storage_failed",
        ]
    }

    fn to_tagged(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    fn from_tagged(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }

    fn placeholder() -> Self {
        Self::Timeout {
            route: String::new(),
            after_ms: 0,
        }
    }
}
