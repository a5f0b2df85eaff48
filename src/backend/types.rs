//! The values that cross the backend boundary, and their form encoding
//! (the hosted API takes `application/x-www-form-urlencoded` bodies with
//! nested fields spelled `address[line1]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::BackendError;
use crate::reader::{DeviceType, SerialNumber};

/// A location id, `tml_...`.
pub type LocationId = String;

/// The routes of the backend, for fault injection, errors and logs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Route {
    /// `POST /v1/terminal/connection_tokens`
    ConnectionToken,
    /// `GET /v1/terminal/locations/{id}`
    GetLocation,
    /// `POST /v1/terminal/locations`
    CreateLocation,
    /// `GET /v1/terminal/locations`
    ListLocations,
    /// `POST /v1/terminal/readers`
    RegisterReader,
    /// `GET /v1/terminal/updates`: the update catalog's answer for a reader.
    CheckUpdate,
    /// `GET /v1/terminal/updates/{device_type}/{version}/image`: an update's
    /// image, whole or from a byte on.
    DownloadUpdate,
    /// `GET /v1/terminal/updates/signing_key`: the public key update
    /// manifests are signed with (R19), for an operator to pin.
    UpdateSigningKey,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 8] = [
        Self::ConnectionToken,
        Self::GetLocation,
        Self::CreateLocation,
        Self::ListLocations,
        Self::RegisterReader,
        Self::CheckUpdate,
        Self::DownloadUpdate,
        Self::UpdateSigningKey,
    ];

    /// The route's snake_case name (`get_location`).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A postal address of a location.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, floor.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State, county or province.
    #[serde(default)]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Two-letter ISO country code (`FR`).
    pub country: String,
}

/// A business location readers are registered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `tml_...`
    pub id: LocationId,
    /// The name shown to people.
    pub display_name: String,
    /// Where it is.
    pub address: Address,
}

/// `POST /v1/terminal/locations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateLocation {
    /// The name shown to people; not empty.
    pub display_name: String,
    /// Where it is; `line1` and `country` are required.
    pub address: Address,
}

/// How a reader to register is identified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderIdentity {
    /// A Bluetooth reader the app is connected to: its serial number and
    /// model are known from the reader itself.
    SerialNumber {
        /// The reader's serial number.
        serial_number: SerialNumber,
        /// Its model.
        device_type: DeviceType,
    },
    /// A code the reader shows on its screen. The local backend also takes
    /// `simulated-<model>` (`simulated-m2`, `simulated-wisepad3`,
    /// `simulated-chipper2x`).
    RegistrationCode(String),
}

/// `POST /v1/terminal/readers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReader {
    /// Which reader.
    pub reader: ReaderIdentity,
    /// The location to register it to.
    pub location: LocationId,
    /// A label for people; the serial number when absent.
    pub label: Option<String>,
}

/// A reader registered to a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredReader {
    /// `tmr_...`; the same on every registration of one serial number.
    pub id: String,
    /// The reader's serial number.
    pub serial_number: SerialNumber,
    /// Its model: `bbpos_chipper2x`, `bbpos_wisepad3` or `stripe_m2`.
    pub device_type: DeviceType,
    /// The location it is registered to.
    pub location: LocationId,
    /// Its label.
    pub label: String,
}

/// A form body: field name → value, in order.
pub type Form = BTreeMap<String, String>;

/// The longest text field, in characters: `display_name`, the `address`
/// lines, `city`, `state`, `postal_code`, `label`.
pub const MAX_TEXT_CHARS: usize = 200;

/// The longest identifier field, in characters: `serial_number`,
/// `registration_code`, `location`, `address[country]`.
pub const MAX_ID_CHARS: usize = 64;

/// Refuses a field longer than `max` characters or holding a control
/// character (a newline would forge lines in logs and human output, an ESC
/// would reach a terminal raw) or a bidirectional-formatting one (U+202A to
/// U+202E, U+2066 to U+2069: they reorder what a terminal shows), the same
/// characters [`crate::reader::check_text`] refuses in text from files and
/// readers.
pub(crate) fn check_text(param: &str, value: &str, max: usize) -> Result<(), BackendError> {
    if value.chars().count() > max {
        return Err(BackendError::invalid(
            param,
            format!("Invalid {param}: longer than {max} characters"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(BackendError::invalid(
            param,
            format!(
                "Invalid {param}: contains the control character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Decodes an `application/x-www-form-urlencoded` body strictly: a field
/// that is not UTF-8 once decoded, a bad `%` escape or a field given twice
/// is an [`BackendError::InvalidRequest`] naming it, never a value with
/// replacement characters.
pub fn parse_form(body: &[u8]) -> Result<Form, BackendError> {
    let malformed = |message: String| BackendError::InvalidRequest { param: None, message };
    let mut form = Form::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = percent_decode(name)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                malformed(
                    "The request body has a field name that is not valid UTF-8 or has a bad `%` escape."
                        .into(),
                )
            })?;
        let value = percent_decode(value).ok_or_else(|| {
            BackendError::invalid(
                &name,
                format!("Invalid {name}: a `%` not followed by two hex digits"),
            )
        })?;
        let value = String::from_utf8(value)
            .map_err(|_| BackendError::invalid(&name, format!("Invalid {name}: not valid UTF-8")))?;
        if form.contains_key(&name) {
            return Err(BackendError::invalid(
                &name,
                format!("Received duplicate parameter: {name}"),
            ));
        }
        form.insert(name, value);
    }
    Ok(form)
}

/// `+` is a space, `%XX` a byte; `None` for a `%` without two hex digits.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = hex(*bytes.get(i + 1)?)?;
                let low = hex(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Takes a required, non-empty field out of a form.
pub(super) fn required(form: &mut Form, name: &str) -> Result<String, BackendError> {
    match form.remove(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(BackendError::invalid(
            name,
            format!("Invalid {name}: must not be empty"),
        )),
        None => Err(BackendError::invalid(
            name,
            format!("Missing required param: {name}."),
        )),
    }
}

/// The first field left over, reported as the hosted API does.
pub(super) fn no_leftovers(form: Form) -> Result<(), BackendError> {
    match form.into_keys().next() {
        None => Ok(()),
        Some(name) => Err(BackendError::invalid(
            name.clone(),
            format!("Received unknown parameter: {name}"),
        )),
    }
}

impl CreateLocation {
    /// A location with just the required fields: a name, the first address
    /// line and a two-letter country code.
    pub fn new(
        display_name: impl Into<String>,
        line1: impl Into<String>,
        country: impl Into<String>,
    ) -> Self {
        Self {
            display_name: display_name.into(),
            address: Address {
                line1: line1.into(),
                country: country.into(),
                ..Address::default()
            },
        }
    }

    /// The form fields of this request.
    pub fn to_form(&self) -> Vec<(String, String)> {
        let a = &self.address;
        let mut form = vec![
            ("display_name".to_owned(), self.display_name.clone()),
            ("address[line1]".to_owned(), a.line1.clone()),
            ("address[country]".to_owned(), a.country.clone()),
        ];
        for (name, value) in [
            ("address[line2]", &a.line2),
            ("address[city]", &a.city),
            ("address[state]", &a.state),
            ("address[postal_code]", &a.postal_code),
        ] {
            if let Some(v) = value {
                form.push((name.to_owned(), v.clone()));
            }
        }
        form
    }

    /// Decodes the form; a missing, empty or unknown field is an
    /// [`BackendError::InvalidRequest`] naming it.
    pub fn from_form(mut form: Form) -> Result<Self, BackendError> {
        let display_name = required(&mut form, "display_name")?;
        let line1 = required(&mut form, "address[line1]")?;
        let country = required(&mut form, "address[country]")?;
        let address = Address {
            line1,
            line2: form.remove("address[line2]"),
            city: form.remove("address[city]"),
            state: form.remove("address[state]"),
            postal_code: form.remove("address[postal_code]"),
            country,
        };
        no_leftovers(form)?;
        Ok(Self {
            display_name,
            address,
        })
    }
}

impl RegisterReader {
    /// The form fields of this request.
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = match &self.reader {
            ReaderIdentity::SerialNumber {
                serial_number,
                device_type,
            } => vec![
                ("serial_number".to_owned(), serial_number.to_string()),
                ("device_type".to_owned(), device_type.api_name().to_owned()),
            ],
            ReaderIdentity::RegistrationCode(code) => vec![("registration_code".to_owned(), code.clone())],
        };
        form.push(("location".to_owned(), self.location.clone()));
        if let Some(label) = &self.label {
            form.push(("label".to_owned(), label.clone()));
        }
        form
    }

    /// Decodes the form: `registration_code`, or `serial_number` with
    /// `device_type`; `location`; optional `label`.
    pub fn from_form(mut form: Form) -> Result<Self, BackendError> {
        let reader = if form.contains_key("registration_code") {
            ReaderIdentity::RegistrationCode(required(&mut form, "registration_code")?)
        } else if form.contains_key("serial_number") {
            let serial_number = SerialNumber::new(required(&mut form, "serial_number")?);
            let device_type = required(&mut form, "device_type")?;
            let device_type = serde_json::from_value::<DeviceType>(serde_json::Value::String(device_type.clone()))
                .map_err(|_| {
                    BackendError::invalid(
                        "device_type",
                        format!(
                            "Invalid device_type `{device_type}`: expected one of bbpos_chipper2x, bbpos_wisepad3, stripe_m2"
                        ),
                    )
                })?;
            ReaderIdentity::SerialNumber {
                serial_number,
                device_type,
            }
        } else {
            return Err(BackendError::invalid(
                "registration_code",
                "Missing required param: registration_code (or serial_number and device_type).",
            ));
        };
        let location = required(&mut form, "location")?;
        let label = form.remove("label").filter(|l| !l.trim().is_empty());
        no_leftovers(form)?;
        Ok(Self {
            reader,
            location,
            label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: Vec<(String, String)>) -> Form {
        pairs.into_iter().collect()
    }

    #[test]
    fn requests_survive_their_form_encoding() {
        let location = CreateLocation {
            display_name: "Café".into(),
            address: Address {
                line1: "1 rue de Rivoli".into(),
                city: Some("Paris".into()),
                country: "FR".into(),
                ..Address::default()
            },
        };
        assert_eq!(
            CreateLocation::from_form(form(location.to_form())).unwrap(),
            location
        );
        let reader = RegisterReader {
            reader: ReaderIdentity::SerialNumber {
                serial_number: "STRM26001".into(),
                device_type: DeviceType::StripeM2,
            },
            location: "tml_000001".into(),
            label: Some("Till 1".into()),
        };
        assert_eq!(RegisterReader::from_form(form(reader.to_form())).unwrap(), reader);
    }

    #[test]
    fn a_form_is_decoded_strictly() {
        let f = parse_form(b"display_name=Caf%C3%A9+du+coin&address%5Bline1%5D=1&empty=").unwrap();
        assert_eq!(f["display_name"], "Café du coin");
        assert_eq!(f["address[line1]"], "1");
        assert_eq!(f["empty"], "");
        for (body, param) in [
            (&b"display_name=%FF"[..], Some("display_name")),
            (b"display_name=\xff", Some("display_name")),
            (b"display_name=%F", Some("display_name")),
            (b"a=1&a=2", Some("a")),
            (b"%FF=1", None),
        ] {
            let err = parse_form(body).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{body:?}");
            assert_eq!(err.to_body().error.param.as_deref(), param, "{body:?}");
        }
    }

    #[test]
    fn a_bad_form_names_the_parameter_at_fault() {
        let mut f = Form::new();
        f.insert("display_name".into(), "Shop".into());
        f.insert("address[line1]".into(), "1 Main St".into());
        let err = CreateLocation::from_form(f.clone()).unwrap_err();
        assert_eq!(err.to_body().error.param.as_deref(), Some("address[country]"));
        f.insert("address[country]".into(), "US".into());
        f.insert("colour".into(), "red".into());
        let err = CreateLocation::from_form(f).unwrap_err();
        assert_eq!(err.to_body().error.param.as_deref(), Some("colour"));

        let mut f = Form::new();
        f.insert("serial_number".into(), "X1".into());
        f.insert("device_type".into(), "verifone_p400".into());
        f.insert("location".into(), "tml_1".into());
        let err = RegisterReader::from_form(f).unwrap_err();
        assert_eq!(err.to_body().error.param.as_deref(), Some("device_type"));
    }
}
