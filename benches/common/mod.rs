//! Recorded-shape replies for the benchmarks, built from the tests' fixtures
//! of Converse events.
#![allow(dead_code)]

use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, StopReason};

#[path = "../../tests/common/mod.rs"]
mod fixtures;

pub use fixtures::{
    block_stop, message_start, message_stop, metadata, reasoning_signature as signature,
    reasoning_text as reasoning, text, tool_input, tool_start,
};

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
