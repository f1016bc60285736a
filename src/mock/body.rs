//! The streaming response body: plays a script frame by frame, paces it, and reports whether
//! the client stayed to the end.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::time::Sleep;

use super::script::{clock_delta_payload, metadata_payload, Message, Script, Step};
use super::wire::{event_frame, exception_frame};
use super::Shared;

/// A `ConverseStream` response body that encodes each step only when hyper asks for the next
/// frame, so a long reply streams instead of being built up front.
pub(crate) struct ReplyBody {
    script: Script,
    /// A message taken from the script but held back until the pause before it is over.
    held: Option<Message>,
    pace: Duration,
    pause: Option<Pin<Box<Sleep>>>,
    frames_sent: usize,
    state: State,
    received: Instant,
    tracker: Tracker,
}

enum State {
    Playing,
    /// Nothing more will be sent; only the client leaving ends the stream.
    Stalled,
    /// Cutting the connection: first let hyper flush what it has, then fail the body.
    Cutting {
        flushed: bool,
    },
    Done,
}

impl ReplyBody {
    pub(crate) fn new(
        script: Script,
        pace: Duration,
        received: Instant,
        shared: Arc<Shared>,
    ) -> Self {
        ReplyBody {
            script,
            held: None,
            pace,
            pause: None,
            frames_sent: 0,
            state: State::Playing,
            received,
            tracker: Tracker::start(shared),
        }
    }

    fn encode(&self, message: Message) -> Bytes {
        match message {
            Message::Event {
                event_type,
                payload,
            } => event_frame(event_type, payload),
            Message::ClockDelta => event_frame("contentBlockDelta", clock_delta_payload()),
            Message::Metadata {
                input_tokens,
                output_tokens,
            } => {
                let latency_ms =
                    u64::try_from(self.received.elapsed().as_millis()).unwrap_or(u64::MAX);
                let payload = metadata_payload(input_tokens, output_tokens, latency_ms);
                event_frame("metadata", payload)
            }
            Message::Exception {
                exception_type,
                payload,
            } => exception_frame(&exception_type, &payload),
        }
    }

    /// Waits out the pause due before the next frame; the first frame goes out at once.
    fn poll_pause(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.frames_sent == 0 || self.pace.is_zero() {
            return Poll::Ready(());
        }
        let pace = self.pace;
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(pace)));
        if pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.pause = None;
        Poll::Ready(())
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = ConnectionCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ConnectionCut>>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Playing => {}
                // Hyper keeps polling the socket while the body is pending, so a client that
                // leaves is noticed and the body dropped even though nothing is written.
                State::Stalled => return Poll::Pending,
                State::Cutting { flushed: false } => {
                    // Returning `Pending` makes hyper flush the frames it has buffered before
                    // it polls the body again.
                    this.state = State::Cutting { flushed: true };
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                State::Cutting { flushed: true } => {
                    this.tracker.complete();
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(ConnectionCut)));
                }
                State::Done => return Poll::Ready(None),
            }
            let message = match this.held.take() {
                Some(message) => message,
                None => match this.script.next() {
                    Some(Step::Send(message)) => message,
                    Some(Step::Stall) => {
                        this.state = State::Stalled;
                        continue;
                    }
                    Some(Step::Cut) => {
                        this.state = State::Cutting { flushed: false };
                        continue;
                    }
                    None => {
                        this.tracker.complete();
                        this.state = State::Done;
                        return Poll::Ready(None);
                    }
                },
            };
            if this.poll_pause(cx).is_pending() {
                this.held = Some(message);
                return Poll::Pending;
            }
            this.frames_sent += 1;
            return Poll::Ready(Some(Ok(Frame::data(this.encode(message)))));
        }
    }
}

/// The error a [`ReplyBody`] returns to make hyper drop the connection mid-body.
#[derive(Debug)]
pub(crate) struct ConnectionCut;

impl std::fmt::Display for ConnectionCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the mock cut the connection as scripted")
    }
}

impl std::error::Error for ConnectionCut {}

/// Counts one stream as started, and on drop as completed or abandoned.
struct Tracker {
    shared: Arc<Shared>,
    completed: bool,
}

impl Tracker {
    fn start(shared: Arc<Shared>) -> Self {
        shared.counters.stream_started();
        Tracker {
            shared,
            completed: false,
        }
    }

    /// Counts the stream as completed at once, not when hyper gets round to dropping the body.
    fn complete(&mut self) {
        if !self.completed {
            self.completed = true;
            self.shared.counters.stream_completed();
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.completed {
            self.shared.counters.stream_abandoned();
        }
    }
}
