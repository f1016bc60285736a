//! The `bedrock` dialect: one SSE event per Converse event, in Bedrock's JSON.

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use bytes::BytesMut;

use super::bedrock_json::Json;
use crate::{frame, Dialect, Error, Turn};

/// Converse events as they are: `event: <name>` and `data: <json>` with the
/// Converse API's own camelCase names and shapes.
///
/// Event names are `messageStart`, `contentBlockStart`, `contentBlockDelta`,
/// `contentBlockStop`, `messageStop` and `metadata`; data is what the
/// [ConverseStream API reference] documents for each: text, tool-use starts
/// and input fragments, reasoning text, signature and redacted content
/// (base64), citations, usage with cache read and write counts,
/// `metrics.latencyMs`, the trace and the performance configuration.
/// The turn ends with `metadata` and `messageStop`, whichever comes last; no
/// extra event is added. An error is `event: error` with
/// [`Error::to_json`](crate::Error::to_json).
///
/// ```text
/// event: messageStart
/// data: {"role":"assistant"}
///
/// event: contentBlockDelta
/// data: {"contentBlockIndex":0,"delta":{"text":"Hello"}}
///
/// event: contentBlockStop
/// data: {"contentBlockIndex":0}
///
/// event: messageStop
/// data: {"stopReason":"end_turn"}
///
/// event: metadata
/// data: {"usage":{"inputTokens":9,"outputTokens":5,"totalTokens":14},"metrics":{"latencyMs":312}}
/// ```
///
/// [ConverseStream API reference]: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
#[derive(Debug, Default, Clone, Copy)]
pub struct Bedrock;

impl Bedrock {
    /// The dialect.
    pub fn new() -> Self {
        Self
    }
}

impl Dialect for Bedrock {
    fn event(&mut self, event: &ConverseStreamOutput, _turn: &Turn, out: &mut BytesMut) {
        match event {
            ConverseStreamOutput::MessageStart(start) => write(out, "messageStart", &Json(start)),
            ConverseStreamOutput::ContentBlockStart(start) => {
                write(out, "contentBlockStart", &Json(start));
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                write(out, "contentBlockDelta", &Json(delta));
            }
            ConverseStreamOutput::ContentBlockStop(stop) => {
                write(out, "contentBlockStop", &Json(stop));
            }
            ConverseStreamOutput::MessageStop(stop) => write(out, "messageStop", &Json(stop)),
            ConverseStreamOutput::Metadata(metadata) => write(out, "metadata", &Json(metadata)),
            _ => {}
        }
    }

    fn end(&mut self, _turn: &Turn, _out: &mut BytesMut) {}

    fn error(&mut self, error: &Error, _turn: &Turn, out: &mut BytesMut) {
        write(out, "error", error);
    }
}

fn write<T: serde::Serialize + ?Sized>(out: &mut BytesMut, name: &str, data: &T) {
    frame::event_name(out, name);
    frame::json_data(out, data);
    frame::end(out);
}
