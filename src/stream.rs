//! The stream adapter: the [`Encoder`] driven by an upstream event stream,
//! plus the timing it cannot own (heartbeats, idle timeout, maximum duration,
//! shutdown) and the completion report.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::signal::Signal;
use crate::{frame, Dialect, Encoder, Error, ErrorKind, Options, Outcome, Summary};

/// The SDK's event receiver as a [`Stream`] of events.
///
/// `converse_stream().send().await?.stream` is an `EventReceiver`, which has
/// an async `recv` method but does not implement `Stream`; this adapts it.
/// The stream ends after the first error.
pub fn events(
    receiver: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
) -> impl Stream<Item = Result<ConverseStreamOutput, Error>> + Send + 'static {
    futures_util::stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        match receiver.recv().await {
            Ok(Some(event)) => Some((Ok(event), Some(receiver))),
            Ok(None) => None,
            Err(error) => Some((Err(Error::from(error)), None)),
        }
    })
}

type Callback = Box<dyn FnOnce(Summary) + Send>;

pin_project! {
    /// SSE frames for one Converse stream: a
    /// `Stream<Item = Result<Bytes, Infallible>>` to use as an HTTP body.
    ///
    /// Each item is one complete frame. The stream never yields an `Err`:
    /// failures are written in-band as exactly one error frame in the
    /// dialect, after which the stream ends. Dropping it drops the upstream,
    /// which closes the connection to Bedrock: nothing keeps generating (or
    /// billing) once the client has gone.
    ///
    /// It needs a Tokio runtime with the time driver, and spawns nothing.
    ///
    /// ```
    /// # async fn example(client: aws_sdk_bedrockruntime::Client) -> Result<(), bedrock_sse::Error> {
    /// use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
    /// use bedrock_sse::{events, Options, SseStream, Text};
    ///
    /// let output = client
    ///     .converse_stream()
    ///     .model_id("global.anthropic.claude-haiku-4-5-20251001-v1:0")
    ///     .messages(
    ///         Message::builder()
    ///             .role(ConversationRole::User)
    ///             .content(ContentBlock::Text("Hello".into()))
    ///             .build()
    ///             .expect("role and content are set"),
    ///     )
    ///     .send()
    ///     .await?; // answer with error.status() and error.to_json() here
    ///
    /// let body = SseStream::new(events(output.stream), Text::new())
    ///     .options(Options::new().opening_comment(Some("ok")))
    ///     .on_complete(|summary| println!("{:?} {:?}", summary.outcome, summary.usage));
    /// // axum: Body::from_stream(body); hyper: StreamBody over body.map(...)
    /// # drop(body);
    /// # Ok(())
    /// # }
    /// # let _ = example;
    /// ```
    #[must_use = "streams do nothing unless polled"]
    #[project = SseStreamProj]
    pub struct SseStream<S, D> {
        #[pin]
        upstream: S,
        encoder: Encoder<D>,
        buffer: BytesMut,
        options: Options,
        timer: Option<Pin<Box<Sleep>>>,
        shutdown: Option<Signal>,
        on_complete: Option<Callback>,
        started: Option<Instant>,
        last_frame: Instant,
        last_event: Instant,
        first_token: Option<Duration>,
        frames: u64,
        bytes: u64,
        ended: bool,
    }

    impl<S, D> PinnedDrop for SseStream<S, D> {
        fn drop(this: Pin<&mut Self>) {
            report(&mut this.project());
        }
    }
}

impl<S, D, E> SseStream<S, D>
where
    S: Stream<Item = Result<ConverseStreamOutput, E>>,
    E: Into<Error>,
    D: Dialect,
{
    /// SSE frames in `dialect` for the Converse events of `upstream`, with
    /// the default [`Options`].
    ///
    /// `upstream` is usually [`events`]`(output.stream)`; any stream of
    /// events works, which is how tests and pre-processing plug in.
    pub fn new(upstream: S, dialect: D) -> Self {
        let now = Instant::now();
        Self {
            upstream,
            encoder: Encoder::new(dialect),
            buffer: BytesMut::new(),
            options: Options::new(),
            timer: None,
            shutdown: None,
            on_complete: None,
            started: None,
            last_frame: now,
            last_event: now,
            first_token: None,
            frames: 0,
            bytes: 0,
            ended: false,
        }
    }

    /// Uses these timing options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Calls `callback` once with the [`Summary`] when the stream ends for any
    /// reason: completed, failed, truncated, timed out, or dropped by the
    /// client (then the outcome is [`Outcome::Cancelled`]).
    pub fn on_complete(mut self, callback: impl FnOnce(Summary) + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(callback));
        self
    }

    /// Counts the stream's duration and time to first token from `at` (when
    /// the HTTP request arrived, say) instead of from the first poll. A
    /// `std::time::Instant` converts with `tokio::time::Instant::from_std`.
    pub fn started_at(mut self, at: Instant) -> Self {
        self.started = Some(at);
        self
    }

    /// Ends the stream with one retryable `shutting_down` error frame when
    /// `signal` completes, unless it has ended by then. Servers use this to
    /// end the streams still running at their drain deadline.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Some(Signal::new(signal));
        self
    }
}

impl<S, D> fmt::Debug for SseStream<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("options", &self.options)
            .field("outcome", &self.encoder.outcome())
            .field("frames", &self.frames)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<S, D, E> Stream for SseStream<S, D>
where
    S: Stream<Item = Result<ConverseStreamOutput, E>>,
    E: Into<Error>,
    D: Dialect,
{
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let started = *this.started.get_or_insert_with(|| {
            let now = Instant::now();
            *this.last_frame = now;
            *this.last_event = now;
            now
        });
        if this.frames == &0 && this.buffer.is_empty() {
            if let Some(comment) = this.options.opening_comment.as_deref() {
                frame::comment(this.buffer, comment);
                return Poll::Ready(Some(Ok(emit(&mut this, started))));
            }
        }
        loop {
            if let Some(signal) = this.shutdown.as_mut() {
                if signal.fired(cx) {
                    *this.shutdown = None;
                    let error = Error::new(ErrorKind::ShuttingDown, "the server is shutting down");
                    this.encoder.fail(&error, this.buffer);
                    return end(&mut this);
                }
            }

            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => {
                    let now = Instant::now();
                    *this.last_event = now;
                    this.encoder.push(&event, this.buffer);
                    if this.encoder.is_finished() {
                        return end(&mut this);
                    }
                    if this.buffer.is_empty() {
                        continue;
                    }
                    if this.first_token.is_none()
                        && matches!(event, ConverseStreamOutput::ContentBlockDelta(_))
                    {
                        *this.first_token = Some(now - started);
                    }
                    return Poll::Ready(Some(Ok(emit(&mut this, now))));
                }
                Poll::Ready(Some(Err(error))) => {
                    this.encoder.fail(&error.into(), this.buffer);
                    return end(&mut this);
                }
                Poll::Ready(None) => {
                    this.encoder.finish(this.buffer);
                    return end(&mut this);
                }
                Poll::Pending => {}
            }

            // Deadlines only move later (activity pushes the idle and heartbeat ones), so
            // while the timer is armed and has not fired, nothing can be due yet.
            if let Some(timer) = this.timer.as_mut() {
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }

            let now = Instant::now();
            let deadline = this.options.max_duration.map(|limit| started + limit);
            let idle_deadline = this
                .options
                .idle_timeout
                .map(|limit| *this.last_event + limit);
            let heartbeat_at = this
                .options
                .heartbeat
                .map(|interval| *this.last_frame + interval);
            if deadline.is_some_and(|at| now >= at) {
                let error = Error::new(
                    ErrorKind::MaxDuration,
                    "the stream reached its maximum duration",
                );
                this.encoder.fail(&error, this.buffer);
                return end(&mut this);
            }
            if idle_deadline.is_some_and(|at| now >= at) {
                let error = Error::new(
                    ErrorKind::IdleTimeout,
                    "Bedrock sent nothing for longer than the idle timeout",
                );
                this.encoder.fail(&error, this.buffer);
                return end(&mut this);
            }
            if heartbeat_at.is_some_and(|at| now >= at) {
                this.encoder.heartbeat(this.buffer);
                return Poll::Ready(Some(Ok(emit(&mut this, now))));
            }

            let Some(next) = [deadline, idle_deadline, heartbeat_at]
                .into_iter()
                .flatten()
                .min()
            else {
                return Poll::Pending;
            };
            // The timer fired or was never armed: arm it for the next deadline. Activity
            // before then moves the deadlines later; an early wake-up costs one loop.
            match this.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(next),
                None => *this.timer = Some(Box::pin(tokio::time::sleep_until(next))),
            }
            if let Some(timer) = this.timer.as_mut() {
                ready!(timer.as_mut().poll(cx));
            }
        }
    }
}

/// Takes the buffered bytes as one frame, sent `now`.
fn emit<S, D>(this: &mut SseStreamProj<'_, S, D>, now: Instant) -> Bytes {
    let frame = this.buffer.split().freeze();
    *this.frames += 1;
    *this.bytes += frame.len() as u64;
    *this.last_frame = now;
    frame
}

/// Sends the terminal frame, if there is one, and reports the summary.
fn end<S, D>(this: &mut SseStreamProj<'_, S, D>) -> Poll<Option<Result<Bytes, Infallible>>> {
    *this.ended = true;
    let frame = (!this.buffer.is_empty()).then(|| emit(this, Instant::now()));
    report(this);
    Poll::Ready(frame.map(Ok))
}

/// Hands the summary to the callback, once: at the end, or when the stream is
/// dropped before it (then the outcome is `Cancelled`).
fn report<S, D>(this: &mut SseStreamProj<'_, S, D>) {
    let Some(callback) = this.on_complete.take() else {
        return;
    };
    let turn = this.encoder.turn();
    callback(Summary {
        outcome: this.encoder.outcome().unwrap_or(Outcome::Cancelled),
        stop_reason: turn.stop_reason().map(|reason| reason.as_str().to_owned()),
        usage: turn.usage().copied(),
        latency_ms: turn.latency_ms(),
        time_to_first_token: *this.first_token,
        duration: this
            .started
            .map_or(Duration::ZERO, |started| started.elapsed()),
        frames: *this.frames,
        bytes: *this.bytes,
        skipped_events: this.encoder.skipped_events(),
    });
}
