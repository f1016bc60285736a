//! A mock Amazon Bedrock that speaks the real `ConverseStream` wire format.
//!
//! [`MockBedrock`] is an HTTP/1.1 server (or [HTTPS](MockBuilder::tls) with HTTP/2) on
//! `127.0.0.1` that answers
//! `POST /model/{modelId}/converse-stream` with `application/vnd.amazon.eventstream` frames
//! (valid prelude and message CRCs, written by the SDK's own frame writer), so the real
//! `aws-sdk-bedrockruntime` client decodes them exactly as it decodes Bedrock's. Errors before
//! the stream are HTTP errors with `x-amzn-ErrorType`, errors during it are exception frames.
//! It plays a scripted [`Reply`], records the requests it gets, and counts the streams it
//! completed and those the client abandoned.
//!
//! Point a client at it with [`MockBedrock::client`], or any SDK client through the standard
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` variable set to [`MockBedrock::endpoint_url`]: nothing
//! in the rest of this crate knows the mock exists.
//!
//! ```
//! use aws_sdk_bedrockruntime::types::{
//!     ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, Message,
//! };
//! use bedrock_sse::mock::MockBedrock;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mock = MockBedrock::start().await?;
//!     let prompt = Message::builder()
//!         .role(ConversationRole::User)
//!         .content(ContentBlock::Text("Hello, mock Bedrock!".to_owned()))
//!         .build()?;
//!     let mut output = mock
//!         .client()
//!         .converse_stream()
//!         .model_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0")
//!         .messages(prompt)
//!         .send()
//!         .await?;
//!
//!     let mut text = String::new();
//!     while let Some(event) = output.stream.recv().await? {
//!         if let ConverseStreamOutput::ContentBlockDelta(event) = event {
//!             if let Some(ContentBlockDelta::Text(delta)) = event.delta {
//!                 text.push_str(&delta);
//!             }
//!         }
//!     }
//!     println!("{text}");
//!     assert_eq!(text, "Hello, mock Bedrock!");
//!     assert_eq!(mock.streams_completed(), 1);
//!     Ok(())
//! }
//! ```
//!
//! # Directives
//!
//! A request picks its own reply, whatever the mock's default, when the text of its last user
//! message starts (after optional whitespace) with a directive:
//!
//! ```text
//! directive = "[mock:" name *( " " argument ) [ " pace=" millis ] "]" [ " " ] rest
//! ```
//!
//! | Directive | Reply |
//! |---|---|
//! | `[mock:echo] rest` | [`Reply::Echo`] of `rest` |
//! | `[mock:text] rest` | [`Reply::Text`] of `rest` |
//! | `[mock:unicode]` | [`Reply::Unicode`] |
//! | `[mock:tools]` | [`Reply::ToolUse`] |
//! | `[mock:reasoning]` | [`Reply::Reasoning`] |
//! | `[mock:metadata-first]` | [`Reply::MetadataFirst`] |
//! | `[mock:long N]` | [`Reply::Long`] with `N` deltas |
//! | `[mock:clock N]` | [`Reply::Clock`] with `N` deltas |
//! | `[mock:stall N]` | [`Reply::Stall`] after `N` deltas |
//! | `[mock:http-error STATUS Type message…]` | [`Reply::HttpError`], e.g. `[mock:http-error 429 ThrottlingException]` (status 400–599) |
//! | `[mock:stream-error N type message…]` | [`Reply::StreamError`], e.g. `[mock:stream-error 2 throttlingException]` |
//! | `[mock:cut N]` | [`Reply::Cut`] after `N` deltas |
//! | `[mock:end-without-stop N]` | [`Reply::EndWithoutStop`] after `N` deltas |
//!
//! Names are case-insensitive; words are separated by whitespace. A `pace=MS` word anywhere
//! inside the brackets sets the pause between events for this request (`[mock:long 50
//! pace=20]`). `rest` is the text after `]`, less one space. An error message is the words
//! after the error type (a default names the type when there are none). Anything that starts
//! with `[mock:` but is not a valid directive is echoed whole; prompts are never rejected.
//!
//! # Counting streams
//!
//! Every 200 response is a stream: [`streams_started`](MockBedrock::streams_started). It is
//! [completed](MockBedrock::streams_completed) once the mock has handed its last scripted
//! frame to the connection (a [`Reply::Cut`] counts as completed when it cuts), and
//! [abandoned](MockBedrock::streams_abandoned) when the response is dropped before that: the
//! client closed the connection or dropped the body, including during a pause or a
//! [`Reply::Stall`]. The server keeps reading the socket while it writes a response, so a
//! client that leaves is noticed within milliseconds even when nothing is being written.
//! HTTP error responses are not streams.

mod body;
mod directive;
mod request;
mod script;
mod server;
mod tls;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use script::Reply;
use tls::Tls;

/// A running mock Bedrock; the server shuts down, and its connections close, when this is
/// dropped.
///
/// Start one with [`MockBedrock::start`] or [`MockBedrock::builder`] from inside a tokio
/// runtime; the server runs as tasks on that runtime.
pub struct MockBedrock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    certificate_pem: Option<String>,
    accept_task: JoinHandle<()>,
    // Dropping the sender tells the accept loop and every connection to stop.
    _shutdown: watch::Sender<()>,
}

impl MockBedrock {
    /// Starts a mock on `127.0.0.1` with a free port, answering [`Reply::Echo`].
    pub async fn start() -> std::io::Result<MockBedrock> {
        MockBedrock::builder().start().await
    }

    /// A builder to choose the default reply, pacing and address.
    pub fn builder() -> MockBuilder {
        MockBuilder::default()
    }

    /// The address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for an SDK client, e.g. `http://127.0.0.1:40123` (`https://` when
    /// started with [`MockBuilder::tls`]): the value for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    pub fn endpoint_url(&self) -> String {
        let scheme = if self.certificate_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM of the self-signed certificate the mock presents when started with
    /// [`MockBuilder::tls`]: the certificate a client must trust, e.g. through a file named
    /// by `SSL_CERT_FILE`, which the SDK's default client reads.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// A Bedrock Runtime client pointed at this mock: region `us-east-1`, static test
    /// credentials, the latest behavior version.
    ///
    /// Retries are disabled, so each call is one request and every scripted error reaches
    /// the caller as it was sent. Each call builds a new client with its own connection
    /// pool: clone the client to share connections. Over [TLS](MockBuilder::tls) the client
    /// trusts the mock's certificate alone.
    pub fn client(&self) -> aws_sdk_bedrockruntime::Client {
        let credentials = Credentials::new(
            "AKIDBEDROCKSSEMOCK",
            "bedrock-sse-mock-secret-access-key",
            None,
            None,
            "bedrock-sse-mock",
        );
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(self.endpoint_url())
            .retry_config(RetryConfig::disabled());
        let config = match &self.certificate_pem {
            None => config,
            Some(pem) => config.http_client(trusting(pem)),
        };
        aws_sdk_bedrockruntime::Client::from_conf(config.build())
    }

    /// Every request received so far, in order, including those answered with an error.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many connections the mock has accepted: one per concurrent stream over HTTP/1.1,
    /// usually one in all over HTTP/2.
    pub fn connections_accepted(&self) -> usize {
        self.shared.counters.connections.load(Ordering::SeqCst)
    }

    /// How many event streams the mock has begun to send.
    pub fn streams_started(&self) -> usize {
        self.shared.counters.started.load(Ordering::SeqCst)
    }

    /// How many event streams the mock wrote to the end of their script.
    pub fn streams_completed(&self) -> usize {
        self.shared.counters.completed.load(Ordering::SeqCst)
    }

    /// How many event streams the client abandoned (closed the connection or dropped the
    /// body) before the end of their script.
    pub fn streams_abandoned(&self) -> usize {
        self.shared.counters.abandoned.load(Ordering::SeqCst)
    }

    /// How many event streams are still being sent (or stalled).
    pub fn streams_open(&self) -> usize {
        // Reading the ends first keeps the difference from going negative while streams start.
        let ended = self.streams_completed() + self.streams_abandoned();
        self.streams_started().saturating_sub(ended)
    }
}

impl std::fmt::Debug for MockBedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBedrock")
            .field("addr", &self.addr)
            .field("reply", &self.shared.reply)
            .field("pace", &self.shared.pace)
            .field("streams_started", &self.streams_started())
            .field("streams_completed", &self.streams_completed())
            .field("streams_abandoned", &self.streams_abandoned())
            .finish_non_exhaustive()
    }
}

impl Drop for MockBedrock {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// The SDK's default HTTPS client, trusting only the certificate `pem`.
fn trusting(pem: &str) -> SharedHttpClient {
    let trust_store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem.as_bytes());
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("a trust store of one certificate is a valid TLS context");
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context)
        .build_https()
}

/// Configures and starts a [`MockBedrock`].
///
/// ```
/// use std::time::Duration;
/// use bedrock_sse::mock::{MockBedrock, Reply};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mock = MockBedrock::builder()
///     .reply(Reply::Long { deltas: 100 })
///     .pace(Duration::from_millis(5))
///     .start()
///     .await?;
/// println!("100 paced deltas at {}", mock.endpoint_url());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MockBuilder {
    reply: Reply,
    pace: Duration,
    bind: SocketAddr,
    tls: bool,
    max_concurrent_streams: u32,
}

impl MockBuilder {
    /// The address the mock binds by default: `127.0.0.1`, any free port.
    pub const DEFAULT_BIND: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    /// The HTTP/2 streams one connection may carry at once by default: 200, hyper's default
    /// for a server.
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 200;

    /// The reply to requests that carry no [directive](self#directives); default
    /// [`Reply::Echo`].
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// The pause before each event after the first; default zero. A `pace=MS` directive
    /// overrides it for one request.
    pub fn pace(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }

    /// The address to listen on; default [`MockBuilder::DEFAULT_BIND`].
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Serve HTTPS, as Bedrock does, instead of plain HTTP; default off. The mock generates
    /// a self-signed certificate for `127.0.0.1` and `localhost`
    /// ([`certificate_pem`](MockBedrock::certificate_pem)) and offers ALPN `h2` then
    /// `http/1.1`, so the SDK's default client speaks HTTP/2 to it and sends all its
    /// concurrent streams over one connection, as it does to Bedrock.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Over HTTP/2, how many streams one connection may carry at once (the
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` the mock announces); default
    /// [`MockBuilder::DEFAULT_MAX_CONCURRENT_STREAMS`]. A client that wants more waits, or
    /// opens another connection.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<MockBedrock> {
        let tls = self.tls.then(Tls::generate).transpose()?;
        let listener = TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            reply: self.reply,
            pace: self.pace,
            max_concurrent_streams: self.max_concurrent_streams,
            requests: Mutex::new(Vec::new()),
            counters: Counters::default(),
            request_ids: AtomicU64::new(0),
        });
        let (shutdown, shutdown_signal) = watch::channel(());
        let (acceptor, certificate_pem) = match tls {
            Some(tls) => (Some(tls.acceptor), Some(tls.certificate_pem)),
            None => (None, None),
        };
        let accept_task = tokio::spawn(server::serve(
            listener,
            Arc::clone(&shared),
            acceptor,
            shutdown_signal,
        ));
        Ok(MockBedrock {
            addr,
            shared,
            certificate_pem,
            accept_task,
            _shutdown: shutdown,
        })
    }
}

impl Default for MockBuilder {
    fn default() -> Self {
        MockBuilder {
            reply: Reply::Echo,
            pace: Duration::ZERO,
            bind: MockBuilder::DEFAULT_BIND,
            tls: false,
            max_concurrent_streams: MockBuilder::DEFAULT_MAX_CONCURRENT_STREAMS,
        }
    }
}

/// A request the mock received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The model id from the path, percent-decoded (`global.anthropic...-v1:0`); empty when
    /// the request was not `POST /model/{modelId}/converse-stream`.
    pub model_id: String,
    /// The JSON body, or `Null` when the body was not JSON.
    pub body: serde_json::Value,
    /// The HTTP version the request came over: `HTTP/1.1`, or `HTTP/2.0` over
    /// [TLS](MockBuilder::tls) when the client negotiated it.
    pub http_version: String,
    /// The headers, names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the server tasks and the [`MockBedrock`] handle share.
#[derive(Debug)]
struct Shared {
    reply: Reply,
    pace: Duration,
    max_concurrent_streams: u32,
    requests: Mutex<Vec<RecordedRequest>>,
    counters: Counters,
    request_ids: AtomicU64,
}

impl Shared {
    fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    /// A request id in the shape of Bedrock's (a UUID).
    fn next_request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicUsize,
    started: AtomicUsize,
    completed: AtomicUsize,
    abandoned: AtomicUsize,
}

impl Counters {
    fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }

    fn stream_started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    fn stream_completed(&self) {
        self.completed.fetch_add(1, Ordering::SeqCst);
    }

    fn stream_abandoned(&self) {
        self.abandoned.fetch_add(1, Ordering::SeqCst);
    }
}
