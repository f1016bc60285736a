//! Opens many concurrent paced streams against a running server and reports
//! what each client saw, and what the server spent.
//!
//! ```text
//! cargo run --release --features server --example axum-server -- --mock --port 8080 &
//! cargo run --release --features server --example load -- \
//!     --url http://127.0.0.1:8080 --streams 1000 --deltas 200 --pace-ms 20 \
//!     --server-pid "$(pgrep -n -f 'examples/axum-server')"
//! ```
//!
//! Every stream is `POST /stream?format=text` with the prompt
//! `[mock:clock N pace=MS]`, so the server's mock Bedrock sends `N` text deltas
//! `MS` apart, each carrying the wall-clock time the mock sent it. For each
//! stream the tool records the time to the first byte of the body and to the
//! first delta, the gap between consecutive deltas, and each delta's latency
//! from the mock to the tool (the mock runs on the same host, so both read the
//! same clock); a
//! stream fails when it does not answer 200, errors, times out, or does not
//! end with `event: done` after exactly `N` deltas. Given the server's pid, it
//! samples `/proc/PID/status` (VmRSS, VmHWM) every 50 ms and reads the
//! server's CPU time (`/proc/PID/stat` utime + stime) before and after.
//!
//! The tool runs on the same machine as the server and competes with it for
//! the CPUs: its own CPU time is reported too.
//!
//! `load naive-server --port 8081` is instead the reference to compare with:
//! the relay one writes by hand with axum alone (`POST /stream` with
//! `{"message": ...}`, text deltas mapped to `sse::Event`s, `event: done` at
//! `messageStop`), calling Bedrock through the standard AWS configuration,
//! e.g. `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` pointing at `mock-bedrock`.
//!
//! To load the server in the shape it has against Bedrock, HTTPS and HTTP/2
//! upstream, run `mock-bedrock --tls /tmp/mock.pem` and give the server (and
//! `load --floor` or `load naive-server`) `SSL_CERT_FILE=/tmp/mock.pem` and an
//! `https://` endpoint; BENCHMARKS.md has the commands.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures::StreamExt;

#[derive(Debug, Parser)]
#[command(about = "Concurrent paced SSE streams against a bedrock-sse server")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// How many streams to hold open at once.
    #[arg(long, default_value_t = 100)]
    streams: usize,
    /// Text deltas per stream.
    #[arg(long, default_value_t = 200)]
    deltas: usize,
    /// The mock's pause between deltas, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pace_ms: u64,
    /// Spread the stream starts evenly over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    ramp_ms: u64,
    /// The server's process id, to report its memory and CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Measure the floor instead: read the same replies straight from
    /// Bedrock (or the mock: `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) with the SDK,
    /// no server in between. `--url` is then unused.
    #[arg(long)]
    floor: bool,
    /// Give up on a stream after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the hand-written axum relay to compare with, instead of loading.
    NaiveServer {
        /// The port to listen on, on 127.0.0.1.
        #[arg(long, default_value_t = 8081)]
        port: u16,
    },
}

/// What one client saw.
#[derive(Debug, Default)]
struct StreamReport {
    failure: Option<String>,
    first_byte: Option<Duration>,
    first_delta: Option<Duration>,
    /// Microseconds between consecutive deltas.
    gaps: Vec<u32>,
    /// Microseconds from the mock sending each delta to the tool reading it.
    latencies: Vec<u32>,
    deltas: usize,
    last_delta: Option<Instant>,
}

impl StreamReport {
    /// Records a delta of `text` read at `at` (`wall` on the system clock), of a stream
    /// requested at `started`.
    fn delta(&mut self, text: &[u8], started: Instant, at: Instant, wall: SystemTime) {
        self.deltas += 1;
        self.latencies.extend(latency(text, wall));
        match self.last_delta {
            None => self.first_delta = Some(at - started),
            Some(last) => self
                .gaps
                .push(u32::try_from((at - last).as_micros()).unwrap_or(u32::MAX)),
        }
        self.last_delta = Some(at);
    }

    /// A stream that ended early, or without its end marker, failed.
    fn require_complete(&mut self, done: bool, expected: usize) {
        let deltas = self.deltas;
        if self.failure.is_none() && (!done || deltas != expected) {
            self.failure = Some(format!(
                "ended after {deltas} of {expected} deltas, done: {done}"
            ));
        }
    }
}

/// Streams whose body has started and not yet ended.
#[derive(Debug, Default)]
struct Open {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Open {
    fn opened(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn closed(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn one_stream(client: reqwest::Client, args: Arc<Args>, open: Arc<Open>) -> StreamReport {
    let mut report = StreamReport::default();
    let url = format!("{}/stream?format=text", args.url.trim_end_matches('/'));
    let prompt = format!("[mock:clock {} pace={}]", args.deltas, args.pace_ms);
    let started = Instant::now();
    let response = match client
        .post(url)
        .json(&serde_json::json!({ "message": prompt }))
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) => {
            report.failure = Some(format!("request: {error}"));
            return report;
        }
    };
    if !response.status().is_success() {
        report.failure = Some(format!("status {}", response.status()));
        return report;
    }
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut done = false;
    let mut opened = false;
    while let Some(chunk) = body.next().await {
        let at = Instant::now();
        let wall = SystemTime::now();
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                report.failure = Some(format!("body: {error}"));
                break;
            }
        };
        if !opened {
            opened = true;
            open.opened();
            report.first_byte = Some(at - started);
        }
        pending.extend_from_slice(&chunk);
        while let Some(end) = find(&pending, b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            if event.starts_with(b":") {
                continue;
            }
            if event.starts_with(b"event: done") {
                done = true;
            } else if event.starts_with(b"event: error") {
                report.failure = Some(String::from_utf8_lossy(&event).trim().to_owned());
            } else if let Some(text) = event.strip_prefix(b"data: ") {
                report.delta(text, started, at, wall);
            }
        }
    }
    if opened {
        open.closed();
    }
    report.require_complete(done, args.deltas);
    report
}

/// The same stream read straight from the SDK: the floor.
async fn one_floor_stream(
    client: aws_sdk_bedrockruntime::Client,
    args: Arc<Args>,
    open: Arc<Open>,
) -> StreamReport {
    use aws_sdk_bedrockruntime::types::{
        ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, Message,
    };

    let mut report = StreamReport::default();
    let prompt = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(format!(
            "[mock:clock {} pace={}]",
            args.deltas, args.pace_ms
        )))
        .build()
        .expect("role and content are set");
    let started = Instant::now();
    let mut output = match client
        .converse_stream()
        .model_id(naive::MODEL_ID)
        .messages(prompt)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error) => {
            report.failure = Some(format!("request: {error}"));
            return report;
        }
    };
    report.first_byte = Some(started.elapsed());
    open.opened();
    let mut done = false;
    loop {
        let event = match output.stream.recv().await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(error) => {
                report.failure = Some(format!("stream: {error}"));
                break;
            }
        };
        let (at, wall) = (Instant::now(), SystemTime::now());
        match event {
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                if let Some(ContentBlockDelta::Text(text)) = &delta.delta {
                    report.delta(text.as_bytes(), started, at, wall);
                }
            }
            ConverseStreamOutput::MessageStop(_) => done = true,
            _ => {}
        }
    }
    open.closed();
    report.require_complete(done, args.deltas);
    report
}

/// The microseconds from the time stamped in a `[mock:clock]` delta (`t{µs since the
/// epoch} `) to `read`; `None` for any other text.
fn latency(text: &[u8], read: SystemTime) -> Option<u32> {
    let digits = text.strip_prefix(b"t")?;
    let end = digits.iter().position(|byte| !byte.is_ascii_digit())?;
    let sent: u64 = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
    let read = read.duration_since(UNIX_EPOCH).ok()?.as_micros();
    u32::try_from(read.saturating_sub(u128::from(sent))).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Raises this process's open-file limit as far as it goes, for one socket
/// per stream.
fn raise_file_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur >= wanted {
            return limit.rlim_cur;
        }
        // Raising the hard limit needs privilege; fall back to the hard limit.
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted.max(limit.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return wanted;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            return limit.rlim_cur;
        }
        0
    }
}

/// A process's memory and CPU time, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
struct ProcessSample {
    rss_kib: u64,
    hwm_kib: u64,
    cpu: Duration,
}

fn sample(pid: u32) -> Option<ProcessSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100);
    Some(ProcessSample {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        cpu: Duration::from_micros(ticks * 1_000_000 / ticks_per_second),
    })
}

fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

fn sorted_micros(durations: impl Iterator<Item = Duration>) -> Vec<u32> {
    let mut micros: Vec<u32> = durations
        .map(|duration| u32::try_from(duration.as_micros()).unwrap_or(u32::MAX))
        .collect();
    micros.sort_unstable();
    micros
}

fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime builds");
    if let Some(Command::NaiveServer { port }) = args.command {
        raise_file_limit(1 << 20);
        return runtime.block_on(naive::serve(port));
    }
    let file_limit = raise_file_limit(args.streams as u64 + 1024);
    runtime.block_on(run(args, file_limit))
}

/// The relay one writes with axum alone, to compare with.
mod naive {
    use std::convert::Infallible;
    use std::process::ExitCode;

    use aws_sdk_bedrockruntime::types::{
        ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, Message,
    };
    use aws_sdk_bedrockruntime::Client;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::sse::{Event, Sse};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::serve::ListenerExt;
    use axum::{Json, Router};
    use futures::StreamExt;

    pub(super) const MODEL_ID: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

    #[derive(serde::Deserialize)]
    struct Prompt {
        message: String,
    }

    pub(super) async fn serve(port: u16) -> ExitCode {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let app = Router::new()
            .route("/stream", post(stream))
            .with_state(Client::new(&config));
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            Err(error) => {
                eprintln!("cannot listen on 127.0.0.1:{port}: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("naive axum relay listening on 127.0.0.1:{port}");
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        }
    }

    async fn stream(State(client): State<Client>, Json(prompt): Json<Prompt>) -> Response {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.message))
            .build()
            .expect("role and content are set");
        let output = match client
            .converse_stream()
            .model_id(MODEL_ID)
            .messages(message)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
        };
        let events = futures::stream::unfold(output.stream, |mut receiver| async move {
            match receiver.recv().await {
                Ok(Some(event)) => Some((event, receiver)),
                _ => None,
            }
        })
        .filter_map(|event| async move {
            let event = match event {
                ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
                    Some(ContentBlockDelta::Text(text)) => Event::default().data(text),
                    _ => return None,
                },
                ConverseStreamOutput::MessageStop(stop) => Event::default().event("done").data(
                    format!(r#"{{"stopReason":"{}"}}"#, stop.stop_reason.as_str()),
                ),
                _ => return None,
            };
            Some(Ok::<_, Infallible>(event))
        });
        Sse::new(events).into_response()
    }
}

async fn run(args: Arc<Args>, file_limit: u64) -> std::process::ExitCode {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .build()
        .expect("a client builds");
    let sdk = if args.floor {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Some(aws_sdk_bedrockruntime::Client::new(&config))
    } else {
        None
    };
    let open = Arc::new(Open::default());
    let before = args.server_pid.and_then(sample);
    let own_before = sample(std::process::id());

    // Peak RSS, and the RSS when the most streams were open.
    let monitor = args.server_pid.map(|pid| {
        let open = Arc::clone(&open);
        tokio::spawn(async move {
            let (mut peak_rss, mut most_open, mut rss_at_most_open) = (0, 0, 0);
            let mut ticker = tokio::time::interval(Duration::from_millis(50));
            loop {
                ticker.tick().await;
                let Some(now) = sample(pid) else { break };
                let streams = open.now.load(Ordering::SeqCst);
                peak_rss = peak_rss.max(now.rss_kib);
                if streams >= most_open {
                    most_open = streams;
                    rss_at_most_open = rss_at_most_open.max(now.rss_kib);
                }
                if open.peak.load(Ordering::SeqCst) > 0 && streams == 0 {
                    break;
                }
            }
            (peak_rss, most_open, rss_at_most_open)
        })
    });

    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout_secs);
    let step =
        Duration::from_millis(args.ramp_ms) / u32::try_from(args.streams.max(1)).unwrap_or(1);
    let mut tasks = Vec::with_capacity(args.streams);
    for index in 0..args.streams {
        let (client, args, open) = (client.clone(), Arc::clone(&args), Arc::clone(&open));
        let sdk = sdk.clone();
        let start_at = tokio::time::Instant::from_std(started) + step * index as u32;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start_at).await;
            let report = async {
                match sdk {
                    Some(sdk) => one_floor_stream(sdk, args, open).await,
                    None => one_stream(client, args, open).await,
                }
            };
            match tokio::time::timeout(timeout, report).await {
                Ok(report) => report,
                Err(_) => StreamReport {
                    failure: Some("timed out".to_owned()),
                    ..StreamReport::default()
                },
            }
        }));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        reports.push(task.await.unwrap_or_else(|error| StreamReport {
            failure: Some(format!("task: {error}")),
            ..StreamReport::default()
        }));
    }
    let elapsed = started.elapsed();
    let after = args.server_pid.and_then(sample);
    let own_after = sample(std::process::id());
    let memory = match monitor {
        Some(monitor) => monitor.await.ok(),
        None => None,
    };

    let failures: Vec<&str> = reports
        .iter()
        .filter_map(|report| report.failure.as_deref())
        .collect();
    let first_bytes = sorted_micros(reports.iter().filter_map(|report| report.first_byte));
    let first_deltas = sorted_micros(reports.iter().filter_map(|report| report.first_delta));
    let mut gaps: Vec<u32> = reports
        .iter()
        .flat_map(|report| report.gaps.iter().copied())
        .collect();
    gaps.sort_unstable();
    let chunks = gaps.len() + first_deltas.len();
    let mut latencies: Vec<u32> = reports
        .iter()
        .flat_map(|report| report.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();

    println!(
        "streams {}  deltas {}  pace {} ms  ramp {} ms  file limit {}",
        args.streams, args.deltas, args.pace_ms, args.ramp_ms, file_limit
    );
    println!(
        "wall {:.1} s  streams ok {}  failed {}  most open at once {}  deltas received {}",
        elapsed.as_secs_f64(),
        reports.len() - failures.len(),
        failures.len(),
        open.peak.load(Ordering::SeqCst),
        chunks
    );
    let row = |name: &str, sorted: &[u32]| {
        println!(
            "{name:<18} p50 {:>9.3} ms  p90 {:>9.3} ms  p99 {:>9.3} ms  max {:>9.3} ms",
            quantile(sorted, 0.5),
            quantile(sorted, 0.9),
            quantile(sorted, 0.99),
            quantile(sorted, 1.0),
        );
    };
    row("first byte", &first_bytes);
    row("first delta", &first_deltas);
    row("inter-delta gap", &gaps);
    row("delta latency", &latencies);
    if let (Some(before), Some(after)) = (before, after) {
        let cpu = after.cpu.saturating_sub(before.cpu);
        println!(
            "server cpu {:.2} s  per chunk {:.1} µs  (clock-tick resolution, {} chunks)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / chunks.max(1) as f64,
            chunks
        );
        println!(
            "server rss before {} KiB  VmHWM after {} KiB",
            before.rss_kib, after.hwm_kib
        );
        if let Some((peak_rss, most_open, rss_at_most_open)) = memory {
            let per_stream =
                rss_at_most_open.saturating_sub(before.rss_kib) as f64 / most_open.max(1) as f64;
            println!(
                "server peak rss {peak_rss} KiB  rss with {most_open} streams open {rss_at_most_open} KiB  \
                 growth per open stream {per_stream:.1} KiB"
            );
        }
    }
    if let (Some(before), Some(after)) = (own_before, own_after) {
        println!(
            "load tool cpu {:.2} s  peak rss {} KiB",
            after.cpu.saturating_sub(before.cpu).as_secs_f64(),
            after.hwm_kib
        );
    }
    if !failures.is_empty() {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for failure in &failures {
            match kinds.iter_mut().find(|(kind, _)| kind == failure) {
                Some((_, count)) => *count += 1,
                None => kinds.push((failure, 1)),
            }
        }
        for (kind, count) in kinds.iter().take(10) {
            println!("failure x{count}: {kind}");
        }
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
