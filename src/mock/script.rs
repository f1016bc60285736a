//! Scripted replies: what the mock sends for each [`Reply`], as a lazy sequence of steps.

use base64::Engine as _;
use serde_json::{json, Value};

/// What the mock answers to a `ConverseStream` request.
///
/// Set the default with [`MockBuilder::reply`](super::MockBuilder::reply); a request can pick
/// another one with a [directive](super#directives). Text deltas of every streaming reply
/// arrive at `contentBlockIndex` 0 without a `contentBlockStart`, as Bedrock sends them, and
/// complete replies end with `messageStop` then `metadata` (unless said otherwise) whose usage
/// counts whitespace-separated words: `inputTokens` in the request's system and message texts,
/// `outputTokens` in the reply, `totalTokens` their sum, both cache counts zero.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Repeats the text of the last user message, one word (with the whitespace that follows
    /// it) per delta, so the deltas concatenate to the input exactly. An empty text gives a
    /// reply with no content block.
    Echo,
    /// This text, in deltas of a few characters (split on `char` boundaries).
    Text(String),
    /// The deltas of [`Reply::UNICODE_DELTAS`]: Japanese, emoji with ZWJ sequences, CR, LF and
    /// CRLF (one CRLF split across two deltas), lines that start with `data:`, `:`, `event:`
    /// or `id:`, leading spaces and empty lines.
    Unicode,
    /// A text block (index 0), then two `toolUse` blocks whose deltas are interleaved:
    /// index 1 is [`Reply::TOOL_USE_ID`] / `get_weather` with input `{"city":"Paris"}` in three
    /// fragments, index 2 is [`Reply::SECOND_TOOL_USE_ID`] / `get_time` with one empty input
    /// fragment (so its input is `{}`). Stop reason `tool_use`.
    ToolUse,
    /// A reasoning block (index 0) of [`Reply::REASONING_TEXT`] in fragments then a signature
    /// delta ([`Reply::REASONING_SIGNATURE`]); a reasoning block (index 1) that starts with
    /// redacted content ([`Reply::REDACTED_REASONING`], base64 on the wire); a text block
    /// (index 2) of [`Reply::REASONING_ANSWER`]. Stop reason `end_turn`.
    Reasoning,
    /// A short text reply whose `metadata` event comes before `messageStop`.
    MetadataFirst,
    /// `deltas` text deltas `"tok0 "`, `"tok1 "`, …, produced lazily as they are sent.
    Long {
        /// How many text deltas to send.
        deltas: usize,
    },
    /// `deltas` text deltas that each carry the wall-clock time the mock sent it:
    /// `"t{microseconds since the Unix epoch} "`, e.g. `"t1764135600123456 "`. A client on
    /// the same host subtracts it from the time it reads the delta: the delta's latency
    /// through everything in between, whatever the processes.
    Clock {
        /// How many text deltas to send.
        deltas: usize,
    },
    /// `after` text deltas `"tok{i} "`, then nothing more: the connection stays open until the
    /// client leaves (counted in [`MockBedrock::streams_abandoned`](super::MockBedrock::streams_abandoned)).
    Stall {
        /// How many text deltas to send before stalling.
        after: usize,
    },
    /// An HTTP error before any stream: this status, `x-amzn-ErrorType: <error_type>:<namespace>`
    /// and the JSON body `{"message": message}`. A status outside 400–599 is sent as 500.
    HttpError {
        /// The HTTP status, e.g. 429.
        status: u16,
        /// The error shape, e.g. `ThrottlingException`.
        error_type: String,
        /// The error message.
        message: String,
    },
    /// `after` text deltas `"tok{i} "`, then an exception frame (`:message-type: exception`,
    /// `:exception-type: <exception>`, body `{"message": message}`, plus `originalStatusCode`
    /// and `originalMessage` for `modelStreamErrorException`), then the body ends.
    StreamError {
        /// How many text deltas to send before the exception.
        after: usize,
        /// The exception type as Bedrock spells it on the wire, e.g. `throttlingException`;
        /// any other string is an exception the SDK does not model.
        exception: String,
        /// The exception message.
        message: String,
    },
    /// `after` text deltas `"tok{i} "`, then the body breaks off: over HTTP/1.1 the TCP
    /// connection is closed without the final chunk of the chunked body, over HTTP/2 the
    /// stream is reset. Either way the SDK reports a transport error.
    Cut {
        /// How many text deltas to send before closing the connection.
        after: usize,
    },
    /// `after` text deltas `"tok{i} "`, then the body ends cleanly with no `contentBlockStop`,
    /// `messageStop` or `metadata`: a truncated upstream.
    EndWithoutStop {
        /// How many text deltas to send before ending the body.
        after: usize,
    },
}

impl Reply {
    /// The text deltas of [`Reply::Unicode`], in order.
    pub const UNICODE_DELTAS: &'static [&'static str] = &[
        "こんにちは、",
        "世界。日本語のテキストです。\n",
        " 👋🏽 family 👨‍👩‍👧‍👦, flag 🏳️‍🌈",
        " and coder 🧑🏿‍💻\n",
        "data: this line looks like an SSE field\n",
        ": and this one like an SSE comment\n",
        "event: fake\r",
        "id: 7\r\n",
        "   three leading spaces\n",
        "\n",
        "an empty line above; a CRLF split across two deltas\r",
        "\nafter the split",
        "\r\n",
        "\r\n",
        "data:",
        "no space after the colon\r\r\n",
        "末尾 🎌",
    ];
    /// The text of the first block of [`Reply::ToolUse`].
    pub const TOOL_USE_TEXT: &'static str = "Let me check the weather and the time.";
    /// The `toolUseId` of the `get_weather` call of [`Reply::ToolUse`] (block index 1).
    pub const TOOL_USE_ID: &'static str = "tooluse_mock_weather_01";
    /// The `toolUseId` of the `get_time` call of [`Reply::ToolUse`] (block index 2).
    pub const SECOND_TOOL_USE_ID: &'static str = "tooluse_mock_time_02";
    /// The reasoning text of [`Reply::Reasoning`] (block index 0).
    pub const REASONING_TEXT: &'static str = "The user asks a question. Let me think.";
    /// The signature that closes the first reasoning block of [`Reply::Reasoning`].
    pub const REASONING_SIGNATURE: &'static str = "bW9jay1zaWduYXR1cmU=";
    /// The redacted reasoning bytes of [`Reply::Reasoning`] (block index 1).
    pub const REDACTED_REASONING: &'static [u8] = b"\x00\x01redacted\xfe\xff";
    /// The answer text of [`Reply::Reasoning`] (block index 2).
    pub const REASONING_ANSWER: &'static str = "The answer is 42.";
    /// The text of [`Reply::MetadataFirst`].
    pub const METADATA_FIRST_TEXT: &'static str = "Usage comes first this time.";

    /// What to do for a request whose echo text is `echo_text` and whose prompt counts
    /// `input_tokens` words.
    pub(crate) fn plan(&self, echo_text: &str, input_tokens: u64) -> Plan {
        let script: Script = match self {
            Reply::Echo => {
                let deltas = word_chunks(echo_text);
                complete_text(deltas, words(echo_text), input_tokens, false)
            }
            Reply::Text(text) => {
                complete_text(char_chunks(text, 4), words(text), input_tokens, false)
            }
            Reply::Unicode => {
                let deltas: Vec<String> = Reply::UNICODE_DELTAS
                    .iter()
                    .map(|d| d.to_string())
                    .collect();
                let output = words(&Reply::UNICODE_DELTAS.concat());
                complete_text(deltas, output, input_tokens, false)
            }
            Reply::MetadataFirst => {
                let text = Reply::METADATA_FIRST_TEXT;
                complete_text(word_chunks(text), words(text), input_tokens, true)
            }
            Reply::ToolUse => tool_use(input_tokens),
            Reply::Reasoning => reasoning(input_tokens),
            Reply::Long { deltas } => lazy_text(numbered_deltas(*deltas), *deltas, input_tokens),
            Reply::Clock { deltas } => {
                let clock_deltas = (0..*deltas).map(|_| Step::Send(Message::ClockDelta));
                lazy_text(clock_deltas, *deltas, input_tokens)
            }
            Reply::Stall { after } => partial(*after, Step::Stall),
            Reply::Cut { after } => partial(*after, Step::Cut),
            Reply::EndWithoutStop { after } => {
                Box::new(std::iter::once(message_start()).chain(numbered_deltas(*after)))
            }
            Reply::StreamError {
                after,
                exception,
                message,
            } => partial(*after, exception_step(exception, message)),
            Reply::HttpError {
                status,
                error_type,
                message,
            } => {
                return Plan::HttpError {
                    status: *status,
                    error_type: error_type.clone(),
                    message: message.clone(),
                }
            }
        };
        Plan::Stream(script)
    }
}

/// How the mock answers one request.
pub(crate) enum Plan {
    /// An HTTP error response before any stream.
    HttpError {
        status: u16,
        error_type: String,
        message: String,
    },
    /// A 200 event-stream response that plays this script.
    Stream(Script),
}

/// The steps of a streaming reply, produced lazily so long replies are never held in memory.
pub(crate) type Script = Box<dyn Iterator<Item = Step> + Send>;

/// One step of a streaming reply.
pub(crate) enum Step {
    /// Send one event-stream message.
    Send(Message),
    /// Send nothing more, and keep the connection open until the client leaves.
    Stall,
    /// Close the connection without ending the chunked body.
    Cut,
}

/// An event-stream message, in the two `:message-type`s Bedrock sends.
pub(crate) enum Message {
    /// An event frame.
    Event {
        event_type: &'static str,
        payload: Value,
    },
    /// A text delta at index 0 of the wall-clock time it is sent, for [`Reply::Clock`].
    ClockDelta,
    /// The `metadata` event; its `latencyMs` is measured when it is sent.
    Metadata {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// An exception frame.
    Exception {
        exception_type: String,
        payload: Value,
    },
}

/// The payload of a `metadata` event.
pub(crate) fn metadata_payload(input_tokens: u64, output_tokens: u64, latency_ms: u64) -> Value {
    json!({
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 0,
        },
        "metrics": { "latencyMs": latency_ms },
    })
}

/// The number of whitespace-separated words, the mock's stand-in for tokens.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn complete_text(
    deltas: Vec<String>,
    output_tokens: u64,
    input_tokens: u64,
    metadata_first: bool,
) -> Script {
    let has_block = !deltas.is_empty();
    let ending = if metadata_first {
        [
            metadata(input_tokens, output_tokens),
            message_stop("end_turn"),
        ]
    } else {
        [
            message_stop("end_turn"),
            metadata(input_tokens, output_tokens),
        ]
    };
    Box::new(
        std::iter::once(message_start())
            .chain(deltas.into_iter().map(|delta| text_delta(0, delta)))
            .chain(has_block.then(|| block_stop(0)))
            .chain(ending),
    )
}

/// `after` numbered text deltas, then `last`.
/// A complete text reply of `count` deltas at index 0, produced as they are sent.
fn lazy_text(
    deltas: impl Iterator<Item = Step> + Send + 'static,
    count: usize,
    input_tokens: u64,
) -> Script {
    Box::new(
        std::iter::once(message_start())
            .chain(deltas)
            .chain((count > 0).then(|| block_stop(0)))
            .chain([
                message_stop("end_turn"),
                metadata(input_tokens, count as u64),
            ]),
    )
}

fn partial(after: usize, last: Step) -> Script {
    Box::new(
        std::iter::once(message_start())
            .chain(numbered_deltas(after))
            .chain(std::iter::once(last)),
    )
}

fn tool_use(input_tokens: u64) -> Script {
    let text_deltas = word_chunks(Reply::TOOL_USE_TEXT)
        .into_iter()
        .map(|delta| text_delta(0, delta));
    let tools = [
        block_stop(0),
        tool_start(1, Reply::TOOL_USE_ID, "get_weather"),
        tool_start(2, Reply::SECOND_TOOL_USE_ID, "get_time"),
        tool_delta(1, r#"{"ci"#),
        tool_delta(2, ""),
        tool_delta(1, r#"ty":"Pa"#),
        block_stop(2),
        tool_delta(1, r#"ris"}"#),
        block_stop(1),
        message_stop("tool_use"),
        metadata(input_tokens, words(Reply::TOOL_USE_TEXT) + 2),
    ];
    Box::new(
        std::iter::once(message_start())
            .chain(text_deltas)
            .chain(tools),
    )
}

fn reasoning(input_tokens: u64) -> Script {
    let reasoning_deltas = word_chunks(Reply::REASONING_TEXT)
        .into_iter()
        .map(|fragment| reasoning_delta(0, json!({ "text": fragment })));
    let redacted = base64::engine::general_purpose::STANDARD.encode(Reply::REDACTED_REASONING);
    let answer_deltas = word_chunks(Reply::REASONING_ANSWER)
        .into_iter()
        .map(|delta| text_delta(2, delta));
    let output_tokens = words(Reply::REASONING_TEXT) + words(Reply::REASONING_ANSWER);
    Box::new(
        std::iter::once(message_start())
            .chain(reasoning_deltas)
            .chain([
                reasoning_delta(0, json!({ "signature": Reply::REASONING_SIGNATURE })),
                block_stop(0),
                reasoning_delta(1, json!({ "redactedContent": redacted })),
                block_stop(1),
            ])
            .chain(answer_deltas)
            .chain([
                block_stop(2),
                message_stop("end_turn"),
                metadata(input_tokens, output_tokens),
            ]),
    )
}

fn event(event_type: &'static str, payload: Value) -> Step {
    Step::Send(Message::Event {
        event_type,
        payload,
    })
}

fn message_start() -> Step {
    event("messageStart", json!({ "role": "assistant" }))
}

fn text_delta(index: u32, text: String) -> Step {
    event(
        "contentBlockDelta",
        json!({ "contentBlockIndex": index, "delta": { "text": text } }),
    )
}

/// The payload of a [`Message::ClockDelta`] sent now.
pub(crate) fn clock_delta_payload() -> Value {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    json!({ "contentBlockIndex": 0, "delta": { "text": format!("t{micros} ") } })
}

fn numbered_deltas(count: usize) -> impl Iterator<Item = Step> + Send {
    (0..count).map(|i| text_delta(0, format!("tok{i} ")))
}

fn tool_start(index: u32, tool_use_id: &str, name: &str) -> Step {
    event(
        "contentBlockStart",
        json!({
            "contentBlockIndex": index,
            "start": { "toolUse": { "toolUseId": tool_use_id, "name": name } },
        }),
    )
}

fn tool_delta(index: u32, input: &str) -> Step {
    event(
        "contentBlockDelta",
        json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": input } } }),
    )
}

fn reasoning_delta(index: u32, reasoning: Value) -> Step {
    event(
        "contentBlockDelta",
        json!({ "contentBlockIndex": index, "delta": { "reasoningContent": reasoning } }),
    )
}

fn block_stop(index: u32) -> Step {
    event("contentBlockStop", json!({ "contentBlockIndex": index }))
}

fn message_stop(stop_reason: &str) -> Step {
    event("messageStop", json!({ "stopReason": stop_reason }))
}

fn metadata(input_tokens: u64, output_tokens: u64) -> Step {
    Step::Send(Message::Metadata {
        input_tokens,
        output_tokens,
    })
}

fn exception_step(exception: &str, message: &str) -> Step {
    let payload = if exception == "modelStreamErrorException" {
        json!({
            "message": message,
            "originalStatusCode": 500,
            "originalMessage": "the model stopped unexpectedly",
        })
    } else {
        json!({ "message": message })
    };
    Step::Send(Message::Exception {
        exception_type: exception.to_owned(),
        payload,
    })
}

/// Splits after each run of whitespace, so every chunk is a word and the whitespace that
/// follows it, and the chunks concatenate back to `text`.
fn word_chunks(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut chunk_has_word = false;
    let mut previous_was_space = false;
    for (at, c) in text.char_indices() {
        let is_space = c.is_whitespace();
        if previous_was_space && !is_space && chunk_has_word {
            chunks.push(text[start..at].to_owned());
            start = at;
        }
        chunk_has_word |= !is_space;
        previous_was_space = is_space;
    }
    if start < text.len() {
        chunks.push(text[start..].to_owned());
    }
    chunks
}

/// Splits into chunks of `size` chars.
fn char_chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|chunk| chunk.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_chunks_keep_all_whitespace() {
        let text = "  Hello big\u{3000}world\r\n\nend ";
        let chunks = word_chunks(text);
        assert_eq!(chunks, ["  Hello ", "big\u{3000}", "world\r\n\n", "end "]);
        assert_eq!(chunks.concat(), text);
        assert!(word_chunks("").is_empty());
    }

    #[test]
    fn char_chunks_split_on_char_boundaries() {
        let text = "日本語👨‍👩‍👧 ok";
        let chunks = char_chunks(text, 4);
        assert_eq!(chunks.concat(), text);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 4));
    }

    #[test]
    fn the_unicode_preset_splits_a_crlf_across_two_deltas() {
        let deltas = Reply::UNICODE_DELTAS;
        assert!(deltas
            .windows(2)
            .any(|pair| pair[0].ends_with('\r') && pair[1].starts_with('\n')));
    }
}
