//! The `openai` dialect: OpenAI `chat.completion.chunk` objects.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
    StopReason,
};
use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::{frame, BlockKind, Dialect, Error, ErrorKind, Turn, Usage};

/// OpenAI's streaming Chat Completions format, for OpenAI SDKs and tools.
///
/// Every frame is `data: <chat.completion.chunk>` with a stable `id` and
/// `created` for the stream and the configured `model`:
///
/// * the first chunk carries `delta.role: "assistant"`;
/// * text deltas become `delta.content`, reasoning text
///   `delta.reasoning_content`;
/// * tool use becomes `delta.tool_calls`: the first fragment of a call has its
///   `index` (the call's position in the turn, several calls kept apart by
///   Converse's `contentBlockIndex`), `id`, `type: "function"` and
///   `function.name`; later fragments carry `function.arguments` pieces;
/// * the last choice chunk has an empty delta and `finish_reason`: `stop`
///   (end_turn, stop_sequence), `length` (max_tokens), `tool_calls`
///   (tool_use, and end_turn when the turn called tools) or
///   `content_filter` (content_filtered, guardrail_intervened);
/// * with [`include_usage`](OpenAi::include_usage), every chunk has
///   `"usage": null` and one more chunk with `"choices": []` carries the usage;
/// * `data: [DONE]` ends the stream.
///
/// An error is one `data: {"error": {...}}` frame and no `[DONE]`. No frame
/// has an `id:` or `event:` line, and heartbeats are SSE comments, which
/// OpenAI's SDKs skip.
#[derive(Debug, Clone)]
pub struct OpenAi {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    role_sent: bool,
    /// Tool calls seen so far: ordinal, and whether any arguments were sent.
    tool_calls: Vec<(u32, bool)>,
    /// The bytes around `delta.content` in a text chunk, made once per stream.
    content_frame: Option<(Vec<u8>, Vec<u8>)>,
}

impl OpenAi {
    /// The dialect for a completion by `model`, with a fresh `chatcmpl-` id and
    /// the current time as `created`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            id: new_id(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            model: model.into(),
            include_usage: false,
            role_sent: false,
            tool_calls: Vec::new(),
            content_frame: None,
        }
    }

    /// Sends the usage chunk, as OpenAI does for
    /// `stream_options: {"include_usage": true}`.
    #[must_use]
    pub fn include_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }

    /// Uses this completion id instead of a generated one.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Uses this `created` time (Unix seconds) instead of the current time.
    #[must_use]
    pub fn with_created(mut self, created: u64) -> Self {
        self.created = created;
        self
    }

    /// The completion id shared by every chunk.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `created` time shared by every chunk.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The model name written in every chunk.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn chunk(&mut self, out: &mut BytesMut, mut delta: Delta<'_>, finish_reason: Option<&str>) {
        if !self.role_sent {
            self.role_sent = true;
            delta.role = Some("assistant");
        }
        let choice = [Choice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        }];
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: &choice,
            usage: self.include_usage.then_some(None),
        };
        frame::json_data(out, &chunk);
        frame::end(out);
    }

    /// A text chunk, by far the most frequent: everything but the text is the
    /// same in every one, so it is serialized once and copied after that.
    /// The bytes are those [`chunk`](Self::chunk) writes.
    fn content_chunk(&mut self, out: &mut BytesMut, text: &str) {
        if self.content_frame.is_none() {
            let mut template = BytesMut::new();
            let delta = Delta {
                content: Some(""),
                ..Delta::default()
            };
            self.chunk(&mut template, delta, None);
            // Inside JSON strings quotes are escaped, so the last unescaped
            // `"content":""` is the delta's own.
            let marker = b"\"content\":\"\"";
            let Some(at) = template
                .windows(marker.len())
                .rposition(|window| window == marker)
            else {
                out.extend_from_slice(&template);
                return;
            };
            let prefix = template[..at + marker.len() - 2].to_vec();
            let suffix = template[at + marker.len()..].to_vec();
            self.content_frame = Some((prefix, suffix));
        }
        if let Some((prefix, suffix)) = &self.content_frame {
            out.extend_from_slice(prefix);
            // A string always serializes.
            let _ = serde_json::to_writer(BufMut::writer(&mut *out), text);
            out.extend_from_slice(suffix);
        }
    }

    fn tool_call<'a>(&mut self, out: &mut BytesMut, call: ToolCall<'a>) {
        let calls = [call];
        let delta = Delta {
            tool_calls: Some(&calls),
            ..Delta::default()
        };
        self.chunk(out, delta, None);
    }
}

impl Dialect for OpenAi {
    fn event(&mut self, event: &ConverseStreamOutput, turn: &Turn, out: &mut BytesMut) {
        match event {
            ConverseStreamOutput::MessageStart(_) if !self.role_sent => {
                let delta = Delta {
                    content: Some(""),
                    ..Delta::default()
                };
                self.chunk(out, delta, None);
            }
            ConverseStreamOutput::ContentBlockStart(start) => {
                let (Some(ContentBlockStart::ToolUse(tool)), Some(BlockKind::ToolUse { ordinal })) =
                    (&start.start, turn.block(start.content_block_index))
                else {
                    return;
                };
                self.tool_calls.push((ordinal, false));
                self.tool_call(
                    out,
                    ToolCall {
                        index: ordinal,
                        id: Some(&tool.tool_use_id),
                        kind: Some("function"),
                        function: Function {
                            name: Some(&tool.name),
                            arguments: "",
                        },
                    },
                );
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => match &delta.delta {
                Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                    if self.role_sent {
                        self.content_chunk(out, text);
                    } else {
                        let delta = Delta {
                            content: Some(text),
                            ..Delta::default()
                        };
                        self.chunk(out, delta, None);
                    }
                }
                Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(
                    text,
                ))) if !text.is_empty() => {
                    let delta = Delta {
                        reasoning_content: Some(text),
                        ..Delta::default()
                    };
                    self.chunk(out, delta, None);
                }
                Some(ContentBlockDelta::ToolUse(tool)) => {
                    let Some(BlockKind::ToolUse { ordinal }) =
                        turn.block(delta.content_block_index)
                    else {
                        return;
                    };
                    // A fragment for a call whose start never came still has to
                    // carry the call's type, as OpenAI's first fragment does.
                    let has_arguments = !tool.input.is_empty();
                    let known = self
                        .tool_calls
                        .iter_mut()
                        .find(|(known, _)| *known == ordinal);
                    let first = known.is_none();
                    match known {
                        Some(_) if !has_arguments => return,
                        Some(call) => call.1 = true,
                        None => self.tool_calls.push((ordinal, has_arguments)),
                    }
                    self.tool_call(
                        out,
                        ToolCall {
                            index: ordinal,
                            id: None,
                            kind: first.then_some("function"),
                            function: Function {
                                name: None,
                                arguments: &tool.input,
                            },
                        },
                    );
                }
                _ => {}
            },
            ConverseStreamOutput::ContentBlockStop(stop) => {
                // A tool called with no input gets no input fragments from
                // Bedrock; OpenAI clients parse the joined arguments as JSON,
                // so the empty object is spelled out.
                let Some(BlockKind::ToolUse { ordinal }) = turn.block(stop.content_block_index)
                else {
                    return;
                };
                let Some(call) = self
                    .tool_calls
                    .iter_mut()
                    .find(|(known, _)| *known == ordinal)
                else {
                    return;
                };
                if !call.1 {
                    call.1 = true;
                    self.tool_call(
                        out,
                        ToolCall {
                            index: ordinal,
                            id: None,
                            kind: None,
                            function: Function {
                                name: None,
                                arguments: "{}",
                            },
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, turn: &Turn, out: &mut BytesMut) {
        let reason = finish_reason(turn.stop_reason(), turn.has_tool_use());
        self.chunk(out, Delta::default(), Some(reason));
        if self.include_usage {
            let usage = turn.usage().map(CompletionUsage::from);
            let chunk = Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: &[],
                usage: Some(usage),
            };
            frame::json_data(out, &chunk);
            frame::end(out);
        }
        frame::data_line(out, "[DONE]");
        frame::end(out);
    }

    fn error(&mut self, error: &Error, _turn: &Turn, out: &mut BytesMut) {
        let body = ErrorBody {
            error: ErrorObject {
                message: error.message(),
                kind: openai_error_type(error.kind()),
                param: None,
                code: error.kind().as_str(),
                status: error.status(),
                retryable: error.is_retryable(),
            },
        };
        frame::json_data(out, &body);
        frame::end(out);
    }
}

/// OpenAI's `finish_reason` for a Bedrock stop reason.
///
/// ```
/// use aws_sdk_bedrockruntime::types::StopReason;
/// use bedrock_sse::dialect::finish_reason;
///
/// assert_eq!(finish_reason(Some(&StopReason::MaxTokens), false), "length");
/// assert_eq!(finish_reason(Some(&StopReason::EndTurn), true), "tool_calls");
/// ```
pub fn finish_reason(stop_reason: Option<&StopReason>, used_tools: bool) -> &'static str {
    match stop_reason {
        Some(StopReason::MaxTokens | StopReason::ModelContextWindowExceeded) => "length",
        Some(StopReason::ContentFiltered | StopReason::GuardrailIntervened) => "content_filter",
        Some(StopReason::ToolUse) => "tool_calls",
        _ if used_tools => "tool_calls",
        _ => "stop",
    }
}

/// OpenAI's error `type` for an [`ErrorKind`].
fn openai_error_type(kind: ErrorKind) -> &'static str {
    match kind.status() {
        429 => "rate_limit_error",
        403 => "permission_error",
        404 => "not_found_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn new_id() -> String {
    format!("chatcmpl-{}", crate::id::unique_hex())
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<CompletionUsage>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a [ToolCall<'a>]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// OpenAI's `usage` object, for streamed and whole completions alike.
#[derive(Serialize)]
pub(crate) struct CompletionUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Serialize)]
struct PromptTokensDetails {
    cached_tokens: u64,
}

impl From<&Usage> for CompletionUsage {
    fn from(usage: &Usage) -> Self {
        Self {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens,
            prompt_tokens_details: usage
                .cache_read_input_tokens
                .map(|cached_tokens| PromptTokensDetails { cached_tokens }),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: &'static str,
    status: u16,
    retryable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copied frame of a text chunk is byte for byte the serialized one.
    #[test]
    fn content_chunks_match_the_serialized_form() {
        for include_usage in [false, true] {
            let mut fast = OpenAi::new("model \"content\":\"\" x").include_usage(include_usage);
            let mut slow = fast.clone();
            fast.role_sent = true;
            slow.role_sent = true;
            for text in [
                "hi",
                "\"content\":\"\"",
                "line\nbreak\r\u{0}",
                "日本 👩‍👩‍👧",
                " ",
            ] {
                let mut expected = BytesMut::new();
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                slow.chunk(&mut expected, delta, None);
                let mut actual = BytesMut::new();
                fast.content_chunk(&mut actual, text);
                assert_eq!(actual, expected, "{text:?}");
            }
        }
    }
}
