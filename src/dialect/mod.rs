//! Wire dialects: how a turn is spelled as SSE events.
//!
//! A [`Dialect`] is a small state machine that writes frames for each Converse
//! event, for the end of a completed turn and for the one error that ends a
//! failed stream. Three come with the crate:
//!
//! | dialect | for | each text delta becomes |
//! |---|---|---|
//! | [`Text`] | `EventSource` in a browser, `curl -N` | `data: <text>` (multi-line safe) |
//! | [`Bedrock`] | clients that know the Converse API | `event: contentBlockDelta` + Bedrock's JSON |
//! | [`OpenAi`] | OpenAI SDKs and tools | a `chat.completion.chunk` |
//!
//! Implement the trait to add your own; the [`frame`] module has
//! the byte-level pieces.
//!
//! ```
//! use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput};
//! use bedrock_sse::{frame, Dialect, Error, Turn};
//! use bytes::BytesMut;
//!
//! /// Only the text, one `token` event per delta, JSON-quoted.
//! struct Tokens;
//!
//! impl Dialect for Tokens {
//!     fn event(&mut self, event: &ConverseStreamOutput, _turn: &Turn, out: &mut BytesMut) {
//!         if let ConverseStreamOutput::ContentBlockDelta(delta) = event {
//!             if let Some(ContentBlockDelta::Text(text)) = &delta.delta {
//!                 frame::event_name(out, "token");
//!                 frame::json_data(out, text);
//!                 frame::end(out);
//!             }
//!         }
//!     }
//!
//!     fn end(&mut self, _turn: &Turn, out: &mut BytesMut) {
//!         frame::event_name(out, "end");
//!         frame::data_line(out, "{}");
//!         frame::end(out);
//!     }
//!
//!     fn error(&mut self, error: &Error, _turn: &Turn, out: &mut BytesMut) {
//!         frame::event_name(out, "error");
//!         frame::data_line(out, &error.to_json());
//!         frame::end(out);
//!     }
//! }
//!
//! let mut encoder = bedrock_sse::Encoder::new(Tokens);
//! let mut out = BytesMut::new();
//! encoder.finish(&mut out); // no messageStop: an error
//! assert!(out.starts_with(b"event: error\n"));
//! ```

mod bedrock;
mod bedrock_json;
mod bedrock_trace;
mod openai;
mod text;

pub use bedrock::Bedrock;
#[cfg(feature = "server")]
pub(crate) use openai::CompletionUsage;
pub use openai::{finish_reason, OpenAi};
pub use text::Text;

use std::fmt;
use std::str::FromStr;

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bytes::BytesMut;

use crate::{frame, Error, Turn};

/// How a turn is written as SSE frames.
///
/// The [`Encoder`](crate::Encoder) calls [`event`](Dialect::event) for every
/// known upstream event after recording it in the [`Turn`], then exactly one
/// of [`end`](Dialect::end) (the turn completed) or [`error`](Dialect::error)
/// (it did not), and nothing after that. Everything a method writes into `out`
/// is sent as one frame, so write whole events.
pub trait Dialect: Send + 'static {
    /// Writes the frames, if any, for one upstream event.
    fn event(&mut self, event: &ConverseStreamOutput, turn: &Turn, out: &mut BytesMut);

    /// Writes the terminal frames of a completed turn.
    fn end(&mut self, turn: &Turn, out: &mut BytesMut);

    /// Writes the one error frame that ends a failed stream.
    fn error(&mut self, error: &Error, turn: &Turn, out: &mut BytesMut);

    /// Writes a heartbeat that clients ignore. The default is the SSE comment
    /// `: keep-alive`.
    fn heartbeat(&mut self, out: &mut BytesMut) {
        frame::comment(out, "keep-alive");
    }
}

impl<D: Dialect + ?Sized> Dialect for Box<D> {
    fn event(&mut self, event: &ConverseStreamOutput, turn: &Turn, out: &mut BytesMut) {
        (**self).event(event, turn, out);
    }

    fn end(&mut self, turn: &Turn, out: &mut BytesMut) {
        (**self).end(turn, out);
    }

    fn error(&mut self, error: &Error, turn: &Turn, out: &mut BytesMut) {
        (**self).error(error, turn, out);
    }

    fn heartbeat(&mut self, out: &mut BytesMut) {
        (**self).heartbeat(out);
    }
}

/// The names of the built-in dialects, for choosing one at run time
/// (`?format=openai`).
///
/// ```
/// use bedrock_sse::Format;
///
/// let format: Format = "bedrock".parse().unwrap();
/// assert_eq!(format, Format::Bedrock);
/// assert!("xml".parse::<Format>().is_err());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// [`Text`]: plain text deltas.
    #[default]
    Text,
    /// [`Bedrock`]: Converse events as they are.
    Bedrock,
    /// [`OpenAi`]: `chat.completion.chunk` objects.
    OpenAi,
}

impl Format {
    /// The name used in `?format=`: `text`, `bedrock` or `openai`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Bedrock => "bedrock",
            Self::OpenAi => "openai",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a format name that is not `text`, `bedrock` or `openai`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown format {:?}: expected text, bedrock or openai",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "text" => Ok(Self::Text),
            "bedrock" => Ok(Self::Bedrock),
            "openai" => Ok(Self::OpenAi),
            other => Err(UnknownFormat(other.chars().take(64).collect())),
        }
    }
}
