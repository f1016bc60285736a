//! Timing settings for [`SseStream`](crate::SseStream).

use std::time::Duration;

/// How an [`SseStream`](crate::SseStream) keeps a connection alive and when
/// it gives up.
///
/// The defaults fit a server behind an Application Load Balancer (60 s idle
/// limit) and API Gateway's response streaming (5 min idle, 15 min in all).
///
/// ```
/// use std::time::Duration;
/// use bedrock_sse::Options;
///
/// let options = Options::new()
///     .heartbeat(Some(Duration::from_secs(10)))
///     .opening_comment(Some("ok"))
///     .max_duration(Some(Duration::from_secs(600)));
/// assert_eq!(options.heartbeat, Some(Duration::from_secs(10)));
/// assert_eq!(options.idle_timeout, Options::DEFAULT_IDLE_TIMEOUT);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Options {
    /// Send a heartbeat (an SSE comment) after this long without a frame.
    pub heartbeat: Option<Duration>,
    /// A comment sent as the very first frame, before Bedrock answers.
    pub opening_comment: Option<String>,
    /// Fail with an `idle_timeout` error after this long without an event
    /// from Bedrock.
    pub idle_timeout: Option<Duration>,
    /// End with a `max_duration` error when the stream has run this long.
    pub max_duration: Option<Duration>,
}

impl Options {
    /// A heartbeat after 15 s without a frame: well inside the ALB's 60 s and
    /// API Gateway's 5 min idle limits.
    pub const DEFAULT_HEARTBEAT: Option<Duration> = Some(Duration::from_secs(15));
    /// Fail the stream after 60 s without an event from Bedrock. The SDK has
    /// no such timeout of its own.
    pub const DEFAULT_IDLE_TIMEOUT: Option<Duration> = Some(Duration::from_secs(60));
    /// End the stream at 14 min 30 s, before API Gateway's 15 min cap cuts it
    /// without a word.
    pub const DEFAULT_MAX_DURATION: Option<Duration> = Some(Duration::from_secs(870));

    /// The defaults.
    pub fn new() -> Self {
        Self {
            heartbeat: Self::DEFAULT_HEARTBEAT,
            opening_comment: None,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_duration: Self::DEFAULT_MAX_DURATION,
        }
    }

    /// Send a heartbeat (an SSE comment) after this long without a frame;
    /// `None` (or zero) for no heartbeats.
    pub fn heartbeat(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat = interval.filter(|interval| !interval.is_zero());
        self
    }

    /// Send this comment as the very first frame, before Bedrock answers, so
    /// that clients and proxies see the response start at once; `None` (the
    /// default) for no opening frame.
    pub fn opening_comment(mut self, comment: Option<&str>) -> Self {
        self.opening_comment = comment.map(str::to_owned);
        self
    }

    /// Fail the stream with an `idle_timeout` error when Bedrock sends no
    /// event for this long; `None` to wait as long as the stream may last.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// End the stream with a `max_duration` error when it has run this long;
    /// `None` for no limit.
    pub fn max_duration(mut self, limit: Option<Duration>) -> Self {
        self.max_duration = limit;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}
