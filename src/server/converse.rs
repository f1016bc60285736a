//! The input of one Converse call, whichever route it came from, and the limits it must keep.

use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
    ToolConfiguration,
};
use serde::Deserialize;

use super::error::ApiError;
use super::Config;

/// The limits a request is checked against before it reaches Bedrock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_messages: usize,
    pub(crate) max_input_chars: usize,
    pub(crate) max_output_tokens: u32,
}

impl Limits {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            max_messages: config.max_messages,
            max_input_chars: config.max_input_chars,
            max_output_tokens: config.max_output_tokens,
        }
    }
}

/// Counts messages and characters as a request is read, and refuses it (422) as soon as it
/// goes over a limit.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: Limits,
    messages: usize,
    chars: usize,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            messages: 0,
            chars: 0,
        }
    }

    pub(crate) fn message(&mut self) -> Result<(), ApiError> {
        self.messages += 1;
        if self.messages > self.limits.max_messages {
            return Err(ApiError::over_limit(
                "too_many_messages",
                format!(
                    "a request may carry at most {} messages",
                    self.limits.max_messages
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn text(&mut self, text: &str) -> Result<(), ApiError> {
        self.chars = self.chars.saturating_add(text.chars().count());
        if self.chars > self.limits.max_input_chars {
            return Err(ApiError::over_limit(
                "input_too_long",
                format!(
                    "a request may carry at most {} characters of text",
                    self.limits.max_input_chars
                ),
            ));
        }
        Ok(())
    }

    /// The `maxTokens` for a request that asked for `requested`: the cap when it asked for
    /// nothing or for more.
    pub(crate) fn max_tokens(&self, requested: Option<u64>) -> Result<i32, ApiError> {
        let cap = self.limits.max_output_tokens;
        match requested {
            Some(0) => Err(ApiError::invalid("max_tokens must be at least 1")),
            Some(requested) => Ok(to_i32(requested.min(u64::from(cap)))),
            None => Ok(to_i32(u64::from(cap))),
        }
    }
}

fn to_i32(tokens: u64) -> i32 {
    i32::try_from(tokens).unwrap_or(i32::MAX)
}

/// OpenAI's `stop`: one string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences, each non-empty and counted against the budget.
    pub(crate) fn into_sequences(self, budget: &mut Budget) -> Result<Vec<String>, ApiError> {
        let sequences = match self {
            Stop::One(sequence) => vec![sequence],
            Stop::Many(sequences) => sequences,
        };
        for sequence in &sequences {
            if sequence.is_empty() {
                return Err(ApiError::invalid("stop sequences must not be empty"));
            }
            budget.text(sequence)?;
        }
        Ok(sequences)
    }
}

/// Whether `text` has something besides whitespace: Bedrock refuses blank text blocks.
pub(crate) fn has_text(text: &str) -> bool {
    !text.trim().is_empty()
}

/// Everything one Converse call needs except the model.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    system: Vec<SystemContentBlock>,
    turns: Vec<(ConversationRole, Vec<ContentBlock>)>,
    pub(crate) max_tokens: Option<i32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) stop: Vec<String>,
    pub(crate) tools: Option<ToolConfiguration>,
}

impl Conversation {
    /// Adds a system prompt block.
    pub(crate) fn system(&mut self, text: String) {
        self.system.push(SystemContentBlock::Text(text));
    }

    /// Adds content to the conversation. Content of the same role as the message before it
    /// joins that message: Converse wants user and assistant messages to alternate, and
    /// OpenAI clients send each tool result as a message of its own.
    pub(crate) fn push(&mut self, role: ConversationRole, content: Vec<ContentBlock>) {
        match self.turns.last_mut() {
            Some((last, blocks)) if *last == role => blocks.extend(content),
            _ => self.turns.push((role, content)),
        }
    }

    /// Whether any message has a tool call or a tool result: Converse then needs the tool
    /// configuration even when the caller wants no more calls.
    pub(crate) fn mentions_tools(&self) -> bool {
        self.turns
            .iter()
            .flat_map(|(_, blocks)| blocks)
            .any(|block| {
                matches!(
                    block,
                    ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)
                )
            })
    }

    /// Whether there is no message at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// The `converse_stream` call for `model`, ready to send.
    pub(crate) fn request(
        self,
        client: &aws_sdk_bedrockruntime::Client,
        model: &str,
    ) -> Result<ConverseStreamFluentBuilder, ApiError> {
        let messages = self
            .turns
            .into_iter()
            .map(|(role, content)| {
                Message::builder()
                    .role(role)
                    .set_content(Some(content))
                    .build()
                    .map_err(|error| ApiError::internal(format!("building a message: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inference = InferenceConfiguration::builder()
            .set_max_tokens(self.max_tokens)
            .set_temperature(self.temperature)
            .set_top_p(self.top_p)
            .set_stop_sequences((!self.stop.is_empty()).then_some(self.stop))
            .build();
        Ok(client
            .converse_stream()
            .model_id(model)
            .set_system((!self.system.is_empty()).then_some(self.system))
            .set_messages(Some(messages))
            .inference_config(inference)
            .set_tool_config(self.tools))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_messages: 2,
            max_input_chars: 5,
            max_output_tokens: 100,
        }
    }

    #[test]
    fn budget_counts_messages_and_characters() {
        let mut budget = Budget::new(limits());
        budget.message().unwrap();
        budget.message().unwrap();
        assert_eq!(budget.message().unwrap_err().kind(), "too_many_messages");

        let mut budget = Budget::new(limits());
        budget.text("héllo").unwrap();
        assert_eq!(budget.text("!").unwrap_err().kind(), "input_too_long");
    }

    #[test]
    fn max_tokens_is_capped() {
        let budget = Budget::new(limits());
        assert_eq!(budget.max_tokens(None).unwrap(), 100);
        assert_eq!(budget.max_tokens(Some(10)).unwrap(), 10);
        assert_eq!(budget.max_tokens(Some(u64::MAX)).unwrap(), 100);
        assert!(budget.max_tokens(Some(0)).is_err());
    }

    #[test]
    fn same_role_content_joins_one_message() {
        let mut conversation = Conversation::default();
        conversation.push(ConversationRole::User, vec![ContentBlock::Text("a".into())]);
        conversation.push(ConversationRole::User, vec![ContentBlock::Text("b".into())]);
        conversation.push(
            ConversationRole::Assistant,
            vec![ContentBlock::Text("c".into())],
        );
        assert_eq!(conversation.turns.len(), 2);
        assert_eq!(conversation.turns[0].1.len(), 2);
        assert!(!conversation.mentions_tools());
    }
}
