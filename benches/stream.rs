//! A whole recorded-shape reply through `SseStream`, per dialect, from an
//! in-memory event stream: the cost per frame once the network is taken out.
//!
//! The reply is [`common::recorded_reply`] with 2,000 text deltas: reasoning,
//! the text, two interleaved tool calls, `messageStop` and `metadata`, about
//! 2,060 events. Cloning the events for each run happens outside the timing.

mod common;

use std::hint::black_box;
use std::time::Duration;

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bedrock_sse::{Bedrock, Dialect, Error, OpenAi, SseStream, Text};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::StreamExt;

const TEXT_DELTAS: usize = 2_000;

fn upstream(
    events: Vec<ConverseStreamOutput>,
) -> impl futures::Stream<Item = Result<ConverseStreamOutput, Error>> {
    futures::stream::iter(events.into_iter().map(Ok))
}

/// Frames and bytes of one run, to state the throughput per frame and per byte.
fn measure<D: Dialect>(
    runtime: &tokio::runtime::Runtime,
    events: &[ConverseStreamOutput],
    dialect: D,
) -> (u64, u64) {
    runtime.block_on(async {
        let mut stream = SseStream::new(upstream(events.to_vec()), dialect);
        let (mut frames, mut bytes) = (0, 0);
        while let Some(Ok(frame)) = stream.next().await {
            frames += 1;
            bytes += frame.len() as u64;
        }
        (frames, bytes)
    })
}

fn bench_dialect<D: Dialect + Clone>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    events: &[ConverseStreamOutput],
    name: &str,
    dialect: D,
) {
    let (frames, bytes) = measure(runtime, events, dialect.clone());
    let mut group = c.benchmark_group("stream/recorded_reply");
    group.throughput(Throughput::ElementsAndBytes {
        elements: frames,
        bytes,
    });
    group.bench_function(name, |b| {
        b.to_async(runtime).iter_batched(
            || (events.to_vec(), dialect.clone()),
            |(events, dialect)| async move {
                let mut stream = SseStream::new(upstream(events), dialect);
                while let Some(Ok(frame)) = stream.next().await {
                    black_box(frame);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    println!("stream/recorded_reply/{name}: {frames} frames, {bytes} bytes per run");
}

fn stream(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    let events = common::recorded_reply(TEXT_DELTAS);
    bench_dialect(
        c,
        &runtime,
        &events,
        "text",
        Text::new().with_reasoning(true),
    );
    bench_dialect(c, &runtime, &events, "bedrock", Bedrock::new());
    bench_dialect(
        c,
        &runtime,
        &events,
        "openai",
        OpenAi::new("anthropic.claude-sonnet-4-5").with_created(1_764_000_000),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = stream
}
criterion_main!(benches);
