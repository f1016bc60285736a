//! The server: accepts connections (HTTP/1.1, or HTTPS with HTTP/2 or HTTP/1.1) and answers
//! `ConverseStream` requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::Accept;
use tokio_rustls::TlsAcceptor;

use super::body::ReplyBody;
use super::directive::{self, Directive};
use super::request::{self, Prompt};
use super::script::Plan;
use super::wire::{error_type_header, EVENT_STREAM_CONTENT_TYPE};
use super::{RecordedRequest, Reply, Shared};

/// Bedrock's own limit on a request body is far larger than any test prompt; this one only
/// keeps a runaway client from exhausting memory.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

type ResponseBody = Either<Full<Bytes>, ReplyBody>;

/// Accepts connections until `shutdown` changes or its sender is dropped; with `tls`, each
/// connection is HTTPS and speaks the protocol ALPN settled on.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                shared.counters.connection_accepted();
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let shutdown = shutdown.clone();
                match &tls {
                    None => tokio::spawn(serve_connection(stream, false, shared, shutdown)),
                    Some(tls) => tokio::spawn(serve_tls(tls.accept(stream), shared, shutdown)),
                };
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Finishes the TLS handshake, then serves HTTP/2 if the client chose `h2`, else HTTP/1.1.
async fn serve_tls(
    handshake: Accept<TcpStream>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<()>,
) {
    // A client that gives up during the handshake is no concern of the mock's.
    if let Ok(stream) = handshake.await {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        serve_connection(stream, h2, shared, shutdown).await;
    }
}

async fn serve_connection<S>(
    stream: S,
    h2: bool,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let max_concurrent_streams = shared.max_concurrent_streams;
    let service = service_fn(move |request| answer(request, Arc::clone(&shared)));
    let connection = if h2 {
        // A stream the client resets drops its reply body, as a closed connection does.
        future::Either::Left(
            http2::Builder::new(TokioExecutor::new())
                .max_concurrent_streams(max_concurrent_streams)
                .serve_connection(io, service),
        )
    } else {
        // `half_close(false)` (hyper's default, spelled out because abandonment detection
        // relies on it): a client EOF in the middle of a response ends the connection, which
        // drops the reply body even while it is stalled and writes nothing.
        future::Either::Right(
            http1::Builder::new()
                .half_close(false)
                .serve_connection(io, service),
        )
    };
    tokio::select! {
        // A client that leaves mid-stream makes the connection end with an error: expected.
        _ = connection => {}
        _ = shutdown.changed() => {}
    }
}

async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ResponseBody>, Infallible> {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let model_id = (parts.method == Method::POST)
        .then(|| request::model_id(parts.uri.path()))
        .flatten();
    let body = Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes());
    let json = body
        .as_ref()
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
    shared.record(RecordedRequest {
        model_id: model_id.clone().unwrap_or_default(),
        body: json.clone().unwrap_or(Value::Null),
        http_version: format!("{:?}", parts.version),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
    });
    let request_id = shared.next_request_id();

    let prompt = if model_id.is_none() {
        let message = format!("No operation matches {} {}", parts.method, parts.uri.path());
        Err(Rejection::new(404, "UnknownOperationException", message))
    } else if body.is_err() {
        let message = "The request body could not be read or is too large.";
        Err(Rejection::new(400, "ValidationException", message))
    } else if let Some(json) = &json {
        request::prompt(json).map_err(|message| Rejection::new(400, "ValidationException", message))
    } else {
        let message = "Malformed input request, please reformat your input and try again.";
        Err(Rejection::new(400, "ValidationException", message))
    };
    let response = match prompt {
        Ok(prompt) => play(&prompt, shared, received, &request_id),
        Err(rejection) => error_response(&rejection, &request_id),
    };
    Ok(response)
}

/// Answers a valid request with the reply its directive, or the mock's default, asks for.
fn play(
    prompt: &Prompt,
    shared: Arc<Shared>,
    received: Instant,
    request_id: &str,
) -> Response<ResponseBody> {
    let (reply, pace, echo_text) = match directive::parse(&prompt.last_user_text) {
        Directive::Absent => (shared.reply.clone(), shared.pace, &*prompt.last_user_text),
        Directive::Valid { reply, pace, rest } => (reply, pace.unwrap_or(shared.pace), rest),
        Directive::Invalid => (Reply::Echo, shared.pace, &*prompt.last_user_text),
    };
    match reply.plan(echo_text, prompt.input_tokens) {
        Plan::HttpError {
            status,
            error_type,
            message,
        } => error_response(&Rejection::new(status, &error_type, message), request_id),
        Plan::Stream(script) => {
            let body = ReplyBody::new(script, pace, received, shared);
            let mut response = Response::new(Either::Right(body));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
            );
            insert_header(headers, "x-amzn-requestid", request_id);
            response
        }
    }
}

/// An error answered before any stream.
struct Rejection {
    status: u16,
    error_type: String,
    message: String,
}

impl Rejection {
    fn new(status: u16, error_type: &str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            error_type: error_type.to_owned(),
            message: message.into(),
        }
    }
}

/// An error as Bedrock sends it: the status, `x-amzn-ErrorType` and `{"message": ...}`. A
/// status outside 400–599 is sent as 500.
fn error_response(rejection: &Rejection, request_id: &str) -> Response<ResponseBody> {
    let body = json!({ "message": rejection.message }).to_string();
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = StatusCode::from_u16(rejection.status)
        .ok()
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_header(
        headers,
        "x-amzn-errortype",
        &error_type_header(&rejection.error_type),
    );
    insert_header(headers, "x-amzn-requestid", request_id);
    response
}

/// Inserts a header, skipping a value that is not a valid header value (a scripted error type
/// may hold any text).
fn insert_header(headers: &mut hyper::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}
