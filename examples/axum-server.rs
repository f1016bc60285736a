//! The axum server: Bedrock replies as Server-Sent Events, plus an OpenAI-compatible
//! endpoint and a chat page.
//!
//! ```text
//! cargo run --release --features server --example axum-server -- --mock
//! curl -N localhost:8080/stream -H 'content-type: application/json' -d '{"message":"hello"}'
//! ```
//!
//! Everything but axum's routing, extraction and responses is in `bedrock_sse::server`,
//! shared with the warp server; `--help` lists the flags.

use std::process::ExitCode;

use axum::body::Body as AxumBody;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use bedrock_sse::server::{self, App, Body};

fn main() -> ExitCode {
    server::run(|app, listener, shutdown| async move {
        let router = Router::new()
            .route("/", get(page))
            .route("/health", get(health))
            .route("/stream", get(stream_get).post(stream_post))
            .route("/v1/chat/completions", post(chat_completions))
            .fallback(fallback)
            .method_not_allowed_fallback(fallback)
            .with_state(app);
        // Small SSE frames must leave at once, not wait for Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%error, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    })
}

async fn page(State(app): State<App>, headers: HeaderMap) -> Response {
    to_axum(app.page(&headers))
}

async fn health(State(app): State<App>, headers: HeaderMap) -> Response {
    to_axum(app.health(&headers))
}

async fn stream_get(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    to_axum(app.stream_get(&headers, query.as_deref()).await)
}

async fn stream_post(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: AxumBody,
) -> Response {
    let body = body.into_data_stream();
    to_axum(app.stream_post(&headers, query.as_deref(), body).await)
}

async fn chat_completions(State(app): State<App>, headers: HeaderMap, body: AxumBody) -> Response {
    let body = body.into_data_stream();
    to_axum(app.chat_completions(&headers, body).await)
}

async fn fallback(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    to_axum(app.fallback(&method, uri.path(), &headers))
}

fn to_axum(response: axum::http::Response<Body>) -> Response {
    response.map(|body| match body {
        Body::Full(bytes) => AxumBody::from(bytes),
        Body::Events(events) => AxumBody::from_stream(events),
    })
}
