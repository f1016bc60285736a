//! The stream adapter: heartbeats, limits, shutdown, cancellation and the
//! completion summary, on paused Tokio time (no real waiting).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bedrock_sse::{Error, ErrorKind, Options, Outcome, SseStream, Summary, Text};
use bytes::Bytes;
use common::*;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

type Upstream = mpsc::UnboundedSender<Result<ConverseStreamOutput, Error>>;

fn channel() -> (
    Upstream,
    mpsc::UnboundedReceiver<Result<ConverseStreamOutput, Error>>,
) {
    mpsc::unbounded()
}

fn collect_summary() -> (
    Arc<Mutex<Vec<Summary>>>,
    impl FnOnce(Summary) + Send + 'static,
) {
    let summaries = Arc::new(Mutex::new(Vec::new()));
    let sink = summaries.clone();
    (summaries, move |summary| sink.lock().unwrap().push(summary))
}

async fn next_frame(
    stream: &mut (impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Unpin),
) -> String {
    let frame = stream.next().await.expect("a frame").unwrap();
    String::from_utf8(frame.to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn heartbeats_fill_quiet_time_and_each_frame_resets_them() {
    let (tx, rx) = channel();
    let options = Options::new()
        .heartbeat(Some(Duration::from_secs(15)))
        .idle_timeout(None);
    let mut stream = SseStream::new(rx, Text::new()).options(options);

    let start = Instant::now();
    assert_eq!(next_frame(&mut stream).await, ": keep-alive\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(15));

    tokio::time::sleep(Duration::from_secs(10)).await;
    tx.unbounded_send(Ok(text(0, "hi"))).unwrap();
    assert_eq!(next_frame(&mut stream).await, "data: hi\n\n");
    let after_text = Instant::now();
    assert_eq!(next_frame(&mut stream).await, ": keep-alive\n\n");
    assert_eq!(after_text.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn the_opening_comment_comes_first() {
    let (_tx, rx) = channel();
    let mut stream =
        SseStream::new(rx, Text::new()).options(Options::new().opening_comment(Some("ok")));
    assert_eq!(next_frame(&mut stream).await, ": ok\n\n");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_upstream_times_out_with_one_error_frame() {
    let (tx, rx) = channel();
    let (summaries, callback) = collect_summary();
    let options = Options::new()
        .heartbeat(Some(Duration::from_secs(15)))
        .idle_timeout(Some(Duration::from_secs(40)));
    let mut stream = SseStream::new(rx, Text::new())
        .options(options)
        .on_complete(callback);
    tx.unbounded_send(Ok(text(0, "hi"))).unwrap();
    assert_eq!(next_frame(&mut stream).await, "data: hi\n\n");
    assert_eq!(next_frame(&mut stream).await, ": keep-alive\n\n");
    assert_eq!(next_frame(&mut stream).await, ": keep-alive\n\n");
    let error = next_frame(&mut stream).await;
    assert!(error.starts_with("event: error\n"), "{error}");
    assert!(error.contains("\"kind\":\"idle_timeout\""));
    assert!(stream.next().await.is_none());
    let summaries = summaries.lock().unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        summaries[0].outcome,
        Outcome::TimedOut(ErrorKind::IdleTimeout)
    );
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_do_not_keep_a_stream_past_its_maximum_duration() {
    let (tx, rx) = channel();
    let options = Options::new()
        .heartbeat(Some(Duration::from_secs(15)))
        .idle_timeout(None)
        .max_duration(Some(Duration::from_secs(60)));
    let start = Instant::now();
    let frames: Vec<_> = SseStream::new(rx, Text::new())
        .options(options)
        .map(|frame| String::from_utf8(frame.unwrap().to_vec()).unwrap())
        .collect()
        .await;
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert_eq!(frames.iter().filter(|f| f.starts_with(':')).count(), 3);
    assert!(frames.last().unwrap().contains("\"kind\":\"max_duration\""));
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_signal_ends_the_stream_with_a_retryable_frame() {
    let (tx, rx) = channel();
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stream = SseStream::new(rx, Text::new()).shutdown_on(async move {
        let _ = signal_rx.await;
    });
    tx.unbounded_send(Ok(text(0, "partial"))).unwrap();
    assert_eq!(next_frame(&mut stream).await, "data: partial\n\n");
    signal_tx.send(()).unwrap();
    let frame = next_frame(&mut stream).await;
    let parsed = parse(&frame);
    let body = json(&parsed[0].data);
    assert_eq!(body["error"]["kind"], "shutting_down");
    assert_eq!(body["error"]["retryable"], true);
    assert!(stream.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_upstream_error_is_one_frame_then_the_end() {
    let (tx, rx) = channel();
    let (summaries, callback) = collect_summary();
    let mut stream = SseStream::new(rx, Text::new()).on_complete(callback);
    tx.unbounded_send(Ok(text(0, "a"))).unwrap();
    tx.unbounded_send(Err(Error::new(ErrorKind::Throttling, "slow")))
        .unwrap();
    tx.unbounded_send(Ok(text(0, "never"))).unwrap();
    assert_eq!(next_frame(&mut stream).await, "data: a\n\n");
    assert!(next_frame(&mut stream)
        .await
        .contains("\"kind\":\"throttling\""));
    assert!(stream.next().await.is_none());
    assert!(stream.next().await.is_none());
    assert_eq!(
        summaries.lock().unwrap()[0].outcome,
        Outcome::Failed(ErrorKind::Throttling)
    );
}

#[tokio::test(start_paused = true)]
async fn the_summary_reports_usage_frames_and_first_token() {
    let (summaries, callback) = collect_summary();
    let events = text_reply(&["one", "two"]);
    let upstream =
        futures::stream::iter(events.into_iter().map(Ok::<_, Error>)).then(|event| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            event
        });
    let frames: Vec<_> = SseStream::new(Box::pin(upstream), Text::new())
        .on_complete(callback)
        .collect()
        .await;
    let bytes: usize = frames.iter().map(|f| f.as_ref().unwrap().len()).sum();
    let summaries = summaries.lock().unwrap();
    let summary = &summaries[0];
    assert_eq!(summary.outcome, Outcome::Completed);
    assert_eq!(summary.stop_reason.as_deref(), Some("end_turn"));
    let usage = summary.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (10, 2, 12)
    );
    assert_eq!(usage.cache_read_input_tokens, Some(3));
    assert_eq!(summary.latency_ms, Some(250));
    assert_eq!(summary.frames, 3);
    assert_eq!(summary.bytes, bytes as u64);
    // messageStart at 100 ms, the first text delta at 200 ms.
    assert_eq!(
        summary.time_to_first_token,
        Some(Duration::from_millis(200))
    );
    assert_eq!(summary.duration, Duration::from_millis(600));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_reports_cancelled_and_drops_the_upstream() {
    let (tx, rx) = channel();
    let (summaries, callback) = collect_summary();
    let mut stream = SseStream::new(rx, Text::new()).on_complete(callback);
    tx.unbounded_send(Ok(text(0, "a"))).unwrap();
    next_frame(&mut stream).await;
    drop(stream);
    assert!(tx.is_closed(), "the upstream receiver was dropped");
    assert_eq!(summaries.lock().unwrap()[0].outcome, Outcome::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn unknown_events_are_skipped_and_counted() {
    let (summaries, callback) = collect_summary();
    let mut events = text_reply(&["a"]);
    // A delta of a kind the SDK could not name arrives without its union value.
    let unnamed = aws_sdk_bedrockruntime::types::ContentBlockDeltaEvent::builder()
        .content_block_index(0)
        .build()
        .unwrap();
    events.insert(1, ConverseStreamOutput::ContentBlockDelta(unnamed));
    let frames: Vec<_> = SseStream::new(
        futures::stream::iter(events.into_iter().map(Ok::<_, Error>)),
        Text::new(),
    )
    .on_complete(callback)
    .collect()
    .await;
    assert_eq!(frames.len(), 2);
    assert_eq!(summaries.lock().unwrap()[0].skipped_events, 1);
}

#[tokio::test(start_paused = true)]
async fn times_count_from_the_given_start() {
    let (summaries, callback) = collect_summary();
    let request_arrived = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = text_reply(&["one"]);
    let frames: Vec<_> = SseStream::new(
        futures::stream::iter(events.into_iter().map(Ok::<_, Error>)),
        Text::new(),
    )
    .started_at(request_arrived)
    .on_complete(callback)
    .collect()
    .await;
    assert_eq!(frames.len(), 2);
    let summaries = summaries.lock().unwrap();
    assert_eq!(
        summaries[0].time_to_first_token,
        Some(Duration::from_millis(300))
    );
}
