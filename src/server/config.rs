//! The servers' flags, each with an environment variable to fall back on.

use std::time::Duration;

use clap::{Parser, Subcommand};

/// What a server is configured with: `--flag` or, when the flag is absent, its environment
/// variable, or else the default. `--help` lists them all.
///
/// Durations given in seconds turn a feature off when they are `0` (no heartbeat, no idle
/// timeout, no maximum stream duration).
///
/// ```
/// use bedrock_sse::server::Config;
/// use clap::Parser;
///
/// let config = Config::parse_from(["server", "--mock", "--port", "0"]);
/// assert!(config.mock);
/// assert_eq!(config.port, 0);
/// assert_eq!(config.model_id, Config::DEFAULT_MODEL_ID);
/// assert_eq!(config.max_body_bytes, 1024 * 1024);
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "Streams Amazon Bedrock ConverseStream replies as Server-Sent Events.",
    long_about = "Streams Amazon Bedrock ConverseStream replies as Server-Sent Events.\n\n\
        Routes: GET /health, POST /stream, GET /stream?message=..., \
        POST /v1/chat/completions (OpenAI-compatible), GET / (chat page).\n\n\
        AWS access uses the standard chain: AWS_REGION (default us-east-1), credentials from \
        the environment, profile or task role, and AWS_ENDPOINT_URL_BEDROCK_RUNTIME. \
        Logs are JSON lines on stdout; RUST_LOG sets the level (default info)."
)]
#[non_exhaustive]
pub struct Config {
    /// Serve replies from the embedded mock Bedrock: no AWS account or network needed.
    #[arg(long)]
    pub mock: bool,

    /// The address or host name to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,

    /// The port to listen on; 0 picks a free one (the `listening` log line names it).
    #[arg(long, env = "PORT", default_value_t = 8080, global = true)]
    pub port: u16,

    /// The Bedrock model or inference profile to call.
    #[arg(long, env = "MODEL_ID", default_value = Config::DEFAULT_MODEL_ID)]
    pub model_id: String,

    /// Models an OpenAI-compatible request may choose with its `model` field, comma
    /// separated; a request naming any other model gets the server's model.
    #[arg(long, env = "ALLOWED_MODELS", value_delimiter = ',')]
    pub allowed_models: Vec<String>,

    /// The most tokens one reply may have; a request asking for more gets this many.
    #[arg(long, env = "MAX_OUTPUT_TOKENS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    pub max_output_tokens: u32,

    /// Seconds without a frame before a heartbeat comment is sent (0: never).
    #[arg(long, env = "HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,

    /// Seconds without an event from Bedrock before the stream fails with
    /// `idle_timeout` (0: wait forever).
    #[arg(long, env = "UPSTREAM_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub upstream_idle_timeout_secs: u64,

    /// Seconds a stream may run before it ends with `max_duration` (0: no limit). The
    /// default stays under API Gateway's 15-minute limit on a streamed response.
    #[arg(long, env = "MAX_STREAM_SECS", default_value_t = 870)]
    pub max_stream_secs: u64,

    /// Streams served at once; one more is answered `503` with `Retry-After` at once.
    #[arg(long, env = "MAX_CONCURRENT_STREAMS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,

    /// Bedrock streams one HTTP/2 connection carries at most. When every Bedrock client
    /// carries this many, the next stream gets a new client with connections of its own, so
    /// that no stream waits unseen for room on a full connection. 100 is the least RFC 9113
    /// asks an HTTP/2 server to allow.
    #[arg(long, env = "UPSTREAM_STREAMS_PER_CONNECTION", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub upstream_streams_per_connection: u32,

    /// The largest request body accepted, in bytes; a larger one is answered `413`.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// The most messages one request may carry, system and tool messages included;
    /// more are answered `422`.
    #[arg(long, env = "MAX_MESSAGES", default_value_t = 200)]
    pub max_messages: usize,

    /// The most characters of text one request may carry (system prompt, messages, tool
    /// calls and results); more are answered `422`.
    #[arg(long, env = "MAX_INPUT_CHARS", default_value_t = 400_000)]
    pub max_input_chars: usize,

    /// Seconds streams in flight may run on after SIGTERM or SIGINT before each gets a
    /// retryable `shutting_down` error frame. The default fits in Fargate's 30-second stop
    /// timeout.
    #[arg(long, env = "DRAIN_SECS", default_value_t = 25)]
    pub drain_secs: u64,

    /// Something to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand run instead of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Exit 0 when GET http://127.0.0.1:$PORT/health answers 200, 1 otherwise: a container
    /// health check for an image with no shell or curl.
    Healthcheck,
}

impl Config {
    /// The model used when a request does not choose an allowed one.
    pub const DEFAULT_MODEL_ID: &'static str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

    /// The model for a request that asked for `requested`: that model when it is the
    /// server's own or on the allow-list, the server's model otherwise.
    pub fn model_for<'a>(&'a self, requested: Option<&'a str>) -> &'a str {
        match requested {
            Some(model)
                if model == self.model_id
                    || self.allowed_models.iter().any(|allowed| allowed == model) =>
            {
                model
            }
            _ => &self.model_id,
        }
    }

    /// The heartbeat interval, `None` when turned off.
    pub fn heartbeat(&self) -> Option<Duration> {
        seconds(self.heartbeat_secs)
    }

    /// The upstream idle timeout, `None` when turned off.
    pub fn upstream_idle_timeout(&self) -> Option<Duration> {
        seconds(self.upstream_idle_timeout_secs)
    }

    /// The maximum stream duration, `None` when turned off.
    pub fn max_stream_duration(&self) -> Option<Duration> {
        seconds(self.max_stream_secs)
    }

    /// How long streams may run on after a shutdown signal.
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }
}

fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_is_well_formed() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }

    #[test]
    fn only_allowed_models_are_honoured() {
        let config = Config::parse_from([
            "server",
            "--model-id",
            "default-model",
            "--allowed-models",
            "a,b",
        ]);
        assert_eq!(config.model_for(Some("a")), "a");
        assert_eq!(config.model_for(Some("b")), "b");
        assert_eq!(config.model_for(Some("c")), "default-model");
        assert_eq!(config.model_for(Some("")), "default-model");
        assert_eq!(config.model_for(None), "default-model");
        assert_eq!(config.model_for(Some("default-model")), "default-model");
    }

    #[test]
    fn zero_turns_timers_off() {
        let config = Config::parse_from(["server", "--heartbeat-secs", "0"]);
        assert_eq!(config.heartbeat(), None);
        assert_eq!(
            config.upstream_idle_timeout(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(config.max_stream_duration(), Some(Duration::from_secs(870)));
        assert_eq!(config.drain(), Duration::from_secs(25));
    }

    #[test]
    fn healthcheck_takes_the_port_after_it() {
        let config = Config::parse_from(["server", "healthcheck", "--port", "9000"]);
        assert_eq!(config.command, Some(Command::Healthcheck));
        assert_eq!(config.port, 9000);
    }
}
