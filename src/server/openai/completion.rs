//! The non-streaming answer: one `chat.completion` object built from the same Converse
//! stream as the streaming one.
//!
//! [`Completion`] is a [`Dialect`] that writes nothing while the turn streams and the whole
//! object at its end, so the route gets the idle timeout, maximum duration, shutdown and
//! completion report of [`SseStream`](crate::SseStream) for free and just concatenates the
//! frames.

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
};
use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::dialect::{finish_reason, CompletionUsage};
use crate::{BlockKind, Dialect, Error, OpenAi, Turn};

/// Aggregates a turn into a `chat.completion`; an error is [`Error::to_json`].
#[derive(Debug)]
pub(crate) struct Completion {
    id: String,
    created: u64,
    model: String,
    text: String,
    reasoning: String,
    /// Tool calls by their position in the turn.
    calls: Vec<Call>,
}

#[derive(Debug)]
struct Call {
    ordinal: u32,
    id: String,
    name: String,
    arguments: String,
}

impl Completion {
    pub(crate) fn new(model: &str) -> Self {
        // The streaming dialect's id and clock, so both forms look alike.
        let stamp = OpenAi::new(model);
        Self {
            id: stamp.id().to_owned(),
            created: stamp.created(),
            model: model.to_owned(),
            text: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
        }
    }

    fn call(&mut self, ordinal: u32) -> &mut Call {
        let position = match self.calls.iter().position(|call| call.ordinal == ordinal) {
            Some(position) => position,
            None => {
                self.calls.push(Call {
                    ordinal,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        &mut self.calls[position]
    }
}

impl Dialect for Completion {
    fn event(&mut self, event: &ConverseStreamOutput, turn: &Turn, _out: &mut BytesMut) {
        match event {
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let (
                    Some(ContentBlockStart::ToolUse(tool)),
                    Some(BlockKind::ToolUse { ordinal }),
                ) = (&start.start, turn.block(start.content_block_index))
                {
                    let call = self.call(ordinal);
                    call.id.clone_from(&tool.tool_use_id);
                    call.name.clone_from(&tool.name);
                }
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => match &delta.delta {
                Some(ContentBlockDelta::Text(text)) => self.text.push_str(text),
                Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(
                    text,
                ))) => self.reasoning.push_str(text),
                Some(ContentBlockDelta::ToolUse(tool)) => {
                    if let Some(BlockKind::ToolUse { ordinal }) =
                        turn.block(delta.content_block_index)
                    {
                        self.call(ordinal).arguments.push_str(&tool.input);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn end(&mut self, turn: &Turn, out: &mut BytesMut) {
        self.calls.sort_by_key(|call| call.ordinal);
        let tool_calls: Vec<_> = self
            .calls
            .iter()
            .map(|call| ToolCall {
                id: &call.id,
                kind: "function",
                function: Function {
                    name: &call.name,
                    // OpenAI clients parse the arguments as JSON; no input is `{}`.
                    arguments: if call.arguments.is_empty() {
                        "{}"
                    } else {
                        &call.arguments
                    },
                },
            })
            .collect();
        let completion = ChatCompletion {
            id: &self.id,
            object: "chat.completion",
            created: self.created,
            model: &self.model,
            choices: [Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: (!self.text.is_empty() || tool_calls.is_empty())
                        .then_some(self.text.as_str()),
                    reasoning_content: (!self.reasoning.is_empty())
                        .then_some(self.reasoning.as_str()),
                    refusal: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                },
                logprobs: None,
                finish_reason: finish_reason(turn.stop_reason(), turn.has_tool_use()),
            }],
            usage: turn.usage().map(CompletionUsage::from),
        };
        // Serializing plain strings and numbers cannot fail.
        let _ = serde_json::to_writer(out.writer(), &completion);
    }

    fn error(&mut self, error: &Error, _turn: &Turn, out: &mut BytesMut) {
        out.extend_from_slice(error.to_json().as_bytes());
    }

    /// Nothing: the body is written at the end, all at once.
    fn heartbeat(&mut self, _out: &mut BytesMut) {}
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<CompletionUsage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::types::{
        ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent,
        ConverseStreamMetadataEvent, ConverseStreamMetrics, MessageStopEvent, StopReason,
        TokenUsage, ToolUseBlockDelta, ToolUseBlockStart,
    };
    use serde_json::{json, Value};

    use super::*;
    use crate::Encoder;

    fn text(index: i32, text: &str) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(ContentBlockDelta::Text(text.into()))
                .build()
                .unwrap(),
        )
    }

    fn tool_start(index: i32, id: &str, name: &str) -> ConverseStreamOutput {
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

    fn tool_input(index: i32, input: &str) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(ContentBlockDelta::ToolUse(
                    ToolUseBlockDelta::builder().input(input).build().unwrap(),
                ))
                .build()
                .unwrap(),
        )
    }

    fn stop(index: i32) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockStop(
            ContentBlockStopEvent::builder()
                .content_block_index(index)
                .build()
                .unwrap(),
        )
    }

    fn end(reason: StopReason) -> [ConverseStreamOutput; 2] {
        [
            ConverseStreamOutput::MessageStop(
                MessageStopEvent::builder()
                    .stop_reason(reason)
                    .build()
                    .unwrap(),
            ),
            ConverseStreamOutput::Metadata(
                ConverseStreamMetadataEvent::builder()
                    .usage(
                        TokenUsage::builder()
                            .input_tokens(3)
                            .output_tokens(4)
                            .total_tokens(7)
                            .build()
                            .unwrap(),
                    )
                    .metrics(
                        ConverseStreamMetrics::builder()
                            .latency_ms(5)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ),
        ]
    }

    fn run(events: impl IntoIterator<Item = ConverseStreamOutput>) -> Value {
        let mut encoder = Encoder::new(Completion::new("model-x"));
        let mut out = BytesMut::new();
        for event in events {
            encoder.push(&event, &mut out);
        }
        encoder.finish(&mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn text_and_tool_calls_aggregate() {
        let mut events = vec![
            text(0, "Let me "),
            text(0, "check."),
            stop(0),
            tool_start(1, "t1", "get_weather"),
            tool_start(2, "t2", "get_time"),
            tool_input(1, "{\"city\":"),
            tool_input(1, "\"Paris\"}"),
            stop(1),
            stop(2),
        ];
        events.extend(end(StopReason::ToolUse));
        let completion = run(events);
        assert_eq!(completion["object"], "chat.completion");
        assert_eq!(completion["model"], "model-x");
        let choice = &completion["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Let me check.");
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([
                {"id": "t1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "t2", "type": "function",
                 "function": {"name": "get_time", "arguments": "{}"}}
            ])
        );
        assert_eq!(
            completion["usage"],
            json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
        );
    }

    #[test]
    fn a_truncated_turn_is_the_error_body() {
        let body = run([text(0, "partial")]);
        assert_eq!(body["error"]["kind"], "truncated");
        assert_eq!(body["error"]["retryable"], true);
    }

    #[test]
    fn a_plain_reply_has_string_content_and_no_tool_calls() {
        let mut events = vec![text(0, "hi")];
        events.extend(end(StopReason::MaxTokens));
        let completion = run(events);
        let choice = &completion["choices"][0];
        assert_eq!(choice["finish_reason"], "length");
        assert_eq!(choice["message"]["content"], "hi");
        assert!(choice["message"].get("tool_calls").is_none());
    }
}
