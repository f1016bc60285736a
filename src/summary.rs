//! The completion report: what a finished stream did, for logs and billing.

use std::time::Duration;

use serde::Serialize;

use crate::ErrorKind;

/// How a stream ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The model finished its message and the terminal frame was sent.
    Completed,
    /// An error ended the stream; one error frame of this kind was sent.
    Failed(ErrorKind),
    /// The upstream ended before the message was complete; a `truncated`
    /// error frame was sent.
    Truncated,
    /// The upstream went quiet for longer than the idle timeout, or the
    /// stream reached its maximum duration; an error frame was sent.
    TimedOut(ErrorKind),
    /// The client went away (the stream was dropped) before the end.
    Cancelled,
}

impl Outcome {
    /// A short snake_case name for logs: `completed`, `failed`, `truncated`,
    /// `timed_out` or `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed(_) => "failed",
            Self::Truncated => "truncated",
            Self::TimedOut(_) => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Token counts as Bedrock reported them in the `metadata` event.
///
/// Serializes with Bedrock's camelCase names (`inputTokens`, ...), leaving out
/// the cache counts Bedrock did not report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens the model generated.
    pub output_tokens: u64,
    /// Input plus output, as Bedrock counts them.
    pub total_tokens: u64,
    /// Prompt tokens read from the prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Prompt tokens written to the prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

impl Usage {
    pub(crate) fn from_sdk(usage: &aws_sdk_bedrockruntime::types::TokenUsage) -> Self {
        let count = |tokens: i32| u64::try_from(tokens).unwrap_or(0);
        Self {
            input_tokens: count(usage.input_tokens),
            output_tokens: count(usage.output_tokens),
            total_tokens: count(usage.total_tokens),
            cache_read_input_tokens: usage.cache_read_input_tokens.map(count),
            cache_write_input_tokens: usage.cache_write_input_tokens.map(count),
        }
    }
}

/// Everything known about a stream when it ended, whatever the reason.
///
/// Handed once to the callback given to
/// [`SseStream::on_complete`](crate::SseStream::on_complete).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// How the stream ended.
    pub outcome: Outcome,
    /// Bedrock's stop reason (`end_turn`, `tool_use`, `max_tokens`, ...), if
    /// `messageStop` arrived.
    pub stop_reason: Option<String>,
    /// Token usage, if `metadata` arrived.
    pub usage: Option<Usage>,
    /// Bedrock's own `metrics.latencyMs`, if `metadata` arrived.
    pub latency_ms: Option<u64>,
    /// From the start of the stream (its first poll, or
    /// [`SseStream::started_at`](crate::SseStream::started_at)) to the first
    /// frame carrying model output.
    pub time_to_first_token: Option<Duration>,
    /// From the start of the stream to its end.
    pub duration: Duration,
    /// Frames handed to the client, heartbeats included.
    pub frames: u64,
    /// Bytes handed to the client.
    pub bytes: u64,
    /// Upstream events of kinds this crate does not know, skipped.
    pub skipped_events: u64,
}
