//! The routes' logic, the same for every framework: extracted request parts in, an
//! [`http::Response`] with a [`Body`] out.

use std::fmt;
use std::sync::Arc;

use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput;
use bytes::{Buf, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use http::{HeaderMap, Method, Response, StatusCode};
use tokio::sync::oneshot;

use super::body::{read_limited, require_json};
use super::converse::{Conversation, Limits};
use super::error::ApiError;
use super::openai::{ChatRequest, Completion};
use super::request::StreamRequest;
use super::response::{self, Body, EventStream};
use super::shutdown::{Shutdown, ShutdownSignal};
use super::telemetry::RequestLog;
use super::upstream::{Slot, Upstream};
use super::{bedrock, Config};
use crate::mock::MockBedrock;
use crate::{events, Bedrock, Dialect, Format, OpenAi, Options, Outcome, SseStream, Text};

/// The chat page: HTML and JavaScript in one file, embedded in the binary.
const CHAT_PAGE: &str = include_str!("chat.html");

/// Every route, with the methods it answers: what decides between 404 and 405.
const ROUTES: &[(&str, &[Method])] = &[
    ("/", &[Method::GET]),
    ("/health", &[Method::GET]),
    ("/stream", &[Method::GET, Method::POST]),
    ("/v1/chat/completions", &[Method::POST]),
];

/// A server's state and route handlers: everything but the framework.
///
/// Cloning is cheap (an `Arc`); give each framework handler a clone. Handlers take what the
/// framework extracted (headers, the raw query string, the body as a stream of chunks) and
/// return an `http::Response<Body>` for the framework to convert. They never fail and never
/// panic: bad input is a JSON error response.
///
/// | route | handler |
/// |---|---|
/// | `GET /` | [`page`](App::page) |
/// | `GET /health` | [`health`](App::health) |
/// | `GET /stream?message=&format=` | [`stream_get`](App::stream_get) |
/// | `POST /stream?format=` | [`stream_post`](App::stream_post) |
/// | `POST /v1/chat/completions` | [`chat_completions`](App::chat_completions) |
/// | anything else | [`fallback`](App::fallback): 404, or 405 for a known path |
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    limits: Limits,
    upstream: Upstream,
    shutdown: Shutdown,
    /// The embedded mock with `--mock`, kept alive as long as the app.
    _mock: Option<MockBedrock>,
}

impl App {
    /// Builds the first Bedrock client (starting the embedded mock with `--mock`). Call it inside
    /// a Tokio runtime.
    pub async fn new(config: Config) -> std::io::Result<App> {
        let (make_client, mock) = bedrock::connect(&config).await?;
        let count = |value: u32| usize::try_from(value).unwrap_or(usize::MAX);
        let upstream = Upstream::new(
            make_client,
            count(config.upstream_streams_per_connection),
            count(config.max_concurrent_streams),
        );
        Ok(App {
            inner: Arc::new(Inner {
                limits: Limits::from_config(&config),
                shutdown: Shutdown::new(config.drain()),
                upstream,
                config,
                _mock: mock,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Starts a graceful shutdown, as SIGTERM does: new streams are refused, the
    /// [`draining`](App::draining) signal fires, and streams still running at the drain
    /// deadline end with a `shutting_down` error frame. Calling it again ends the drain at
    /// once.
    pub fn shutdown(&self) {
        self.inner.shutdown.begin();
    }

    /// Completes when a shutdown starts: give it to the framework's graceful shutdown so
    /// that it stops accepting connections and waits for those open to finish.
    pub fn draining(&self) -> ShutdownSignal {
        self.inner.shutdown.draining()
    }

    /// Completes at the drain deadline, when the streams still running are ended.
    pub fn drain_deadline(&self) -> ShutdownSignal {
        self.inner.shutdown.ended()
    }

    /// `GET /health`: `200 {"status":"healthy"}`.
    pub fn health(&self, headers: &HeaderMap) -> Response<Body> {
        let log = RequestLog::start(Method::GET, "/health", headers);
        let response = response::json(StatusCode::OK, r#"{"status":"healthy"}"#, log.request_id());
        log.finish(200, None);
        response
    }

    /// `GET /`: the chat page.
    pub fn page(&self, headers: &HeaderMap) -> Response<Body> {
        let log = RequestLog::start(Method::GET, "/", headers);
        let response = response::html(CHAT_PAGE, log.request_id());
        log.finish(200, None);
        response
    }

    /// `GET /stream?message=...&format=...`, for `EventSource`.
    pub async fn stream_get(&self, headers: &HeaderMap, query: Option<&str>) -> Response<Body> {
        let log = RequestLog::start(Method::GET, "/stream", headers);
        let request = StreamRequest::from_query(query, self.inner.limits);
        self.stream(log, request).await
    }

    /// `POST /stream?format=...` with a JSON body: `{"message": "..."}` or
    /// `{"messages": [...], "system", "max_tokens", "temperature", "top_p", "stop"}`.
    pub async fn stream_post<S, B, E>(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        body: S,
    ) -> Response<Body>
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: fmt::Display,
    {
        let log = RequestLog::start(Method::POST, "/stream", headers);
        let request = match self.read_json(headers, body).await {
            Ok(body) => StreamRequest::from_body(query, &body, self.inner.limits),
            Err(error) => Err(error),
        };
        self.stream(log, request).await
    }

    /// `POST /v1/chat/completions`: OpenAI's Chat Completions, streamed (`"stream": true`,
    /// the `openai` dialect) or as one `chat.completion` object.
    pub async fn chat_completions<S, B, E>(&self, headers: &HeaderMap, body: S) -> Response<Body>
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: fmt::Display,
    {
        let log = RequestLog::start(Method::POST, "/v1/chat/completions", headers);
        let request = match self.read_json(headers, body).await {
            Ok(body) => ChatRequest::from_body(&body, self.inner.limits),
            Err(error) => Err(error),
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => return refuse(log, &error),
        };
        let model = self
            .inner
            .config
            .model_for(request.model.as_deref())
            .to_owned();
        if request.stream {
            let dialect = OpenAi::new(&model).include_usage(request.include_usage);
            self.open_stream(log, request.conversation, &model, Format::OpenAi, dialect)
                .await
        } else {
            self.complete(log, request.conversation, &model).await
        }
    }

    /// Any other request: `404`, or `405` with `Allow` when the path is a route.
    pub fn fallback(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response<Body> {
        let route = ROUTES.iter().find(|(route, _)| *route == path);
        let log = RequestLog::start(
            method.clone(),
            route.map_or("(none)", |(route, _)| route),
            headers,
        );
        let Some((_, methods)) = route else {
            return refuse(log, &ApiError::not_found());
        };
        let allowed = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut response = refuse(log, &ApiError::method_not_allowed(method, &allowed));
        if let Ok(allow) = http::HeaderValue::from_str(&allowed) {
            response.headers_mut().insert(http::header::ALLOW, allow);
        }
        response
    }

    async fn read_json<S, B, E>(
        &self,
        headers: &HeaderMap,
        body: S,
    ) -> Result<bytes::Bytes, ApiError>
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: fmt::Display,
    {
        require_json(headers)?;
        read_limited(headers, body, self.inner.config.max_body_bytes).await
    }

    /// The `/stream` routes once the request is read.
    async fn stream(
        &self,
        log: RequestLog,
        request: Result<StreamRequest, ApiError>,
    ) -> Response<Body> {
        let request = match request {
            Ok(request) => request,
            Err(error) => return refuse(log, &error),
        };
        let model = self.inner.config.model_id.clone();
        let dialect: Box<dyn Dialect> = match request.format {
            Format::Text => Box::new(Text::new()),
            Format::Bedrock => Box::new(Bedrock::new()),
            Format::OpenAi => Box::new(OpenAi::new(&model)),
        };
        self.open_stream(log, request.conversation, &model, request.format, dialect)
            .await
    }

    /// Calls Bedrock and answers with its stream in `dialect`, or with its error.
    async fn open_stream<D: Dialect>(
        &self,
        mut log: RequestLog,
        conversation: Conversation,
        model: &str,
        format: Format,
        dialect: D,
    ) -> Response<Body> {
        log.streaming(model, format.as_str());
        let (slot, output) = match self.call(conversation, model).await {
            Ok(call) => call,
            Err(error) => return refuse(log, &error),
        };
        let request_id = log.request_id().to_owned();
        let arrived = tokio::time::Instant::from_std(log.started());
        let frames = SseStream::new(events(output.stream), dialect)
            .options(self.options().opening_comment(Some("ok")))
            .started_at(arrived)
            .on_complete(move |summary| log.finish_stream(200, &summary))
            .shutdown_on(self.inner.shutdown.ended());
        response::events(EventStream::new(frames, slot), &request_id)
    }

    /// Calls Bedrock and answers with one `chat.completion`, or with the error that ended
    /// the turn.
    async fn complete(
        &self,
        mut log: RequestLog,
        conversation: Conversation,
        model: &str,
    ) -> Response<Body> {
        log.streaming(model, "chat.completion");
        let (slot, output) = match self.call(conversation, model).await {
            Ok(call) => call,
            Err(error) => return refuse(log, &error),
        };
        let request_id = log.request_id().to_owned();
        let arrived = tokio::time::Instant::from_std(log.started());
        let (status_sender, status) = oneshot::channel();
        let frames = SseStream::new(events(output.stream), Completion::new(model))
            .options(self.options().heartbeat(None))
            .started_at(arrived)
            .on_complete(move |summary| {
                let status = completion_status(summary.outcome);
                let _ = status_sender.send(status);
                log.finish_stream(status.as_u16(), &summary);
            })
            .shutdown_on(self.inner.shutdown.ended());
        let body = frames
            .fold(BytesMut::new(), |mut body, frame| async move {
                let Ok(frame) = frame;
                body.extend_from_slice(&frame);
                body
            })
            .await;
        drop(slot);
        // The report comes before the stream's end, so the status is there by now.
        let status = status.await.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response::json(status, body.freeze(), &request_id)
    }

    /// Takes a stream slot and sends the Converse call through the slot's client. The slot
    /// is refused at once when none is free or the server is shutting down.
    async fn call(
        &self,
        conversation: Conversation,
        model: &str,
    ) -> Result<(Slot, ConverseStreamOutput), ApiError> {
        if self.inner.shutdown.is_draining() {
            return Err(ApiError::shutting_down());
        }
        let slot = self
            .inner
            .upstream
            .slot()
            .ok_or_else(ApiError::overloaded)?;
        let request = conversation.request(slot.client(), model)?;
        match request.send().await {
            Ok(output) => Ok((slot, output)),
            Err(error) => Err(ApiError::from(&crate::Error::from(error))),
        }
    }

    /// The stream timing from the configuration.
    fn options(&self) -> Options {
        let config = &self.inner.config;
        Options::new()
            .heartbeat(config.heartbeat())
            .idle_timeout(config.upstream_idle_timeout())
            .max_duration(config.max_stream_duration())
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("config", &self.inner.config)
            .field("free_stream_slots", &self.inner.upstream.free_slots())
            .field("upstream_clients", &self.inner.upstream.clients())
            .field("draining", &self.inner.shutdown.is_draining())
            .finish_non_exhaustive()
    }
}

/// Answers a refused request and writes its log line.
fn refuse(log: RequestLog, error: &ApiError) -> Response<Body> {
    let response = response::refused(error, log.request_id());
    log.finish(error.status().as_u16(), Some(error.kind()));
    response
}

/// The status of a non-streaming completion: that of the error that ended the turn.
fn completion_status(outcome: Outcome) -> StatusCode {
    let status = match outcome {
        Outcome::Completed => 200,
        Outcome::Failed(kind) | Outcome::TimedOut(kind) => kind.status(),
        Outcome::Truncated => crate::ErrorKind::Truncated.status(),
        // The client left; nobody reads this status but the log.
        Outcome::Cancelled => 499,
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
}
