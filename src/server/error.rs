//! Requests the servers refuse, as JSON error bodies.

use http::StatusCode;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// A request refused before any call to Bedrock: a status and a JSON body in the same shape
/// as [`Error::to_json`](crate::Error::to_json),
/// `{"error":{"kind","message","status","retryable"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retryable: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            // Only a busy or stopping server refuses what may work a moment later.
            retryable: status == StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A request that is well-formed JSON but not a valid request: 400.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A body that is not JSON, or not JSON of the expected shape: 400.
    pub(crate) fn invalid_json(error: &serde_json::Error) -> Self {
        let message = if error.is_data() {
            format!("the body does not have the expected shape: {error}")
        } else {
            format!("the body is not valid JSON: {error}")
        };
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// A request over one of the input limits: 422.
    pub(crate) fn over_limit(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, kind, message)
    }

    /// No route has this path: 404.
    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "there is no such route")
    }

    /// The route exists but not with this method: 405.
    pub(crate) fn method_not_allowed(method: &http::Method, allowed: &str) -> Self {
        let method: String = method.as_str().chars().take(32).collect();
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route does not answer {method}; it answers {allowed}"),
        )
    }

    /// Every stream slot is taken: 503, retry soon.
    pub(crate) fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is serving as many streams as it may; retry shortly",
        )
    }

    /// The server is draining before it stops: 503, retry on another instance.
    pub(crate) fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    }

    /// A bug of ours, reported instead of a panic: 500.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the same request may succeed later.
    pub(crate) fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Bedrock refused the call before the stream: its status and body, as the crate maps them.
impl From<&crate::Error> for ApiError {
    fn from(error: &crate::Error) -> Self {
        Self {
            status: StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_GATEWAY),
            kind: error.kind().as_str(),
            message: error.message().to_owned(),
            retryable: error.is_retryable(),
        }
    }
}

impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Body<'a>(&'a ApiError);

        impl Serialize for Body<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let error = self.0;
                let mut body = serializer.serialize_struct("Error", 4)?;
                body.serialize_field("kind", error.kind)?;
                body.serialize_field("message", &error.message)?;
                body.serialize_field("status", &error.status.as_u16())?;
                body.serialize_field("retryable", &error.retryable)?;
                body.end()
            }
        }

        let mut envelope = serializer.serialize_struct("Envelope", 1)?;
        envelope.serialize_field("error", &Body(self))?;
        envelope.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_crate_error_shape() {
        let error = ApiError::overloaded();
        let value: serde_json::Value = serde_json::from_str(&error.to_json()).unwrap();
        assert_eq!(value["error"]["kind"], "overloaded");
        assert_eq!(value["error"]["status"], 503);
        assert_eq!(value["error"]["retryable"], true);

        let ours: serde_json::Value =
            serde_json::from_str(&ApiError::invalid("x").to_json()).unwrap();
        let crates: serde_json::Value =
            serde_json::from_str(&crate::Error::new(crate::ErrorKind::Validation, "x").to_json())
                .unwrap();
        let keys = |value: &serde_json::Value| {
            value["error"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&ours), keys(&crates));
    }

    #[test]
    fn bedrock_errors_keep_the_crate_mapping() {
        let error = crate::Error::new(crate::ErrorKind::Throttling, "slow down");
        assert_eq!(ApiError::from(&error).to_json(), error.to_json());
    }
}
