//! Chunk latency as a user sees it: from the mock Bedrock handing an
//! event-stream frame to the network to the client reading the matching SSE
//! event, through the real SDK, the crate, an axum server and a reqwest
//! client over loopback TCP. One process, one clock.
//!
//! A small TCP relay sits between the SDK and the mock and stamps every text
//! delta (`tok{n} `) the moment its bytes arrive from the mock; the client
//! stamps the same delta when it reads it. Three paths, in the same run:
//!
//! * `floor`: the client reads the deltas straight from the SDK, no server;
//! * `bedrock_sse`: an axum route answering with `SseStream` (text dialect);
//! * `naive_axum`: an axum route mapping SDK deltas to `sse::Event`s by hand.
//!
//! The mock paces deltas 1 ms apart (tokio's timer makes that 1 to 2 ms),
//! so every delta travels alone, as with a real model. One criterion
//! iteration is one chunk and its time is that chunk's latency, so criterion
//! reports the mean latency per chunk; the p50, p90, p99 and maximum over
//! every chunk measured, warm-up included, are printed after each path.
//! Criterion plans iterations from the wall time of its warm-up (about 2 ms
//! per chunk here), so `measurement_time` is roughly the wall time per path.
//! Should it ask for more, a sample measures at most [`CHUNKS_PER_SAMPLE`]
//! chunks and scales their mean to the iterations asked for.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, Message,
};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use bedrock_sse::mock::MockBedrock;
use bedrock_sse::{events, SseStream, Text};
use criterion::{criterion_group, criterion_main, Criterion};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The mock's pause between deltas.
const PACE_MS: u64 = 1;
/// Deltas per upstream request; longer runs are several requests.
const DELTAS_PER_STREAM: usize = 200;
/// The most chunks one criterion sample waits for (`PACE_MS` each).
const CHUNKS_PER_SAMPLE: u64 = 1_000;
/// Rounds of one stream per path after the criterion groups.
const INTERLEAVED_ROUNDS: usize = 10;
const MODEL_ID: &str = "anthropic.claude-sonnet-4-5";

/// When the relay received each delta of the current stream, by its number.
#[derive(Default)]
struct Stamps(Mutex<Vec<Option<Instant>>>);

impl Stamps {
    fn reset(&self) {
        let mut stamps = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        stamps.clear();
        stamps.resize(DELTAS_PER_STREAM, None);
    }

    fn stamp(&self, token: usize, at: Instant) {
        let mut stamps = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot @ None) = stamps.get_mut(token) {
            *slot = Some(at);
        }
    }

    fn sent(&self, token: usize) -> Option<Instant> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)[token]
    }
}

/// The numbers of the `tok{n} ` deltas in `bytes`.
fn tokens(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .windows(3)
        .enumerate()
        .filter_map(move |(at, window)| {
            if window != b"tok" {
                return None;
            }
            let digits = &bytes[at + 3..];
            let length = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            if length == 0 || digits.get(length) != Some(&b' ') {
                return None;
            }
            std::str::from_utf8(&digits[..length]).ok()?.parse().ok()
        })
}

/// Forwards TCP connections to `upstream`, stamping the deltas it carries
/// back from the mock.
async fn relay(listener: TcpListener, upstream: SocketAddr, stamps: Arc<Stamps>) {
    while let Ok((client, _)) = listener.accept().await {
        let stamps = Arc::clone(&stamps);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                let _ = server_write.shutdown().await;
            });
            let mut buffer = vec![0; 64 * 1024];
            // The end of the previous read, for a delta split across two.
            let mut carry = Vec::new();
            loop {
                let read = match server_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                let at = Instant::now();
                carry.extend_from_slice(&buffer[..read]);
                for token in tokens(&carry) {
                    stamps.stamp(token, at);
                }
                carry.drain(..carry.len().saturating_sub(16));
                if client_write.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
        });
    }
}

fn sdk_client(endpoint: SocketAddr) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "bench"))
        .endpoint_url(format!("http://{endpoint}"))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

async fn converse(
    client: &aws_sdk_bedrockruntime::Client,
    deltas: usize,
) -> aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput {
    let prompt = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(format!(
            "[mock:long {deltas} pace={PACE_MS}]"
        )))
        .build()
        .expect("role and content are set");
    client
        .converse_stream()
        .model_id(MODEL_ID)
        .messages(prompt)
        .send()
        .await
        .expect("the mock answers")
}

#[derive(serde::Deserialize)]
struct Deltas {
    n: usize,
}

/// Our path: the whole route is `SseStream` over the SDK's events.
async fn ours(
    State(client): State<aws_sdk_bedrockruntime::Client>,
    Query(Deltas { n }): Query<Deltas>,
) -> Response {
    let output = converse(&client, n).await;
    let body = SseStream::new(events(output.stream), Text::new());
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// What one writes by hand with axum alone: text deltas as `Event`s.
async fn naive(
    State(client): State<aws_sdk_bedrockruntime::Client>,
    Query(Deltas { n }): Query<Deltas>,
) -> Response {
    let output = converse(&client, n).await;
    let deltas = futures::stream::unfold(output.stream, |mut receiver| async move {
        match receiver.recv().await {
            Ok(Some(event)) => Some((event, receiver)),
            _ => None,
        }
    })
    .filter_map(|event| async move {
        match event {
            ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
                Some(ContentBlockDelta::Text(text)) => {
                    Some(Ok::<_, Infallible>(Event::default().data(text)))
                }
                _ => None,
            },
            _ => None,
        }
    });
    Sse::new(deltas).into_response()
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Floor,
    Ours,
    Naive,
}

impl Path {
    const ALL: [Path; 3] = [Path::Floor, Path::Ours, Path::Naive];

    fn name(self) -> &'static str {
        match self {
            Path::Floor => "floor",
            Path::Ours => "bedrock_sse",
            Path::Naive => "naive_axum",
        }
    }
}

struct Harness {
    _mock: MockBedrock,
    stamps: Arc<Stamps>,
    sdk: aws_sdk_bedrockruntime::Client,
    http: reqwest::Client,
    server: SocketAddr,
    latencies: Mutex<Vec<Duration>>,
}

impl Harness {
    async fn start() -> Harness {
        let mock = MockBedrock::builder()
            .start()
            .await
            .expect("the mock starts");
        let stamps = Arc::new(Stamps::default());
        let relay_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let relay_addr = relay_listener.local_addr().expect("bound");
        tokio::spawn(relay(relay_listener, mock.addr(), Arc::clone(&stamps)));
        let sdk = sdk_client(relay_addr);

        let app = Router::new()
            .route("/ours", get(ours))
            .route("/naive", get(naive))
            .with_state(sdk.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = listener.local_addr().expect("bound");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });

        Harness {
            _mock: mock,
            stamps,
            sdk,
            http: reqwest::Client::new(),
            server,
            latencies: Mutex::new(Vec::new()),
        }
    }

    /// Runs streams on `path` until `chunks` deltas have arrived; returns
    /// the sum of their latencies.
    async fn measure(&self, path: Path, chunks: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut measured = Vec::with_capacity(chunks as usize);
        let mut remaining = chunks as usize;
        while remaining > 0 {
            let deltas = remaining.min(DELTAS_PER_STREAM);
            self.stamps.reset();
            let arrivals = match path {
                Path::Floor => self.floor(deltas).await,
                Path::Ours => self.through_server("ours", deltas).await,
                Path::Naive => self.through_server("naive", deltas).await,
            };
            assert_eq!(arrivals.len(), deltas, "{path:?} lost deltas");
            for (token, arrived) in arrivals {
                let sent = self.stamps.sent(token).expect("the relay saw the delta");
                let latency = arrived.saturating_duration_since(sent);
                total += latency;
                measured.push(latency);
            }
            remaining -= deltas;
        }
        self.latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(measured);
        total
    }

    async fn floor(&self, deltas: usize) -> Vec<(usize, Instant)> {
        let mut output = converse(&self.sdk, deltas).await;
        let mut arrivals = Vec::with_capacity(deltas);
        while let Some(event) = output.stream.recv().await.expect("the stream is whole") {
            let at = Instant::now();
            if let ConverseStreamOutput::ContentBlockDelta(delta) = event {
                if let Some(ContentBlockDelta::Text(text)) = delta.delta {
                    arrivals.extend(tokens(text.as_bytes()).map(|token| (token, at)));
                }
            }
        }
        arrivals
    }

    async fn through_server(&self, route: &str, deltas: usize) -> Vec<(usize, Instant)> {
        let url = format!("http://{}/{route}?n={deltas}", self.server);
        let response = self.http.get(url).send().await.expect("the server answers");
        let mut body = response.bytes_stream();
        let mut arrivals = Vec::with_capacity(deltas);
        let mut pending = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("the body is whole");
            let at = Instant::now();
            pending.extend_from_slice(&chunk);
            // Only whole lines: a delta split across two reads counts when
            // its line is complete.
            if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                arrivals.extend(tokens(&pending[..=end]).map(|token| (token, at)));
                pending.drain(..=end);
            }
        }
        arrivals
    }

    fn take_latencies(&self) -> Vec<Duration> {
        std::mem::take(
            &mut *self
                .latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn report(&self, path: Path) {
        print_quantiles(path, self.take_latencies());
    }
}

fn print_quantiles(path: Path, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    println!(
        "end_to_end/{:<12} chunks {:>6}  p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        path.name(),
        latencies.len(),
        quantile(0.50),
        quantile(0.90),
        quantile(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
}

fn end_to_end(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime builds");
    let harness = runtime.block_on(Harness::start());
    let mut group = c.benchmark_group("end_to_end/chunk_latency");
    for path in Path::ALL {
        group.bench_function(path.name(), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let harness = &harness;
                async move {
                    let chunks = iters.min(CHUNKS_PER_SAMPLE);
                    let total = harness.measure(path, chunks).await;
                    total.mul_f64(iters as f64 / chunks as f64)
                }
            })
        });
        harness.report(path);
    }
    group.finish();

    // The paths one stream after another, so that a busy machine slows them
    // alike: the figures to compare.
    println!(
        "end_to_end, interleaved: {INTERLEAVED_ROUNDS} rounds of {DELTAS_PER_STREAM} deltas per path"
    );
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    runtime.block_on(async {
        for _ in 0..INTERLEAVED_ROUNDS {
            for (index, path) in Path::ALL.into_iter().enumerate() {
                harness.measure(path, DELTAS_PER_STREAM as u64).await;
                latencies[index].append(&mut harness.take_latencies());
            }
        }
    });
    for (path, latencies) in Path::ALL.into_iter().zip(latencies) {
        print_quantiles(path, latencies);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    targets = end_to_end
}
criterion_main!(benches);
