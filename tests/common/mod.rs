//! Fixtures: Converse events in the shapes Bedrock sends, and a parser for
//! the SSE bytes we produce that is not ours (eventsource-stream).
#![allow(dead_code)]

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, ContentBlockStartEvent,
    ContentBlockStopEvent, ConversationRole, ConverseStreamMetadataEvent, ConverseStreamMetrics,
    ConverseStreamOutput, MessageStartEvent, MessageStopEvent, ReasoningContentBlockDelta,
    StopReason, TokenUsage, ToolUseBlockDelta, ToolUseBlockStart,
};
use bedrock_sse::{Dialect, Encoder, Error};
use bytes::BytesMut;
use futures::StreamExt;

pub fn message_start() -> ConverseStreamOutput {
    ConverseStreamOutput::MessageStart(
        MessageStartEvent::builder()
            .role(ConversationRole::Assistant)
            .build()
            .unwrap(),
    )
}

pub fn delta(index: i32, delta: ContentBlockDelta) -> ConverseStreamOutput {
    ConverseStreamOutput::ContentBlockDelta(
        ContentBlockDeltaEvent::builder()
            .content_block_index(index)
            .delta(delta)
            .build()
            .unwrap(),
    )
}

pub fn text(index: i32, text: &str) -> ConverseStreamOutput {
    delta(index, ContentBlockDelta::Text(text.to_owned()))
}

pub fn tool_start(index: i32, id: &str, name: &str) -> ConverseStreamOutput {
    ConverseStreamOutput::ContentBlockStart(
        ContentBlockStartEvent::builder()
            .content_block_index(index)
            .start(ContentBlockStart::ToolUse(
                ToolUseBlockStart::builder()
                    .tool_use_id(id)
                    .name(name)
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
    )
}

pub fn tool_input(index: i32, input: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ToolUse(ToolUseBlockDelta::builder().input(input).build().unwrap()),
    )
}

pub fn reasoning_text(index: i32, text: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(text.to_owned())),
    )
}

pub fn reasoning_signature(index: i32, signature: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Signature(
            signature.to_owned(),
        )),
    )
}

pub fn redacted(index: i32, bytes: &[u8]) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::RedactedContent(
            Blob::new(bytes),
        )),
    )
}

pub fn block_stop(index: i32) -> ConverseStreamOutput {
    ConverseStreamOutput::ContentBlockStop(
        ContentBlockStopEvent::builder()
            .content_block_index(index)
            .build()
            .unwrap(),
    )
}

pub fn message_stop(reason: StopReason) -> ConverseStreamOutput {
    ConverseStreamOutput::MessageStop(
        MessageStopEvent::builder()
            .stop_reason(reason)
            .build()
            .unwrap(),
    )
}

pub fn metadata(input: i32, output: i32) -> ConverseStreamOutput {
    ConverseStreamOutput::Metadata(
        ConverseStreamMetadataEvent::builder()
            .usage(
                TokenUsage::builder()
                    .input_tokens(input)
                    .output_tokens(output)
                    .total_tokens(input + output)
                    .cache_read_input_tokens(3)
                    .build()
                    .unwrap(),
            )
            .metrics(
                ConverseStreamMetrics::builder()
                    .latency_ms(250)
                    .build()
                    .unwrap(),
            )
            .build(),
    )
}

/// A plain text reply as Bedrock sends it: no contentBlockStart for text.
pub fn text_reply(pieces: &[&str]) -> Vec<ConverseStreamOutput> {
    let mut events = vec![message_start()];
    events.extend(pieces.iter().map(|piece| text(0, piece)));
    events.push(block_stop(0));
    events.push(message_stop(StopReason::EndTurn));
    events.push(metadata(10, pieces.len() as i32));
    events
}

/// A reply with some text and two tool calls whose input deltas interleave.
pub fn tool_reply() -> Vec<ConverseStreamOutput> {
    vec![
        message_start(),
        text(0, "Let me check."),
        block_stop(0),
        tool_start(1, "tooluse_weather", "get_weather"),
        tool_start(2, "tooluse_time", "get_time"),
        tool_input(1, "{\"ci"),
        tool_input(2, ""),
        tool_input(1, "ty\": \"Par"),
        tool_input(1, "is\"}"),
        block_stop(1),
        block_stop(2),
        message_stop(StopReason::ToolUse),
        metadata(20, 15),
    ]
}

/// Runs events through an encoder; `end` says how the upstream ended.
pub fn encode<D: Dialect>(dialect: D, events: &[ConverseStreamOutput], end: End) -> String {
    let mut encoder = Encoder::new(dialect);
    let mut out = BytesMut::new();
    for event in events {
        encoder.push(event, &mut out);
    }
    match end {
        End::Finish => encoder.finish(&mut out),
        End::Fail(error) => encoder.fail(&error, &mut out),
    }
    String::from_utf8(out.to_vec()).expect("frames are UTF-8")
}

pub enum End {
    Finish,
    Fail(Error),
}

/// An event as an independent SSE parser sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event: String,
    pub data: String,
}

/// Parses SSE text with eventsource-stream, which implements the WHATWG rules.
pub fn parse(sse: &str) -> Vec<Parsed> {
    let chunks = vec![Ok::<_, std::convert::Infallible>(bytes::Bytes::from(
        sse.to_owned(),
    ))];
    futures::executor::block_on(
        eventsource_stream::EventStream::new(futures::stream::iter(chunks))
            .map(|event| {
                let event = event.expect("valid SSE");
                Parsed {
                    event: event.event,
                    data: event.data,
                }
            })
            .collect(),
    )
}

/// Parses SSE bytes split into arbitrary chunks.
pub fn parse_chunks(chunks: Vec<bytes::Bytes>) -> Vec<Parsed> {
    futures::executor::block_on(
        eventsource_stream::EventStream::new(futures::stream::iter(
            chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
        ))
        .map(|event| {
            let event = event.expect("valid SSE");
            Parsed {
                event: event.event,
                data: event.data,
            }
        })
        .collect(),
    )
}

pub fn json(data: &str) -> serde_json::Value {
    serde_json::from_str(data).unwrap_or_else(|error| panic!("not JSON ({error}): {data}"))
}
