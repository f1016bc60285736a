//! Structured logs: JSON lines on stdout, and one line per request when it ends.
//!
//! The request line carries who asked (the request id), what was asked for (route, model,
//! dialect) and how it went (status, outcome, stop reason, usage, time to first token,
//! duration), and never the text of a prompt or a reply.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method};
use tracing_subscriber::EnvFilter;

use crate::Summary;

/// Sends JSON log lines to stdout, at the level `RUST_LOG` names (default `info`).
pub(crate) fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Fails only when a subscriber is already set, which then keeps logging.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// One request, from its arrival to the log line written when it ends.
#[derive(Debug)]
pub(crate) struct RequestLog {
    request_id: String,
    trace_id: Option<String>,
    method: Method,
    route: &'static str,
    model: Option<String>,
    format: Option<&'static str>,
    started: Instant,
}

impl RequestLog {
    /// Starts the record of a request to `route`. Its id is API Gateway's
    /// `x-amzn-requestid` when present, else its `x-amzn-trace-id`, else a new one.
    pub(crate) fn start(method: Method, route: &'static str, headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(printable);
        let trace_id = header("x-amzn-trace-id");
        let request_id = header("x-amzn-requestid")
            .or_else(|| trace_id.clone())
            .unwrap_or_else(new_id);
        Self {
            request_id,
            trace_id,
            method,
            route,
            model: None,
            format: None,
            started: Instant::now(),
        }
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    /// When the request arrived: where a stream's time to first token counts from.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// Records the model and wire dialect once they are known.
    pub(crate) fn streaming(&mut self, model: &str, format: &'static str) {
        self.model = Some(model.to_owned());
        self.format = Some(format);
    }

    /// Writes the line for a request that ended without a stream.
    pub(crate) fn finish(self, status: u16, error: Option<&str>) {
        let duration_ms = millis(self.started.elapsed());
        if self.route == "/health" && status == 200 {
            // Load balancers ask every few seconds; keep those lines out of the way.
            tracing::debug!(request_id = %self.request_id, route = self.route, status, duration_ms, "request");
            return;
        }
        tracing::info!(
            request_id = %self.request_id,
            trace_id = self.trace_id.as_deref(),
            method = %self.method,
            route = self.route,
            status,
            error,
            model = self.model.as_deref(),
            duration_ms,
            "request"
        );
    }

    /// Writes the line for a request that streamed, from the stream's completion report.
    pub(crate) fn finish_stream(self, status: u16, summary: &Summary) {
        let usage = summary.usage.as_ref();
        tracing::info!(
            request_id = %self.request_id,
            trace_id = self.trace_id.as_deref(),
            method = %self.method,
            route = self.route,
            status,
            outcome = summary.outcome.as_str(),
            error = outcome_error(summary),
            stop_reason = summary.stop_reason.as_deref(),
            model = self.model.as_deref(),
            format = self.format,
            input_tokens = usage.map(|usage| usage.input_tokens),
            output_tokens = usage.map(|usage| usage.output_tokens),
            total_tokens = usage.map(|usage| usage.total_tokens),
            bedrock_latency_ms = summary.latency_ms,
            ttft_ms = summary.time_to_first_token.map(millis),
            duration_ms = millis(summary.duration),
            frames = summary.frames,
            bytes = summary.bytes,
            skipped_events = summary.skipped_events,
            "request"
        );
    }
}

fn outcome_error(summary: &Summary) -> Option<&'static str> {
    match summary.outcome {
        crate::Outcome::Failed(kind) | crate::Outcome::TimedOut(kind) => Some(kind.as_str()),
        crate::Outcome::Truncated => Some(crate::ErrorKind::Truncated.as_str()),
        _ => None,
    }
}

/// Milliseconds with microsecond precision, for log fields.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// A header value fit to log and echo: printable ASCII, at most 200 characters.
fn printable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?.trim();
    let clean: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(200)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

/// A fresh request id: 32 hex digits.
fn new_id() -> String {
    crate::id::unique_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gateway_ids_win_over_new_ones() {
        let mut headers = HeaderMap::new();
        let log = RequestLog::start(Method::GET, "/", &headers);
        assert_eq!(log.request_id().len(), 32);
        assert_ne!(
            log.request_id(),
            RequestLog::start(Method::GET, "/", &headers).request_id()
        );

        headers.insert("x-amzn-trace-id", HeaderValue::from_static("Root=1-abc"));
        assert_eq!(
            RequestLog::start(Method::GET, "/", &headers).request_id(),
            "Root=1-abc"
        );
        headers.insert("x-amzn-requestid", HeaderValue::from_static(" req-1\t x"));
        assert_eq!(
            RequestLog::start(Method::GET, "/", &headers).request_id(),
            "req-1x"
        );
    }
}
