//! What can go wrong, as a kind with an HTTP-like status and a retry hint.
//!
//! One [`Error`] type covers both moments a failure can surface:
//!
//! * **Before the stream**, when `converse_stream().send()` fails. Convert the
//!   `SdkError<ConverseStreamError>` with `Error::from` and answer the HTTP
//!   request with [`Error::status`] and [`Error::to_json`] before any byte is
//!   streamed.
//! * **During the stream**, when Bedrock sends an exception event, the
//!   connection breaks, the upstream goes quiet or the stream is shut down.
//!   [`SseStream`](crate::SseStream) turns it into exactly one in-band error
//!   frame in the chosen dialect.
//!
//! ```
//! use bedrock_sse::{Error, ErrorKind};
//!
//! let error = Error::new(ErrorKind::Throttling, "Too many requests, please wait.");
//! assert_eq!(error.status(), 429);
//! assert!(error.is_retryable());
//! assert_eq!(
//!     error.to_json(),
//!     r#"{"error":{"kind":"throttling","message":"Too many requests, please wait.","status":429,"retryable":true}}"#
//! );
//! ```

use std::fmt;

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The kind of a failure, stable enough to branch on and to log.
///
/// Each kind has a fixed HTTP-like [`status`](ErrorKind::status), a
/// [`retryable`](ErrorKind::is_retryable) hint and a snake_case
/// [`name`](ErrorKind::as_str) used on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request was invalid (`ValidationException`).
    Validation,
    /// The caller may not use the model (`AccessDeniedException`).
    AccessDenied,
    /// The model or inference profile does not exist (`ResourceNotFoundException`).
    NotFound,
    /// Too many requests (`ThrottlingException`).
    Throttling,
    /// An account quota was exceeded (`ServiceQuotaExceededException`).
    QuotaExceeded,
    /// The model is not ready to serve yet (`ModelNotReadyException`).
    ModelNotReady,
    /// The model took too long (`ModelTimeoutException`).
    ModelTimeout,
    /// The model failed while processing the request (`ModelErrorException`).
    ModelError,
    /// The model failed while streaming (`modelStreamErrorException`).
    ModelStream,
    /// Bedrock failed internally (`InternalServerException`).
    InternalServer,
    /// Bedrock is unavailable (`ServiceUnavailableException`).
    ServiceUnavailable,
    /// The connection to Bedrock failed or broke.
    Transport,
    /// The upstream ended before the message was complete.
    Truncated,
    /// Bedrock sent nothing for longer than the idle timeout.
    IdleTimeout,
    /// The stream ran longer than its maximum duration.
    MaxDuration,
    /// The server is shutting down; the client should retry elsewhere.
    ShuttingDown,
    /// An error this crate does not know.
    Unknown,
}

impl ErrorKind {
    /// The snake_case name of the kind, as written in error frames.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::Throttling => "throttling",
            Self::QuotaExceeded => "quota_exceeded",
            Self::ModelNotReady => "model_not_ready",
            Self::ModelTimeout => "model_timeout",
            Self::ModelError => "model_error",
            Self::ModelStream => "model_stream_error",
            Self::InternalServer => "internal_server",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Transport => "transport",
            Self::Truncated => "truncated",
            Self::IdleTimeout => "idle_timeout",
            Self::MaxDuration => "max_duration",
            Self::ShuttingDown => "shutting_down",
            Self::Unknown => "unknown",
        }
    }

    /// The HTTP status a server should answer with for this kind.
    pub const fn status(self) -> u16 {
        match self {
            Self::Validation => 400,
            Self::AccessDenied => 403,
            Self::NotFound => 404,
            Self::Throttling | Self::QuotaExceeded => 429,
            Self::ModelNotReady | Self::ServiceUnavailable | Self::ShuttingDown => 503,
            Self::ModelTimeout | Self::IdleTimeout | Self::MaxDuration => 504,
            Self::ModelError
            | Self::ModelStream
            | Self::InternalServer
            | Self::Transport
            | Self::Truncated
            | Self::Unknown => 502,
        }
    }

    /// Whether the same request may succeed if it is sent again later.
    pub const fn is_retryable(self) -> bool {
        match self {
            Self::Throttling
            | Self::QuotaExceeded
            | Self::ModelNotReady
            | Self::ModelTimeout
            | Self::ModelStream
            | Self::InternalServer
            | Self::ServiceUnavailable
            | Self::Transport
            | Self::Truncated
            | Self::IdleTimeout
            | Self::ShuttingDown => true,
            Self::Validation
            | Self::AccessDenied
            | Self::NotFound
            | Self::ModelError
            | Self::MaxDuration
            | Self::Unknown => false,
        }
    }

    /// The kind for a Bedrock error code such as `ThrottlingException` (an
    /// HTTP error) or `throttlingException` (an in-stream exception event).
    pub fn from_code(code: &str) -> Self {
        let name = code.split(':').next().unwrap_or(code);
        let name = name.strip_suffix("Exception").unwrap_or(name);
        const NAMES: [(&str, ErrorKind); 11] = [
            ("validation", ErrorKind::Validation),
            ("accessDenied", ErrorKind::AccessDenied),
            ("resourceNotFound", ErrorKind::NotFound),
            ("throttling", ErrorKind::Throttling),
            ("serviceQuotaExceeded", ErrorKind::QuotaExceeded),
            ("modelNotReady", ErrorKind::ModelNotReady),
            ("modelTimeout", ErrorKind::ModelTimeout),
            ("modelError", ErrorKind::ModelError),
            ("modelStreamError", ErrorKind::ModelStream),
            ("internalServer", ErrorKind::InternalServer),
            ("serviceUnavailable", ErrorKind::ServiceUnavailable),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map_or(ErrorKind::Unknown, |&(_, kind)| kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with its [`ErrorKind`] and a human-readable message.
///
/// Converts from the SDK's errors: `SdkError<ConverseStreamError, _>` (what
/// `send()` returns), `SdkError<ConverseStreamOutputError, _>` (what the event
/// receiver yields) and `ConverseStreamOutputError` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as Bedrock or this crate wrote it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status a server should answer with.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Whether the same request may succeed if it is sent again later.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The JSON error body: `{"error":{"kind","message","status","retryable"}}`.
    ///
    /// The same object is what the `text` and `bedrock` dialects put in their
    /// `error` event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn from_metadata(
        kind: ErrorKind,
        code: Option<&str>,
        message: Option<&str>,
        fallback: &dyn fmt::Display,
    ) -> Self {
        let message = match (message, code) {
            (Some(message), _) if !message.is_empty() => message.to_owned(),
            (_, Some(code)) => code.to_owned(),
            _ => fallback.to_string(),
        };
        Self::new(kind, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

/// Serializes as [`Error::to_json`] does.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut envelope = serializer.serialize_struct("Envelope", 1)?;
        envelope.serialize_field("error", &Body(self))?;
        envelope.end()
    }
}

struct Body<'a>(&'a Error);

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let error = self.0;
        let mut body = serializer.serialize_struct("Error", 4)?;
        body.serialize_field("kind", error.kind.as_str())?;
        body.serialize_field("message", &error.message)?;
        body.serialize_field("status", &error.status())?;
        body.serialize_field("retryable", &error.is_retryable())?;
        body.end()
    }
}

/// Classifies any SDK error: service errors by their error code, everything
/// else (dispatch, timeout, response) as a transport failure.
fn from_sdk_error<E, R>(error: &SdkError<E, R>, classify: fn(&E) -> ErrorKind) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match error {
        SdkError::ServiceError(context) => {
            let service_error = context.err();
            let kind = classify(service_error);
            Error::from_metadata(
                kind,
                service_error.code(),
                service_error.message(),
                service_error,
            )
        }
        SdkError::TimeoutError(_) => Error::new(ErrorKind::Transport, "timed out reaching Bedrock"),
        SdkError::ConstructionFailure(_) => Error::new(
            ErrorKind::Validation,
            format!(
                "the request could not be built: {}",
                aws_smithy_types::error::display::DisplayErrorContext(error)
            ),
        ),
        _ => Error::new(
            ErrorKind::Transport,
            aws_smithy_types::error::display::DisplayErrorContext(error).to_string(),
        ),
    }
}

use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;

impl<R: fmt::Debug> From<SdkError<ConverseStreamError, R>> for Error {
    fn from(error: SdkError<ConverseStreamError, R>) -> Self {
        from_sdk_error(&error, |error| {
            error
                .code()
                .map_or(ErrorKind::Unknown, ErrorKind::from_code)
        })
    }
}

impl<R: fmt::Debug> From<SdkError<ConverseStreamOutputError, R>> for Error {
    fn from(error: SdkError<ConverseStreamOutputError, R>) -> Self {
        from_sdk_error(&error, stream_error_kind)
    }
}

impl From<ConverseStreamOutputError> for Error {
    fn from(error: ConverseStreamOutputError) -> Self {
        Error::from_metadata(
            stream_error_kind(&error),
            error.code(),
            error.message(),
            &error,
        )
    }
}

/// In-stream exceptions are known by their variant: the SDK does not fill in
/// the error code of the exceptions it models in an event stream.
fn stream_error_kind(error: &ConverseStreamOutputError) -> ErrorKind {
    match error {
        ConverseStreamOutputError::ThrottlingException(_) => ErrorKind::Throttling,
        ConverseStreamOutputError::ModelStreamErrorException(_) => ErrorKind::ModelStream,
        ConverseStreamOutputError::InternalServerException(_) => ErrorKind::InternalServer,
        ConverseStreamOutputError::ServiceUnavailableException(_) => ErrorKind::ServiceUnavailable,
        ConverseStreamOutputError::ValidationException(_) => ErrorKind::Validation,
        other => other
            .code()
            .map_or(ErrorKind::Unknown, ErrorKind::from_code),
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_in_both_spellings() {
        assert_eq!(
            ErrorKind::from_code("ThrottlingException"),
            ErrorKind::Throttling
        );
        assert_eq!(
            ErrorKind::from_code("throttlingException"),
            ErrorKind::Throttling
        );
        assert_eq!(
            ErrorKind::from_code("modelStreamErrorException"),
            ErrorKind::ModelStream
        );
        assert_eq!(
            ErrorKind::from_code("ServiceQuotaExceededException"),
            ErrorKind::QuotaExceeded
        );
        assert_eq!(
            ErrorKind::from_code("ResourceNotFoundException:http://internal.amazon.com/coral/"),
            ErrorKind::NotFound
        );
        assert_eq!(ErrorKind::from_code("SomethingNew"), ErrorKind::Unknown);
        assert_eq!(ErrorKind::from_code(""), ErrorKind::Unknown);
    }

    #[test]
    fn statuses_follow_the_documented_table() {
        let table = [
            (ErrorKind::Validation, 400),
            (ErrorKind::AccessDenied, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Throttling, 429),
            (ErrorKind::QuotaExceeded, 429),
            (ErrorKind::ModelNotReady, 503),
            (ErrorKind::ServiceUnavailable, 503),
            (ErrorKind::ModelTimeout, 504),
            (ErrorKind::InternalServer, 502),
            (ErrorKind::ModelError, 502),
            (ErrorKind::Transport, 502),
        ];
        for (kind, status) in table {
            assert_eq!(kind.status(), status, "{kind}");
        }
    }

    #[test]
    fn json_escapes_the_message() {
        let error = Error::new(ErrorKind::Validation, "bad \"input\"\nline");
        let value: serde_json::Value = serde_json::from_str(&error.to_json()).unwrap();
        assert_eq!(value["error"]["message"], "bad \"input\"\nline");
        assert_eq!(value["error"]["retryable"], false);
    }
}
