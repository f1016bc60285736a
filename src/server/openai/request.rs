//! An OpenAI Chat Completions request translated into a Converse call.
//!
//! | Chat Completions | Converse |
//! |---|---|
//! | `system` / `developer` message | a `system` block |
//! | `user` message (a string or `text` parts) | a user message of text blocks |
//! | `assistant` message with `tool_calls` | an assistant message: text, then `toolUse` blocks |
//! | `tool` message | a `toolResult` block in a user message |
//! | `max_completion_tokens`, else `max_tokens` | `inferenceConfig.maxTokens`, capped |
//! | `temperature`, `top_p`, `stop` | `inferenceConfig` |
//! | `tools` (functions) | `toolConfig.tools` (`toolSpec` with a JSON `inputSchema`) |
//! | `tool_choice` `auto` / `required` / named | `toolChoice` `auto` / `any` / `tool` |
//! | `tool_choice: "none"` | no tools (kept, with no choice, when the history has tool calls) |
//!
//! Consecutive messages of the same Converse role are joined into one message.

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, ContentBlock, ConversationRole, SpecificToolChoice, Tool,
    ToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolSpecification, ToolUseBlock,
};
use serde::Deserialize;
use serde_json::Value;

use super::document;
use crate::server::converse::{has_text, Budget, Conversation, Limits, Stop};
use crate::server::error::ApiError;

/// A parsed and checked `POST /v1/chat/completions`.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    pub(crate) conversation: Conversation,
    /// The `model` the client asked for, if any; the allow-list decides whether it is used.
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct Body {
    model: Option<String>,
    messages: Vec<ChatMessage>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Stop>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<ToolDefinition>>,
    tool_choice: Option<ToolChoiceSpec>,
    n: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum ChatMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        content: Option<Content>,
        tool_calls: Option<Vec<ToolCall>>,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part {
    Text {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
struct ToolCall {
    id: String,
    function: FunctionCall,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct ToolDefinition {
    #[serde(rename = "type")]
    kind: String,
    function: FunctionDefinition,
}

#[derive(Debug, Deserialize)]
struct FunctionDefinition {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ToolChoiceSpec {
    Mode(String),
    Named { function: NamedFunction },
}

#[derive(Debug, Deserialize)]
struct NamedFunction {
    name: String,
}

impl ChatRequest {
    /// Parses and translates a request body.
    pub(crate) fn from_body(body: &[u8], limits: Limits) -> Result<Self, ApiError> {
        let body: Body = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
        if body.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid("only n = 1 is supported"));
        }
        let mut budget = Budget::new(limits);
        let mut conversation = Conversation::default();
        for (index, message) in body.messages.into_iter().enumerate() {
            budget.message()?;
            add_message(&mut conversation, &mut budget, index, message)?;
        }
        if conversation.is_empty() {
            return Err(ApiError::invalid(
                "messages must hold at least one user or assistant message",
            ));
        }
        if let Some(stop) = body.stop {
            conversation.stop = stop.into_sequences(&mut budget)?;
        }
        conversation.max_tokens =
            Some(budget.max_tokens(body.max_completion_tokens.or(body.max_tokens))?);
        conversation.temperature = body.temperature;
        conversation.top_p = body.top_p;
        conversation.tools = tool_configuration(
            body.tools.unwrap_or_default(),
            body.tool_choice,
            conversation.mentions_tools(),
        )?;
        Ok(Self {
            conversation,
            model: body.model,
            stream: body.stream.unwrap_or(false),
            include_usage: body
                .stream_options
                .and_then(|options| options.include_usage)
                .unwrap_or(false),
        })
    }
}

fn add_message(
    conversation: &mut Conversation,
    budget: &mut Budget,
    index: usize,
    message: ChatMessage,
) -> Result<(), ApiError> {
    let at = |field: &str| format!("messages[{index}].{field}");
    match message {
        ChatMessage::System { content } | ChatMessage::Developer { content } => {
            for text in texts(content, budget, &at("content"))? {
                conversation.system(text);
            }
        }
        ChatMessage::User { content } => {
            let blocks: Vec<_> = texts(content, budget, &at("content"))?
                .into_iter()
                .map(ContentBlock::Text)
                .collect();
            if blocks.is_empty() {
                return Err(ApiError::invalid(format!("{} is empty", at("content"))));
            }
            conversation.push(ConversationRole::User, blocks);
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            let mut blocks: Vec<_> = match content {
                Some(content) => texts(content, budget, &at("content"))?
                    .into_iter()
                    .map(ContentBlock::Text)
                    .collect(),
                None => Vec::new(),
            };
            for (call_index, call) in tool_calls.unwrap_or_default().into_iter().enumerate() {
                let field = at(&format!("tool_calls[{call_index}]"));
                blocks.push(tool_use(call, budget, &field)?);
            }
            if blocks.is_empty() {
                return Err(ApiError::invalid(format!(
                    "messages[{index}] has neither content nor tool_calls"
                )));
            }
            conversation.push(ConversationRole::Assistant, blocks);
        }
        ChatMessage::Tool {
            content,
            tool_call_id,
        } => {
            let text = texts(content, budget, &at("content"))?.join("\n");
            let result = ToolResultBlock::builder()
                .tool_use_id(tool_call_id)
                .content(ToolResultContentBlock::Text(text))
                .build()
                .map_err(|error| ApiError::invalid(format!("{}: {error}", at("tool_call_id"))))?;
            conversation.push(
                ConversationRole::User,
                vec![ContentBlock::ToolResult(result)],
            );
        }
    }
    Ok(())
}

/// The non-blank texts of a message's content, each counted against the budget.
fn texts(content: Content, budget: &mut Budget, field: &str) -> Result<Vec<String>, ApiError> {
    let parts = match content {
        Content::Text(text) => vec![text],
        Content::Parts(parts) => parts
            .into_iter()
            .map(|part| match part {
                Part::Text { text } | Part::Refusal { refusal: text } => Ok(text),
                Part::Unsupported => Err(ApiError::invalid(format!(
                    "{field}: only text content parts are supported"
                ))),
            })
            .collect::<Result<_, _>>()?,
    };
    let mut texts = Vec::with_capacity(parts.len());
    for text in parts {
        budget.text(&text)?;
        if has_text(&text) {
            texts.push(text);
        }
    }
    Ok(texts)
}

fn tool_use(call: ToolCall, budget: &mut Budget, field: &str) -> Result<ContentBlock, ApiError> {
    budget.text(&call.function.name)?;
    budget.text(&call.function.arguments)?;
    // A call without parameters may come back with no arguments at all.
    let input = if call.function.arguments.trim().is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(&call.function.arguments).map_err(|error| {
            ApiError::invalid(format!(
                "{field}.function.arguments is not valid JSON: {error}"
            ))
        })?
    };
    let block = ToolUseBlock::builder()
        .tool_use_id(call.id)
        .name(call.function.name)
        .input(document::from_json(input))
        .build()
        .map_err(|error| ApiError::invalid(format!("{field}: {error}")))?;
    Ok(ContentBlock::ToolUse(block))
}

fn tool_configuration(
    tools: Vec<ToolDefinition>,
    choice: Option<ToolChoiceSpec>,
    history_has_tools: bool,
) -> Result<Option<ToolConfiguration>, ApiError> {
    let choice = match choice {
        None => None,
        Some(ToolChoiceSpec::Mode(mode)) => match mode.as_str() {
            "auto" => Some(ToolChoice::Auto(AutoToolChoice::builder().build())),
            "required" => Some(ToolChoice::Any(AnyToolChoice::builder().build())),
            // Converse cannot forbid calls; sending no tools does, unless the history has
            // tool calls, which Converse only accepts alongside the tool definitions.
            "none" if history_has_tools => None,
            "none" => return Ok(None),
            other => {
                return Err(ApiError::invalid(format!(
                    "tool_choice {:?} is not one of auto, required, none",
                    other.chars().take(32).collect::<String>()
                )))
            }
        },
        Some(ToolChoiceSpec::Named { function }) => {
            if !tools.iter().any(|tool| tool.function.name == function.name) {
                return Err(ApiError::invalid(
                    "tool_choice names a function that is not in tools",
                ));
            }
            let specific = SpecificToolChoice::builder()
                .name(function.name)
                .build()
                .map_err(|error| ApiError::invalid(format!("tool_choice: {error}")))?;
            Some(ToolChoice::Tool(specific))
        }
    };
    if tools.is_empty() {
        if choice.is_some() {
            return Err(ApiError::invalid("tool_choice needs tools"));
        }
        return Ok(None);
    }
    let tools = tools
        .into_iter()
        .enumerate()
        .map(|(index, tool)| {
            if tool.kind != "function" {
                return Err(ApiError::invalid(format!(
                    "tools[{index}]: only function tools are supported"
                )));
            }
            let schema = tool
                .function
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            let spec = ToolSpecification::builder()
                .name(tool.function.name)
                .set_description(tool.function.description)
                .input_schema(ToolInputSchema::Json(document::from_json(schema)))
                .build()
                .map_err(|error| ApiError::invalid(format!("tools[{index}]: {error}")))?;
            Ok(Tool::ToolSpec(spec))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(|error| ApiError::invalid(format!("tools: {error}")))
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::types::ToolResultContentBlock;

    use super::*;

    const LIMITS: Limits = Limits {
        max_messages: 10,
        max_input_chars: 10_000,
        max_output_tokens: 1000,
    };

    fn parse(body: serde_json::Value) -> Result<ChatRequest, ApiError> {
        ChatRequest::from_body(body.to_string().as_bytes(), LIMITS)
    }

    #[test]
    fn a_tool_round_trip_translates() {
        let request = parse(serde_json::json!({
            "model": "m",
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 5000,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "get_time", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "noon"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                        "parameters": {"type": "object"}}},
                      {"type": "function", "function": {"name": "get_time"}}],
            "tool_choice": "required"
        }))
        .unwrap();
        assert!(request.stream && request.include_usage);
        assert_eq!(request.model.as_deref(), Some("m"));
        let conversation = request.conversation;
        assert_eq!(conversation.max_tokens, Some(1000));
        assert!(conversation.mentions_tools());
        let tools = conversation.tools.as_ref().unwrap();
        assert_eq!(tools.tools.len(), 2);
        assert!(matches!(tools.tool_choice, Some(ToolChoice::Any(_))));
        let builder = conversation.request(&client(), "m").unwrap();
        let input = builder.as_input().clone().build().unwrap();
        let messages = input.messages.unwrap();
        assert_eq!(messages.len(), 3, "tool results join one user message");
        assert_eq!(messages[2].content.len(), 2);
        let ContentBlock::ToolResult(result) = &messages[2].content[1] else {
            panic!("not a tool result");
        };
        assert_eq!(result.tool_use_id, "call_2");
        assert_eq!(
            result.content,
            [ToolResultContentBlock::Text("noon".into())]
        );
        assert_eq!(input.system.unwrap().len(), 1);
    }

    fn client() -> aws_sdk_bedrockruntime::Client {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .build();
        aws_sdk_bedrockruntime::Client::from_conf(config)
    }

    #[test]
    fn tool_choice_none_drops_tools_unless_history_needs_them() {
        let tools = serde_json::json!([{"type": "function", "function": {"name": "f"}}]);
        let request = parse(serde_json::json!({
            "messages": [{"role": "user", "content": "hi"}],
            "tools": tools, "tool_choice": "none"
        }))
        .unwrap();
        assert!(request.conversation.tools.is_none());

        let request = parse(serde_json::json!({
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                  "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "done"}
            ],
            "tools": tools, "tool_choice": "none"
        }))
        .unwrap();
        let tools = request.conversation.tools.unwrap();
        assert!(tools.tool_choice.is_none());
    }

    #[test]
    fn bad_requests_are_refused() {
        let cases = [
            serde_json::json!({}),
            serde_json::json!({"messages": []}),
            serde_json::json!({"messages": [{"role": "system", "content": "only system"}]}),
            serde_json::json!({"messages": [{"role": "user", "content": ""}]}),
            serde_json::json!({"messages": [{"role": "wizard", "content": "x"}]}),
            serde_json::json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "x"}}]}]}),
            serde_json::json!({"messages": [{"role": "assistant", "content": null}]}),
            serde_json::json!({"messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}]}]}),
            serde_json::json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
            serde_json::json!({"messages": [{"role": "user", "content": "x"}],
                               "tool_choice": "auto"}),
            serde_json::json!({"messages": [{"role": "user", "content": "x"}],
                               "tools": [{"type": "function", "function": {"name": "f"}}],
                               "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            serde_json::json!({"messages": [{"role": "user", "content": "x"}],
                               "tools": [{"type": "retrieval", "function": {"name": "f"}}]}),
            serde_json::json!({"messages": [{"role": "user", "content": "x"}],
                               "max_completion_tokens": 0}),
        ];
        for body in cases {
            let error = parse(body.clone()).expect_err(&body.to_string());
            assert_eq!(error.status().as_u16(), 400, "{body}");
        }
    }
}
