//! Converse events in the shapes Bedrock sends, shared by the benchmarks.
#![allow(dead_code)]

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, ContentBlockStartEvent,
    ContentBlockStopEvent, ConversationRole, ConverseStreamMetadataEvent, ConverseStreamMetrics,
    ConverseStreamOutput, MessageStartEvent, MessageStopEvent, ReasoningContentBlockDelta,
    StopReason, TokenUsage, ToolUseBlockDelta, ToolUseBlockStart,
};

pub fn message_start() -> ConverseStreamOutput {
    ConverseStreamOutput::MessageStart(
        MessageStartEvent::builder()
            .role(ConversationRole::Assistant)
            .build()
            .expect("role is set"),
    )
}

pub fn delta(index: i32, delta: ContentBlockDelta) -> ConverseStreamOutput {
    ConverseStreamOutput::ContentBlockDelta(
        ContentBlockDeltaEvent::builder()
            .content_block_index(index)
            .delta(delta)
            .build()
            .expect("index and delta are set"),
    )
}

pub fn text(index: i32, text: &str) -> ConverseStreamOutput {
    delta(index, ContentBlockDelta::Text(text.to_owned()))
}

pub fn reasoning(index: i32, text: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(text.to_owned())),
    )
}

pub fn signature(index: i32, signature: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Signature(
            signature.to_owned(),
        )),
    )
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
                    .expect("id and name are set"),
            ))
            .build()
            .expect("index is set"),
    )
}

pub fn tool_input(index: i32, input: &str) -> ConverseStreamOutput {
    delta(
        index,
        ContentBlockDelta::ToolUse(
            ToolUseBlockDelta::builder()
                .input(input)
                .build()
                .expect("input is set"),
        ),
    )
}

pub fn block_stop(index: i32) -> ConverseStreamOutput {
    ConverseStreamOutput::ContentBlockStop(
        ContentBlockStopEvent::builder()
            .content_block_index(index)
            .build()
            .expect("index is set"),
    )
}

pub fn message_stop(reason: StopReason) -> ConverseStreamOutput {
    ConverseStreamOutput::MessageStop(
        MessageStopEvent::builder()
            .stop_reason(reason)
            .build()
            .expect("stop reason is set"),
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
                    .build()
                    .expect("token counts are set"),
            )
            .metrics(
                ConverseStreamMetrics::builder()
                    .latency_ms(412)
                    .build()
                    .expect("latency is set"),
            )
            .build(),
    )
}

/// Token-sized pieces of English as a model streams them: mostly a word and
/// its space, sometimes punctuation or a line break.
const WORDS: &[&str] = &[
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog",
    ".",
    " It",
    "'s",
    " a",
    " sentence",
    " that",
    " uses",
    " every",
    " letter",
    ",",
    " and",
    " models",
    " stream",
    " it",
    " piece",
    " by",
    " piece",
    ".\n\n",
    "- ",
    "item",
    ":",
    " résumé",
    " naïve",
    " 日本",
    "語",
    " 👋",
];

/// The text delta number `n` of a long reply.
pub fn word(n: usize) -> &'static str {
    WORDS[n % WORDS.len()]
}

/// A recorded-shape reply: a reasoning block (index 0) in 40 fragments and a
/// signature, `text_deltas` text deltas (index 1, no contentBlockStart, as
/// Bedrock sends text), two tool calls (indexes 2 and 3) whose input
/// fragments interleave, `messageStop` with `tool_use`, then `metadata`.
pub fn recorded_reply(text_deltas: usize) -> Vec<ConverseStreamOutput> {
    let mut events = vec![message_start()];
    for n in 0..40 {
        events.push(reasoning(0, word(n)));
    }
    events.push(signature(
        0,
        "RXF1aXZhbGVudCB0byBhIHJlYWwgc2lnbmF0dXJlLCByb3VnaGx5",
    ));
    events.push(block_stop(0));
    for n in 0..text_deltas {
        events.push(text(1, word(n)));
    }
    events.push(block_stop(1));
    events.push(tool_start(
        2,
        "tooluse_8mJvQyKkTNWa2ZaXx9bT1Q",
        "get_weather",
    ));
    events.push(tool_start(3, "tooluse_3nB1c0pRSdqXb7VZk2mF0w", "get_time"));
    let weather = ["{\"ci", "ty\": \"Pa", "ris\", \"unit", "s\": \"metric\"}"];
    let time = ["{\"time", "zone\": \"Europe/", "Paris\"}", ""];
    for (first, second) in weather.iter().zip(time) {
        events.push(tool_input(2, first));
        events.push(tool_input(3, second));
    }
    events.push(block_stop(2));
    events.push(block_stop(3));
    events.push(message_stop(StopReason::ToolUse));
    events.push(metadata(1_234, text_deltas as i32 + 60));
    events
}
