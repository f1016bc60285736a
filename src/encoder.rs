//! The sans-I/O core: Converse events in, SSE frame bytes out.

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bytes::BytesMut;

use crate::{Dialect, Error, ErrorKind, Outcome, Turn};

/// Turns Converse events into SSE bytes in a [`Dialect`], with no I/O and no
/// timing of its own.
///
/// Feed it every upstream event with [`push`](Encoder::push); when the
/// upstream ends call [`finish`](Encoder::finish), when it fails
/// [`fail`](Encoder::fail). It guarantees the stream's shape whatever the
/// upstream does: exactly one terminal frame (the dialect's end, or one error
/// frame), nothing after it, and a `truncated` error when the upstream ends
/// before `messageStop`. Events of unknown kinds are skipped and counted.
///
/// [`SseStream`](crate::SseStream) is this encoder plus timing; use the encoder
/// directly to drive your own I/O or to test a dialect.
///
/// ```
/// use aws_sdk_bedrockruntime::types::{
///     ContentBlockDelta, ContentBlockDeltaEvent, ConverseStreamOutput,
/// };
/// use bedrock_sse::{Encoder, Outcome, Text};
/// use bytes::BytesMut;
///
/// let mut encoder = Encoder::new(Text::new());
/// let mut out = BytesMut::new();
/// let delta = ContentBlockDeltaEvent::builder()
///     .content_block_index(0)
///     .delta(ContentBlockDelta::Text("Hello\nworld".into()))
///     .build()
///     .unwrap();
/// encoder.push(&ConverseStreamOutput::ContentBlockDelta(delta), &mut out);
/// assert_eq!(&out[..], b"data: Hello\ndata: world\n\n");
///
/// out.clear();
/// encoder.finish(&mut out); // the upstream ended without messageStop
/// assert!(out.starts_with(b"event: error\n"));
/// assert_eq!(encoder.outcome(), Some(Outcome::Truncated));
/// ```
#[derive(Debug)]
pub struct Encoder<D> {
    dialect: D,
    turn: Turn,
    outcome: Option<Outcome>,
    skipped_events: u64,
}

impl<D: Dialect> Encoder<D> {
    /// An encoder at the start of a turn.
    pub fn new(dialect: D) -> Self {
        Self {
            dialect,
            turn: Turn::default(),
            outcome: None,
            skipped_events: 0,
        }
    }

    /// Writes the frames for one upstream event, and the terminal frame once
    /// both `messageStop` and `metadata` have arrived. Does nothing once the
    /// stream has ended.
    pub fn push(&mut self, event: &ConverseStreamOutput, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        if !self.turn.observe(event) {
            self.skipped_events += 1;
            return;
        }
        self.dialect.event(event, &self.turn, out);
        if self.turn.is_complete() {
            self.dialect.end(&self.turn, out);
            self.outcome = Some(Outcome::Completed);
        }
    }

    /// The upstream ended. Writes the terminal frame if `messageStop` arrived
    /// (`metadata` may be missing), otherwise a `truncated` error frame.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        if self.turn.stop_reason().is_some() {
            self.dialect.end(&self.turn, out);
            self.outcome = Some(Outcome::Completed);
        } else {
            let error = Error::new(
                ErrorKind::Truncated,
                "the stream from Bedrock ended before the message was complete",
            );
            self.fail(&error, out);
        }
    }

    /// Ends the stream with one error frame. Does nothing once it has ended.
    pub fn fail(&mut self, error: &Error, out: &mut BytesMut) {
        if self.outcome.is_some() {
            return;
        }
        self.dialect.error(error, &self.turn, out);
        self.outcome = Some(match error.kind() {
            ErrorKind::Truncated => Outcome::Truncated,
            kind @ (ErrorKind::IdleTimeout | ErrorKind::MaxDuration) => Outcome::TimedOut(kind),
            kind => Outcome::Failed(kind),
        });
    }

    /// Writes a heartbeat frame. Does nothing once the stream has ended.
    pub fn heartbeat(&mut self, out: &mut BytesMut) {
        if self.outcome.is_none() {
            self.dialect.heartbeat(out);
        }
    }
}

impl<D> Encoder<D> {
    /// How the stream ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Whether the terminal frame (end or error) has been written.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// What the turn holds so far.
    pub fn turn(&self) -> &Turn {
        &self.turn
    }

    /// How many upstream events of unknown kinds were skipped.
    pub fn skipped_events(&self) -> u64 {
        self.skipped_events
    }

    /// The dialect, for inspection.
    pub fn dialect(&self) -> &D {
        &self.dialect
    }
}
