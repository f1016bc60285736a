//! The `text` dialect: each text delta is one SSE event whose data is the text.

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ConverseStreamOutput, ReasoningContentBlockDelta,
};
use bytes::BytesMut;
use serde::Serialize;

use crate::frame::{self, TextLines};
use crate::{Dialect, Error, Turn, Usage};

/// Plain text for `EventSource` and `curl`: one unnamed event per text delta.
///
/// * A text delta becomes `data: <text>`, split into several `data:` lines
///   at every line break, so a WHATWG client's `event.data` is exactly the
///   delta — except that CR and CRLF arrive as LF, as SSE itself prescribes. A
///   CRLF split across two deltas is still one line break. Empty deltas send
///   nothing.
/// * Reasoning text, when [enabled](Text::with_reasoning), becomes
///   `event: reasoning` events in the same way.
/// * Tool calls are not spelled in this dialect (use [`Bedrock`](crate::Bedrock)
///   or [`OpenAi`](crate::OpenAi)); the final stop reason says `tool_use`.
/// * The end of a completed turn is `event: done` with
///   `{"stopReason":...,"usage":{...}}`; an error is `event: error` with
///   [`Error::to_json`].
///
/// ```text
/// data: Hello
///
/// data: , world
/// data: second line
///
/// event: done
/// data: {"stopReason":"end_turn","usage":{"inputTokens":9,"outputTokens":5,"totalTokens":14}}
/// ```
#[derive(Debug, Default, Clone)]
pub struct Text {
    text: TextLines,
    reasoning: TextLines,
    with_reasoning: bool,
}

impl Text {
    /// The dialect without reasoning events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also send reasoning text, as `event: reasoning`.
    #[must_use]
    pub fn with_reasoning(mut self, enabled: bool) -> Self {
        self.with_reasoning = enabled;
        self
    }
}

impl Dialect for Text {
    fn event(&mut self, event: &ConverseStreamOutput, _turn: &Turn, out: &mut BytesMut) {
        let ConverseStreamOutput::ContentBlockDelta(delta) = event else {
            return;
        };
        let mark = out.len();
        let written = match &delta.delta {
            Some(ContentBlockDelta::Text(text)) => self.text.write(out, text),
            Some(ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(text)))
                if self.with_reasoning =>
            {
                frame::event_name(out, "reasoning");
                self.reasoning.write(out, text)
            }
            _ => false,
        };
        if written {
            frame::end(out);
        } else {
            // Nothing to send (an empty delta): not even the event name.
            out.truncate(mark);
        }
    }

    fn end(&mut self, turn: &Turn, out: &mut BytesMut) {
        frame::event_name(out, "done");
        frame::json_data(
            out,
            &Done {
                stop_reason: turn.stop_reason().map(|reason| reason.as_str()),
                usage: turn.usage(),
            },
        );
        frame::end(out);
    }

    fn error(&mut self, error: &Error, _turn: &Turn, out: &mut BytesMut) {
        frame::event_name(out, "error");
        frame::json_data(out, error);
        frame::end(out);
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Done<'a> {
    stop_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
}
