//! Reading a JSON request body: its content type, and at most the configured number of bytes.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use super::error::ApiError;

/// Checks that the body is declared as JSON: `application/json`, any parameters.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim());
    match declared {
        Some(media_type) if media_type.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        )),
    }
}

/// Reads the whole body, refusing it with 413 as soon as it is known to be over `limit`
/// bytes: from `Content-Length` before reading anything, or while reading.
pub(crate) async fn read_limited<S, B, E>(
    headers: &HeaderMap,
    body: S,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }

    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk
            .map_err(|error| ApiError::invalid(format!("the body could not be read: {error}")))?;
        if collected.len() + chunk.remaining() > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let read = piece.len();
            chunk.advance(read);
        }
    }
    Ok(collected.freeze())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn json_with_parameters_is_json() {
        assert!(require_json(&headers(&[(CONTENT_TYPE, "application/json")])).is_ok());
        assert!(require_json(&headers(&[(
            CONTENT_TYPE,
            "Application/JSON; charset=utf-8"
        )]))
        .is_ok());
        for refused in [
            headers(&[(CONTENT_TYPE, "text/plain")]),
            headers(&[(CONTENT_TYPE, "application/x-www-form-urlencoded")]),
            headers(&[(CONTENT_TYPE, "application/jsonx")]),
            HeaderMap::new(),
        ] {
            assert_eq!(
                require_json(&refused).unwrap_err().status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            );
        }
    }

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, Infallible>> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|part| Ok(Bytes::from_static(part.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn reads_up_to_the_limit_and_not_beyond() {
        let body = read_limited(&HeaderMap::new(), chunks(&["ab", "cd"]), 4).await;
        assert_eq!(body.unwrap(), "abcd");

        let error = read_limited(&HeaderMap::new(), chunks(&["ab", "cde"]), 4)
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);

        let declared = headers(&[(CONTENT_LENGTH, "5")]);
        let error = read_limited(&declared, chunks(&[]), 4).await.unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
