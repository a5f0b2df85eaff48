//! [`ScenarioError`]: why a scenario file was rejected, naming the line and
//! the field.

use crate::transport::sim::FleetError;

/// Why a scenario file was rejected before it ran. Every kind names the
/// line (1-based; 0 when there is no line, as for an unreadable file) and
/// the field (`steps[2].at`, 0-based indices as in fleet files), and has a
/// stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    ///
    /// Code: `scenario_io`.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        message: String,
    },
    /// The file is larger than the most [`super::load`] reads
    /// ([`super::MAX_SCENARIO_BYTES`]).
    ///
    /// Code: `scenario_too_large`.
    #[error("{path}: larger than {limit} bytes, the largest scenario file read")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Not TOML, or a value of the wrong type where the format is fixed.
    ///
    /// Code: `scenario_syntax`.
    #[error("scenario line {line}, field `{field}`: {message}")]
    Syntax {
        /// The line.
        line: usize,
        /// The field, as far as it is known.
        field: String,
        /// What the parser said.
        message: String,
    },
    /// A key the format does not have.
    ///
    /// Code: `unknown_field`.
    #[error("scenario line {line}, field `{field}`: unknown field")]
    UnknownField {
        /// The line.
        line: usize,
        /// The field.
        field: String,
    },
    /// A key the format needs is missing.
    ///
    /// Code: `missing_field`.
    #[error("scenario line {line}, field `{field}`: missing")]
    MissingField {
        /// The line of the table it is missing from.
        line: usize,
        /// The field.
        field: String,
    },
    /// A step's `action` is none of the known actions.
    ///
    /// Code: `unknown_action`.
    #[error("scenario line {line}, field `{field}`: unknown action `{name}` (known: {known})")]
    UnknownAction {
        /// The line.
        line: usize,
        /// The field, `steps[i].action`.
        field: String,
        /// The name given.
        name: String,
        /// Every known action, comma-separated.
        known: String,
    },
    /// An event name that is none of the known events.
    ///
    /// Code: `unknown_event`.
    #[error("scenario line {line}, field `{field}`: unknown event `{name}` (known: {known})")]
    UnknownEvent {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// The name given.
        name: String,
        /// Every known event, comma-separated.
        known: String,
    },
    /// An event pattern names a field its event kind does not have, so it
    /// could never match (nor, in `absent`, ever fail).
    ///
    /// Code: `unknown_event_field`.
    #[error("scenario line {line}, field `{field}`: `{event}` has no such field (its fields: {known})")]
    UnknownEventField {
        /// The line.
        line: usize,
        /// The pattern's field, `expect.absent[0].reason`.
        field: String,
        /// The event kind.
        event: String,
        /// The kind's fields, comma-separated.
        known: String,
    },
    /// A serial number that is not in the fleet.
    ///
    /// Code: `unknown_serial`.
    #[error("scenario line {line}, field `{field}`: no reader `{serial}` in the fleet")]
    UnknownSerial {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// The serial given.
        serial: String,
    },
    /// A step's `at` is earlier than the step before it.
    ///
    /// Code: `time_goes_backwards`.
    #[error(
        "scenario line {line}, field `{field}`: time goes backwards: {at} is before {previous} (line {previous_line})"
    )]
    TimeGoesBackwards {
        /// The line.
        line: usize,
        /// The field, `steps[i].at`.
        field: String,
        /// This step's time, as written.
        at: String,
        /// The previous timed step's time, as written.
        previous: String,
        /// The previous timed step's line.
        previous_line: usize,
    },
    /// A duration that `humantime` cannot read (`"2.5s"`, `"24h"`, `"1m 30s"`).
    ///
    /// Code: `malformed_duration`.
    #[error("scenario line {line}, field `{field}`: malformed duration `{value}`: {message}")]
    MalformedDuration {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// The value as written.
        value: String,
        /// Why it was rejected.
        message: String,
    },
    /// Any other value outside its domain.
    ///
    /// Code: `invalid_value`.
    #[error("scenario line {line}, field `{field}`: {message}")]
    InvalidValue {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The fleet (inline `[[readers]]`, or the file `fleet` names) was
    /// rejected; the line and field are in the scenario file for inline
    /// readers, in the fleet file otherwise.
    ///
    /// Code: `bad_fleet`.
    #[error("{}line {line}, field `{field}`: {message}", path.as_ref().map_or_else(|| "scenario ".to_owned(), |p| format!("fleet file {p}, ")))]
    Fleet {
        /// The fleet file, when the fleet is not inline.
        path: Option<String>,
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// What is wrong, with lines in the same file as `line`.
        message: String,
        /// The fleet's own error.
        source: Box<FleetError>,
    },
    /// The file has no steps and no expectations: nothing would run and
    /// nothing would be checked, so a run could only pass vacuously.
    ///
    /// Code: `empty_scenario`.
    #[error("scenario has no steps and no expectations: nothing to run or check")]
    Empty,
    /// The scenario uses something this build cannot do yet (an action or
    /// an event whose feature is not implemented); nothing was run.
    ///
    /// Code: `unsupported`.
    #[error("scenario line {line}, field `{field}`: not supported yet: {what}")]
    Unsupported {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// What is missing, in a sentence.
        what: String,
    },
}

impl ScenarioError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "scenario_io",
            Self::TooLarge { .. } => "scenario_too_large",
            Self::Syntax { .. } => "scenario_syntax",
            Self::UnknownField { .. } => "unknown_field",
            Self::MissingField { .. } => "missing_field",
            Self::UnknownAction { .. } => "unknown_action",
            Self::UnknownEvent { .. } => "unknown_event",
            Self::UnknownSerial { .. } => "unknown_serial",
            Self::UnknownEventField { .. } => "unknown_event_field",
            Self::TimeGoesBackwards { .. } => "time_goes_backwards",
            Self::MalformedDuration { .. } => "malformed_duration",
            Self::InvalidValue { .. } => "invalid_value",
            Self::Fleet { .. } => "bad_fleet",
            Self::Unsupported { .. } => "unsupported",
            Self::Empty => "empty_scenario",
        }
    }

    /// The line the error is on (0 when there is none).
    pub fn line(&self) -> usize {
        match self {
            Self::Io { .. } | Self::TooLarge { .. } | Self::Empty => 0,
            Self::Syntax { line, .. }
            | Self::UnknownField { line, .. }
            | Self::MissingField { line, .. }
            | Self::UnknownAction { line, .. }
            | Self::UnknownEvent { line, .. }
            | Self::UnknownSerial { line, .. }
            | Self::UnknownEventField { line, .. }
            | Self::TimeGoesBackwards { line, .. }
            | Self::MalformedDuration { line, .. }
            | Self::InvalidValue { line, .. }
            | Self::Fleet { line, .. }
            | Self::Unsupported { line, .. } => *line,
        }
    }

    /// The field the error is about (empty when there is none).
    pub fn field(&self) -> &str {
        match self {
            Self::Io { .. } | Self::TooLarge { .. } | Self::Empty => "",
            Self::Syntax { field, .. }
            | Self::UnknownField { field, .. }
            | Self::MissingField { field, .. }
            | Self::UnknownAction { field, .. }
            | Self::UnknownEvent { field, .. }
            | Self::UnknownSerial { field, .. }
            | Self::UnknownEventField { field, .. }
            | Self::TimeGoesBackwards { field, .. }
            | Self::MalformedDuration { field, .. }
            | Self::InvalidValue { field, .. }
            | Self::Fleet { field, .. }
            | Self::Unsupported { field, .. } => field,
        }
    }
}
