//! What the example servers share, once: configuration, request parsing and validation,
//! the OpenAI Chat Completions translation, JSON error bodies, the concurrency limit,
//! request logs, graceful shutdown and the chat page.
//!
//! An example server (`examples/axum-server.rs`, `examples/warp-server.rs`) holds only
//! its framework's glue: it routes each request to a handler of [`App`], hands it what
//! the framework extracted (headers, the raw query string, the body as a stream of chunks)
//! and converts the returned `http::Response<`[`Body`]`>`. [`run`] does the rest: flags,
//! logging, the runtime, the Bedrock client, the listener and the signals.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use axum::extract::{RawQuery, State};
//! use axum::http::{HeaderMap, Method, Uri};
//! use axum::routing::get;
//! use axum::Router;
//! use bedrock_sse::server::{self, App, Body};
//!
//! fn main() -> ExitCode {
//!     server::run(|app, listener, shutdown| async move {
//!         let router = Router::new()
//!             .route("/health", get(health))
//!             .route("/stream", get(stream))
//!             .fallback(fallback)
//!             .with_state(app);
//!         axum::serve(listener, router)
//!             .with_graceful_shutdown(shutdown)
//!             .await
//!     })
//! }
//!
//! async fn health(State(app): State<App>, headers: HeaderMap) -> axum::response::Response {
//!     to_axum(app.health(&headers))
//! }
//!
//! async fn stream(
//!     State(app): State<App>,
//!     RawQuery(query): RawQuery,
//!     headers: HeaderMap,
//! ) -> axum::response::Response {
//!     to_axum(app.stream_get(&headers, query.as_deref()).await)
//! }
//!
//! async fn fallback(
//!     State(app): State<App>,
//!     method: Method,
//!     uri: Uri,
//!     headers: HeaderMap,
//! ) -> axum::response::Response {
//!     to_axum(app.fallback(&method, uri.path(), &headers))
//! }
//!
//! fn to_axum(response: http::Response<Body>) -> axum::response::Response {
//!     response.map(|body| match body {
//!         Body::Full(bytes) => axum::body::Body::from(bytes),
//!         Body::Events(events) => axum::body::Body::from_stream(events),
//!     })
//! }
//! ```
//!
//! # Behaviour
//!
//! * Every refused request gets a JSON body shaped like [`Error::to_json`](crate::Error::to_json),
//!   `{"error":{"kind","message","status","retryable"}}`: malformed JSON or a missing or
//!   empty message `400`, a body not declared `application/json` `415`, a body over
//!   `--max-body-bytes` `413`, too many messages or too much text `422`, an unknown path
//!   `404`, a known path with another method `405`, Bedrock's refusals with the crate's
//!   status mapping.
//! * At most `--max-concurrent-streams` Bedrock calls run at once; one more is answered
//!   `503` with `Retry-After: 1` at once. A stream's slot is held by its body, so it is
//!   released when the stream ends or the client leaves, and a client leaving drops the
//!   Bedrock call.
//! * Streams are `text/event-stream` with `Cache-Control: no-cache` and
//!   `X-Accel-Buffering: no`, open with the comment `: ok`, and send a heartbeat comment
//!   when quiet.
//! * One JSON log line per request when it ends (successful `/health` checks at debug
//!   level), with the request id (API Gateway's `x-amzn-requestid`, else
//!   `x-amzn-trace-id`, else a new one; echoed as `x-request-id`), and for streams the
//!   completion report. No prompt or reply text is logged.
//! * On SIGTERM or SIGINT the server stops accepting, refuses new streams with `503`,
//!   lets streams run until `--drain-secs`, then ends each with a retryable
//!   `shutting_down` error frame, and exits 0.

mod app;
mod bedrock;
mod body;
mod config;
mod converse;
mod error;
mod healthcheck;
mod openai;
mod request;
mod response;
mod shutdown;
mod telemetry;
mod upstream;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;

pub use app::App;
pub use config::{Command, Config};
pub use response::{Body, EventStream};
pub use shutdown::ShutdownSignal;

use shutdown::Signals;

/// How long connections may stay open after the drain deadline, for the last frames to
/// go out, before the process stops anyway.
const GRACE_AFTER_DEADLINE: Duration = Duration::from_secs(3);

/// Runs a server: the whole `main` of an example, around the framework part, `serve`.
///
/// Parses the [`Config`] from the command line and environment (or runs the
/// `healthcheck` subcommand), sends JSON logs to stdout, starts a multi-threaded Tokio
/// runtime, builds the [`App`], binds the listener and logs a `listening` line with its
/// address, then calls `serve` with the app, the listener and the signal for a graceful
/// shutdown. `serve` should accept connections on the listener (with `TCP_NODELAY` on
/// each), route requests to the app, stop accepting when the signal completes and return
/// when the open connections have closed.
///
/// Returns the process exit code: success after a graceful shutdown, failure when the
/// server could not start or `serve` failed.
pub fn run<F, Fut>(serve: F) -> ExitCode
where
    F: FnOnce(App, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let config = Config::parse();
    if config.command == Some(Command::Healthcheck) {
        return if healthcheck::is_healthy(config.port) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    one_malloc_arena();
    telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "could not start the Tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve_until_stopped(config, serve));
    // Connections still open past the grace period are abandoned.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "the server failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_stopped<F, Fut>(config: Config, serve: F) -> std::io::Result<()>
where
    F: FnOnce(App, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let signals = Signals::register()?;
    let host = config.host.clone();
    let port = config.port;
    let app = App::new(config).await?;
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        model_id = %app.config().model_id,
        mock = app.config().mock,
        "listening"
    );
    tokio::spawn(signals.forward(app.clone()));

    let deadline = app.drain_deadline();
    let served = serve(app.clone(), listener, app.draining());
    tokio::select! {
        result = served => result,
        () = async {
            deadline.await;
            tokio::time::sleep(GRACE_AFTER_DEADLINE).await;
        } => {
            tracing::warn!("connections still open after the drain deadline; stopping anyway");
            Ok(())
        }
    }
}

/// One glibc malloc arena for the whole process instead of up to eight per
/// CPU: about 4 KiB less RSS per open stream at 1,000 streams, at no
/// measurable CPU cost (BENCHMARKS.md, "Memory per open stream").
/// `MALLOC_ARENA_MAX` in the environment still decides when it is set.
#[allow(unsafe_code)]
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator tunable, before any thread
        // but this one exists; it is documented as safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
