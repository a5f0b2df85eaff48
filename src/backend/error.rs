//! [`BackendError`] and the hosted API's error body.

use serde::{Deserialize, Serialize};

/// What can go wrong at the backend boundary. Every kind has a stable
/// [`code`](Self::code) an integrator can switch on. It is a plain value
/// (cloneable, serializable) because it reaches machines as an input and
/// traces record it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackendError {
    /// The thing asked for does not exist (an unknown location).
    ///
    /// Code: `resource_missing`.
    #[error("no such {resource}: `{id}`")]
    NotFound {
        /// What kind of thing: `location`, `reader`.
        resource: String,
        /// The id asked for.
        id: String,
        /// The request parameter that named it, when it came in a form.
        param: Option<String>,
    },
    /// The request was refused as malformed.
    ///
    /// Code: `invalid_request`.
    #[error("invalid request{}: {message}", param.as_ref().map(|p| format!(" (parameter `{p}`)")).unwrap_or_default())]
    InvalidRequest {
        /// The offending parameter, when one is to blame.
        param: Option<String>,
        /// The server's explanation.
        message: String,
    },
    /// The secret key was missing or wrong (HTTP 401).
    ///
    /// Code: `unauthorized`.
    #[error("not authorized: {message}")]
    Unauthorized {
        /// The server's explanation.
        message: String,
    },
    /// The server answered with an error status not covered above (5xx after
    /// the retries, other 4xx).
    ///
    /// Code: `http_status`.
    #[error("HTTP {status} from {route} after {attempts} attempt(s): {message}")]
    Status {
        /// Which route.
        route: String,
        /// The HTTP status.
        status: u16,
        /// The hosted API's error `type` (`api_error`, ...), when the body had one.
        error_type: Option<String>,
        /// The server's error message (or the start of a body that was not
        /// the error shape).
        message: String,
        /// How many requests were made.
        attempts: u32,
    },
    /// No answer within the timeout.
    ///
    /// Code: `timeout`.
    #[error("{route} timed out after {after_ms} ms")]
    Timeout {
        /// Which route.
        route: String,
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The server could not be reached (refused, reset, DNS, down).
    ///
    /// Code: `connection_failed`.
    #[error("{route}: connection failed after {attempts} attempt(s): {reason}")]
    ConnectionFailed {
        /// Which route.
        route: String,
        /// How many connections were tried.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The server answered 2xx with a body that is not what the route
    /// returns.
    ///
    /// Code: `bad_response`.
    #[error("{route}: bad response body: {reason}")]
    BadResponse {
        /// Which route.
        route: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system's random source failed to give a connection
    /// token (server side).
    ///
    /// Code: `random_source_failed`.
    #[error("the random source failed: {reason}")]
    RandomSourceFailed {
        /// What the OS said.
        reason: String,
    },
    /// A download asked for bytes from past the end of the image (HTTP
    /// 416).
    ///
    /// Code: `range_not_satisfiable`.
    #[error("update {id} has {size} bytes: none from byte {from}")]
    RangeNotSatisfiable {
        /// The update, `<device_type>/<version>`.
        id: String,
        /// The first byte asked for.
        from: u32,
        /// The image's size in bytes.
        size: u32,
    },
    /// A download's body kept being cut short, and the resumes allowed
    /// ran out before the image was whole (client side).
    ///
    /// Code: `download_incomplete`.
    #[error("{route}: got {received} of {expected} bytes after {resumes} resume(s)")]
    DownloadIncomplete {
        /// Which route.
        route: String,
        /// The bytes received, counted from the first byte asked for.
        received: u32,
        /// The bytes there were to receive.
        expected: u32,
        /// How many times the download was resumed with a `Range` request.
        resumes: u32,
    },
    /// The backend could not save its data (server side).
    ///
    /// Code: `storage_failed`.
    #[error("backend storage {path} failed: {reason}")]
    Storage {
        /// The data file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl BackendError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "resource_missing",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Status { .. } => "http_status",
            Self::Timeout { .. } => "timeout",
            Self::ConnectionFailed { .. } => "connection_failed",
            Self::BadResponse { .. } => "bad_response",
            Self::RandomSourceFailed { .. } => "random_source_failed",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::DownloadIncomplete { .. } => "download_incomplete",
            Self::Storage { .. } => "storage_failed",
        }
    }

    /// A shorthand for an invalid parameter.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// The HTTP status the local server answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::InvalidRequest { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Status { status, .. } => *status,
            Self::Timeout { .. } => 504,
            Self::ConnectionFailed { .. } => 503,
            Self::BadResponse { .. } | Self::DownloadIncomplete { .. } => 502,
            Self::RangeNotSatisfiable { .. } => 416,
            Self::RandomSourceFailed { .. } | Self::Storage { .. } => 500,
        }
    }

    /// The hosted API's error body for this error, as the local server
    /// answers it: `code` is always [`code`](Self::code). A server-side
    /// failure says what failed, never where: the data file's path and the
    /// OS's words stay in the server's log.
    pub fn to_body(&self) -> ApiErrorBody {
        let (error_type, param) = match self {
            Self::Status {
                error_type: Some(t), ..
            } => (t.as_str(), None),
            Self::NotFound { param, .. } | Self::InvalidRequest { param, .. } => {
                ("invalid_request_error", param.clone())
            }
            Self::RangeNotSatisfiable { .. } => ("invalid_request_error", Some("Range".to_owned())),
            Self::Unauthorized { .. } => ("invalid_request_error", None),
            _ => ("api_error", None),
        };
        let message = match self {
            Self::NotFound { resource, id, .. } => format!("No such {resource}: '{id}'"),
            Self::InvalidRequest { message, .. }
            | Self::Unauthorized { message }
            | Self::Status { message, .. } => message.clone(),
            Self::Storage { .. } => "The backend could not save the change, so it was not made.".into(),
            Self::RandomSourceFailed { .. } => "The backend could not make a connection token.".into(),
            other => other.to_string(),
        };
        ApiErrorBody {
            error: ApiError {
                error_type: error_type.to_owned(),
                code: Some(self.code().to_owned()),
                message,
                param,
            },
        }
    }
}

/// The hosted API's error response: `{"error": {type, code, message, param}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiError,
}

/// The inside of [`ApiErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// `invalid_request_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub error_type: String,
    /// A stable snake_case code (`resource_missing`, `invalid_request`,
    /// `payload_too_large`, ...); the local server always sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A sentence for a developer.
    pub message: String,
    /// The request parameter at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}
