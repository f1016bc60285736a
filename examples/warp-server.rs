//! The warp server: Bedrock replies as Server-Sent Events, plus an OpenAI-compatible
//! endpoint and a chat page.
//!
//! ```text
//! cargo run --release --features server --example warp-server -- --mock
//! curl -N localhost:8080/stream -H 'content-type: application/json' -d '{"message":"hello"}'
//! ```
//!
//! Everything but warp's filters, replies and connection handling is in
//! `bedrock_sse::server`, shared with the axum server; `--help` lists the flags.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use bedrock_sse::server::{self, App, Body};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use warp::filters::path::FullPath;
use warp::http::{HeaderMap, Method};
use warp::reply::Response;
use warp::{Filter, Reply};

fn main() -> ExitCode {
    server::run(|app, listener, shutdown| async move {
        let service = warp::service(routes(app));
        // warp::serve cannot set socket options on the connections it accepts, so the
        // connections are accepted here, with TCP_NODELAY, and served by hyper.
        let connections = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(error) => {
                        // Out of file descriptors, usually: wait rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%error, "could not set TCP_NODELAY");
            }
            let connection = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service.clone()))
                .into_owned();
            let connection = connections.watch(connection);
            tokio::spawn(async move {
                // A client that resets the connection is not the server's error.
                let _ = connection.await;
            });
        }
        drop(listener);
        connections.shutdown().await;
        Ok(())
    })
}

fn routes(
    app: App,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync {
    let app = warp::any().map(move || app.clone());
    let headers = warp::header::headers_cloned();
    // warp::query::raw() rejects a request with no query string; that is just None here.
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();

    let page = warp::path::end()
        .and(warp::get())
        .and(app.clone())
        .and(headers)
        .map(|app: App, headers: HeaderMap| to_warp(app.page(&headers)));
    let health = warp::path!("health")
        .and(warp::get())
        .and(app.clone())
        .and(headers)
        .map(|app: App, headers: HeaderMap| to_warp(app.health(&headers)));
    let stream_get = warp::path!("stream")
        .and(warp::get())
        .and(app.clone())
        .and(headers)
        .and(query)
        .then(
            |app: App, headers: HeaderMap, query: Option<String>| async move {
                to_warp(app.stream_get(&headers, query.as_deref()).await)
            },
        );
    let stream_post = warp::path!("stream")
        .and(warp::post())
        .and(app.clone())
        .and(headers)
        .and(query)
        .and(warp::body::stream())
        .then(
            |app: App, headers: HeaderMap, query: Option<String>, body| async move {
                to_warp(app.stream_post(&headers, query.as_deref(), body).await)
            },
        );
    let chat_completions = warp::path!("v1" / "chat" / "completions")
        .and(warp::post())
        .and(app.clone())
        .and(headers)
        .and(warp::body::stream())
        .then(|app: App, headers: HeaderMap, body| async move {
            to_warp(app.chat_completions(&headers, body).await)
        });
    // Whatever the routes above rejected: the app answers 404 or 405 in JSON, where warp
    // would answer in plain text.
    let fallback = warp::method()
        .and(warp::path::full())
        .and(app)
        .and(headers)
        .map(
            |method: Method, path: FullPath, app: App, headers: HeaderMap| {
                to_warp(app.fallback(&method, path.as_str(), &headers))
            },
        );

    page.or(health)
        .unify()
        .or(stream_get)
        .unify()
        .or(stream_post)
        .unify()
        .or(chat_completions)
        .unify()
        .or(fallback)
        .unify()
}

fn to_warp(response: warp::http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Full(bytes) => bytes.into(),
        Body::Events(events) => warp::reply::stream(events).into_response().into_body(),
    };
    Response::from_parts(parts, body)
}
