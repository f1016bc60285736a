//! What has happened so far in one streamed turn, shared by every dialect.

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ReasoningContentBlockDelta,
    StopReason,
};

use crate::summary::Usage;

/// The kind of a content block, known from its start event or its first delta.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Text from the model.
    Text,
    /// A tool call; `ordinal` counts the tool calls of the turn from 0.
    ToolUse {
        /// The position of this call among the turn's tool calls.
        ordinal: u32,
    },
    /// Reasoning (thinking) content.
    Reasoning,
    /// Anything else (images, tool results, citations, future kinds).
    Other,
}

/// The state of a turn: blocks by `contentBlockIndex`, stop reason, usage.
///
/// [`Encoder`](crate::Encoder) updates it *before* handing each event to the
/// [`Dialect`](crate::Dialect), so a dialect can look up the block an event
/// belongs to and whether the turn used tools.
#[derive(Debug, Default, Clone)]
pub struct Turn {
    blocks: Vec<(i32, BlockKind)>,
    tool_calls: u32,
    message_started: bool,
    stop_reason: Option<StopReason>,
    usage: Option<Usage>,
    latency_ms: Option<u64>,
    metadata_seen: bool,
}

impl Turn {
    /// The kind of the block at `content_block_index`, if it has been seen.
    pub fn block(&self, content_block_index: i32) -> Option<BlockKind> {
        self.blocks
            .iter()
            .find(|(index, _)| *index == content_block_index)
            .map(|&(_, kind)| kind)
    }

    /// Whether `messageStart` has arrived.
    pub fn message_started(&self) -> bool {
        self.message_started
    }

    /// Whether the turn contains at least one tool call.
    pub fn has_tool_use(&self) -> bool {
        self.tool_calls > 0
    }

    /// The stop reason from `messageStop`, once it has arrived.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop_reason.as_ref()
    }

    /// Token usage from `metadata`, once it has arrived.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// Bedrock's `metrics.latencyMs` from `metadata`, once it has arrived.
    pub fn latency_ms(&self) -> Option<u64> {
        self.latency_ms
    }

    /// Whether `metadata` has arrived.
    pub fn metadata_seen(&self) -> bool {
        self.metadata_seen
    }

    /// Whether both `messageStop` and `metadata` have arrived, in either order.
    pub fn is_complete(&self) -> bool {
        self.stop_reason.is_some() && self.metadata_seen
    }

    /// Records an event. Returns `false` for events of kinds this crate does
    /// not know, which the encoder skips.
    pub(crate) fn observe(&mut self, event: &ConverseStreamOutput) -> bool {
        match event {
            ConverseStreamOutput::MessageStart(_) => self.message_started = true,
            ConverseStreamOutput::ContentBlockStart(start) => {
                let kind = match &start.start {
                    Some(ContentBlockStart::ToolUse(_)) => self.next_tool_call(),
                    Some(ContentBlockStart::Image(_) | ContentBlockStart::ToolResult(_)) => {
                        BlockKind::Other
                    }
                    _ => return false,
                };
                self.remember(start.content_block_index, kind);
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                let kind = match &delta.delta {
                    Some(ContentBlockDelta::Text(_)) => BlockKind::Text,
                    Some(ContentBlockDelta::ToolUse(_)) => BlockKind::ToolUse { ordinal: 0 },
                    Some(ContentBlockDelta::ReasoningContent(
                        ReasoningContentBlockDelta::Text(_)
                        | ReasoningContentBlockDelta::Signature(_)
                        | ReasoningContentBlockDelta::RedactedContent(_),
                    )) => BlockKind::Reasoning,
                    Some(
                        ContentBlockDelta::Citation(_)
                        | ContentBlockDelta::Image(_)
                        | ContentBlockDelta::ToolResult(_),
                    ) => BlockKind::Other,
                    _ => return false,
                };
                if self.block(delta.content_block_index).is_none() {
                    // Bedrock sends text (and sometimes reasoning) deltas with
                    // no contentBlockStart: the first delta starts the block.
                    let kind = match kind {
                        BlockKind::ToolUse { .. } => self.next_tool_call(),
                        other => other,
                    };
                    self.remember(delta.content_block_index, kind);
                }
            }
            ConverseStreamOutput::ContentBlockStop(_) => {}
            ConverseStreamOutput::MessageStop(stop) => {
                self.stop_reason = Some(stop.stop_reason.clone());
            }
            ConverseStreamOutput::Metadata(metadata) => {
                self.metadata_seen = true;
                self.usage = metadata.usage.as_ref().map(Usage::from_sdk);
                self.latency_ms = metadata
                    .metrics
                    .as_ref()
                    .and_then(|metrics| u64::try_from(metrics.latency_ms).ok());
            }
            _ => return false,
        }
        true
    }

    fn next_tool_call(&mut self) -> BlockKind {
        let ordinal = self.tool_calls;
        self.tool_calls += 1;
        BlockKind::ToolUse { ordinal }
    }

    fn remember(&mut self, index: i32, kind: BlockKind) {
        match self.blocks.iter_mut().find(|(known, _)| *known == index) {
            Some(slot) => slot.1 = kind,
            None => self.blocks.push((index, kind)),
        }
    }
}
