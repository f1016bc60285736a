//! Encoding one text delta into SSE bytes, per dialect, beside axum's own
//! `sse::Event` for the same text.
//!
//! Ours: [`Encoder::push`] into a reused `BytesMut`, then `split().freeze()`
//! into the `Bytes` an HTTP body sends, exactly what `SseStream` does per
//! frame. axum's `Event::finalize` is private, so its reference builds
//! `Event::default().data(text)` and takes the bytes from an `Sse` response
//! body: one extra poll through a boxed body per frame, which is the only way
//! a handler ever gets those bytes.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use axum::response::IntoResponse;
use bedrock_sse::{Bedrock, Dialect, Encoder, OpenAi, Text};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::{Stream, StreamExt};

const TWENTY_BYTES: &str = "The quick brown fox ";
const MULTI_LINE: &str = "First line,\nsecond line,\r\nthird after a CRLF\n\nand a last one.";

fn inputs() -> Vec<(&'static str, String)> {
    let kibibyte: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(1024)
        .collect();
    vec![
        ("3B", "Hi!".to_owned()),
        ("20B", TWENTY_BYTES.to_owned()),
        ("1KiB", kibibyte),
        ("multi-line", MULTI_LINE.to_owned()),
    ]
}

/// A primed encoder: the first delta of a turn carries extras in some
/// dialects (OpenAI's `role`), so the measured frames are the steady state.
fn encoder<D: Dialect>(dialect: D) -> (Encoder<D>, BytesMut) {
    let mut encoder = Encoder::new(dialect);
    let mut out = BytesMut::with_capacity(4096);
    encoder.push(&common::message_start(), &mut out);
    encoder.push(&common::text(0, "primer"), &mut out);
    out.clear();
    (encoder, out)
}

fn bench_ours<D: Dialect>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    dialect: D,
    text: &str,
) {
    let event = common::text(0, text);
    let (mut encoder, mut out) = encoder(dialect);
    group.bench_function(name, |b| {
        b.iter(|| {
            encoder.push(black_box(&event), &mut out);
            let frame: Bytes = out.split().freeze();
            black_box(frame)
        })
    });
}

fn axum_frames(text: String) -> impl Stream<Item = Result<Bytes, axum::Error>> + Unpin {
    let events = futures::stream::repeat_with(move || {
        Ok::<_, Infallible>(Event::default().data(black_box(text.as_str())))
    });
    Sse::new(events)
        .into_response()
        .into_body()
        .into_data_stream()
}

fn frame(c: &mut Criterion) {
    for (label, text) in inputs() {
        let mut group = c.benchmark_group(format!("frame/{label}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        bench_ours(&mut group, "text", Text::new(), &text);
        bench_ours(&mut group, "bedrock", Bedrock::new(), &text);
        bench_ours(
            &mut group,
            "openai",
            OpenAi::new("anthropic.claude-sonnet-4-5").with_created(1_764_000_000),
            &text,
        );

        let mut frames = axum_frames(text.clone());
        let mut context = Context::from_waker(Waker::noop());
        group.bench_function("axum_event", |b| {
            b.iter(|| match frames.poll_next_unpin(&mut context) {
                Poll::Ready(Some(Ok(frame))) => black_box(frame),
                _ => unreachable!("the event stream is endless and never waits"),
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = frame
}
criterion_main!(benches);
