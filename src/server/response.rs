//! What a handler answers, before a framework turns it into its own response type.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::error::ApiError;
use super::upstream::Slot;

/// The body of a server response: whole, or a stream of SSE frames.
///
/// Turn it into a framework's body with a `match`: `Full` is a fixed body, `Events` a
/// streaming one (`axum::body::Body::from_stream`, `warp::reply::stream`).
#[derive(Debug)]
pub enum Body {
    /// A complete body: JSON or HTML, as the `Content-Type` header says.
    Full(Bytes),
    /// Server-Sent Events, one frame per item, to send as they come.
    Events(EventStream),
}

/// The SSE frames of one stream, holding the stream's slot of the concurrency limit until
/// it ends or is dropped.
///
/// Dropping it (the client went away) drops the Bedrock call with it. It is `Sync`, as some
/// frameworks require of a body, without a lock on the way: the stream is only ever reached
/// through `&mut`.
#[must_use = "streams do nothing unless polled"]
pub struct EventStream {
    frames: Mutex<Frames>,
    slot: Option<Slot>,
}

impl EventStream {
    pub(crate) fn new(
        frames: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
        slot: Slot,
    ) -> Self {
        Self {
            frames: Mutex::new(Box::pin(frames)),
            slot: Some(slot),
        }
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let frames = this
            .frames
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let frame = ready!(frames.as_mut().poll_next(cx));
        if frame.is_none() {
            this.slot = None;
        }
        Poll::Ready(frame)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("holds_slot", &self.slot.is_some())
            .finish_non_exhaustive()
    }
}

type Frames = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// A response with `body` of `content_type`, tagged with the request id.
fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    request_id: &str,
) -> Response<Body> {
    let mut response = Response::new(Body::Full(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, id);
    }
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>, request_id: &str) -> Response<Body> {
    full(status, "application/json", body, request_id)
}

/// An HTML page.
pub(crate) fn html(page: &'static str, request_id: &str) -> Response<Body> {
    full(StatusCode::OK, "text/html; charset=utf-8", page, request_id)
}

/// A refused request, with `Retry-After` when trying again soon may work.
pub(crate) fn refused(error: &ApiError, request_id: &str) -> Response<Body> {
    let mut response = json(error.status(), error.to_json(), request_id);
    if error.is_retryable() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A stream of SSE frames, with the headers that keep proxies from buffering, caching or
/// compressing it.
pub(crate) fn events(stream: EventStream, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::Events(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, id);
    }
    response
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::super::upstream::{idle_clients, Upstream};
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[tokio::test]
    async fn the_slot_is_released_when_the_stream_ends() {
        assert_send_sync::<EventStream>();
        let upstream = Upstream::new(idle_clients(), 1, 1);
        let slot = upstream.slot().unwrap();
        let frames = futures_util::stream::iter([Ok(Bytes::from_static(b"data: x\n\n"))]);
        let mut stream = EventStream::new(frames, slot);
        assert_eq!(upstream.free_slots(), 0);
        assert!(stream.next().await.is_some());
        assert!(stream.next().await.is_none());
        assert_eq!(upstream.free_slots(), 1);
    }
}
