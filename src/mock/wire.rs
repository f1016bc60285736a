//! The `application/vnd.amazon.eventstream` framing Bedrock uses for `ConverseStream`.
//!
//! Frames are written with the SDK's own frame writer, so the prelude and message CRCs are
//! exactly what the SDK's decoder checks.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// The `content-type` of a streaming `ConverseStream` response.
pub(crate) const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Bedrock names the error type in `x-amzn-ErrorType` as `<Type>:<namespace URL>`; the SDK
/// keeps only the part before the colon.
const ERROR_TYPE_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";

/// The value of the `x-amzn-ErrorType` header for an HTTP-level error.
pub(crate) fn error_type_header(error_type: &str) -> String {
    format!("{error_type}:{ERROR_TYPE_NAMESPACE}")
}

/// An event frame: `:message-type: event`, `:event-type: <event_type>`, a JSON payload.
///
/// Like the real service, a `"p"` padding field is added to the payload (the service uses it
/// to hide the payload length); decoders ignore it.
pub(crate) fn event_frame(event_type: &str, mut payload: Value) -> Bytes {
    if let Value::Object(fields) = &mut payload {
        fields.insert("p".to_owned(), Value::String(padding(fields.len())));
    }
    frame("event", (":event-type", event_type), &payload)
}

/// An exception frame: `:message-type: exception`, `:exception-type: <exception_type>`.
pub(crate) fn exception_frame(exception_type: &str, payload: &Value) -> Bytes {
    frame("exception", (":exception-type", exception_type), payload)
}

fn frame(message_type: &str, (type_header, type_name): (&str, &str), payload: &Value) -> Bytes {
    let headers = vec![
        string_header(":message-type", message_type),
        string_header(type_header, type_name),
        string_header(":content-type", "application/json"),
    ];
    // Serializing a `Value` cannot fail: its map keys are always strings.
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let message = Message::new_from_parts(headers, body);
    let mut buffer = BytesMut::with_capacity(message.payload().len() + 128);
    // The writer fails only for headers or payloads over the format's u32 limits; the mock's
    // frames are far below them, and an empty frame would surface as a decode error anyway.
    if write_message_to(&message, &mut buffer).is_err() {
        return Bytes::new();
    }
    buffer.freeze()
}

fn string_header(name: &str, value: &str) -> Header {
    Header::new(
        name.to_owned(),
        HeaderValue::String(value.to_owned().into()),
    )
}

/// Deterministic padding whose length varies with the payload, as the service's does.
fn padding(seed: usize) -> String {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    ALPHABET[..(seed * 7 + 5) % ALPHABET.len()].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;
    use serde_json::json;

    fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
        message
            .headers()
            .iter()
            .find(|header| header.name().as_str() == name)
            .and_then(|header| header.value().as_string().ok())
            .map(|value| value.as_str())
    }

    #[test]
    fn event_frames_round_trip_through_the_sdk_reader() {
        let frame = event_frame("contentBlockDelta", json!({"contentBlockIndex": 0}));
        let message = read_message_from(frame).expect("valid CRCs");
        assert_eq!(header(&message, ":message-type"), Some("event"));
        assert_eq!(header(&message, ":event-type"), Some("contentBlockDelta"));
        assert_eq!(header(&message, ":content-type"), Some("application/json"));
        let payload: Value = serde_json::from_slice(message.payload()).expect("JSON payload");
        assert_eq!(payload["contentBlockIndex"], 0);
        assert!(payload["p"].is_string());
    }

    #[test]
    fn exception_frames_carry_the_exception_type() {
        let frame = exception_frame("throttlingException", &json!({"message": "slow down"}));
        let message = read_message_from(frame).expect("valid CRCs");
        assert_eq!(header(&message, ":message-type"), Some("exception"));
        assert_eq!(
            header(&message, ":exception-type"),
            Some("throttlingException")
        );
        assert_eq!(&message.payload()[..], br#"{"message":"slow down"}"#);
    }
}
