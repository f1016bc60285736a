//! Reading a `ConverseStream` request: the model id in the path and the prompt in the body.

use serde_json::Value;

use super::script::words;

/// The model id of `/model/{modelId}/converse-stream`, percent-decoded; `None` for any other
/// path.
pub(crate) fn model_id(path: &str) -> Option<String> {
    let encoded = path
        .strip_prefix("/model/")?
        .strip_suffix("/converse-stream")?;
    if encoded.is_empty() || encoded.contains('/') {
        return None;
    }
    Some(percent_decode(encoded))
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as it is, and invalid
/// UTF-8 is replaced, so any path decodes.
fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = match (bytes[at], bytes.get(at + 1), bytes.get(at + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push((high << 4) | low);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// What the scripts need from a request body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// The text of the last user message: its text blocks (or, when it has none, the texts of
    /// its tool results) joined by newlines.
    pub(crate) last_user_text: String,
    /// Words in the system prompt and all messages, at least 1.
    pub(crate) input_tokens: u64,
}

/// Reads the prompt of a `ConverseStream` body, or says why Bedrock would reject it.
pub(crate) fn prompt(body: &Value) -> Result<Prompt, &'static str> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("Malformed input request: messages is required")?;
    if messages.is_empty() {
        return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.");
    }
    let content = |message: &Value| -> Vec<Value> {
        message
            .get("content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let system_words: u64 = body
        .get("system")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().map(|block| words(block_text(block))).sum())
        .unwrap_or(0);
    let message_words: u64 = messages
        .iter()
        .flat_map(content)
        .map(|block| words(block_text(&block)) + tool_result_texts(&block).map(words).sum::<u64>())
        .sum();
    let last_user = messages
        .iter()
        .rev()
        .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
        .map(content)
        .unwrap_or_default();
    let texts: Vec<&str> = last_user
        .iter()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    let last_user_text = if texts.is_empty() {
        last_user
            .iter()
            .flat_map(tool_result_texts)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        texts.join("\n")
    };
    Ok(Prompt {
        last_user_text,
        input_tokens: (system_words + message_words).max(1),
    })
}

fn block_text(block: &Value) -> &str {
    block.get("text").and_then(Value::as_str).unwrap_or("")
}

fn tool_result_texts(block: &Value) -> impl Iterator<Item = &str> {
    block
        .get("toolResult")
        .and_then(|result| result.get("content"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("text").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_ids_are_percent_decoded() {
        assert_eq!(
            model_id("/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream")
                .as_deref(),
            Some("global.anthropic.claude-sonnet-4-5-20250929-v1:0")
        );
        assert_eq!(
            model_id("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse-stream").as_deref(),
            Some("arn:aws:bedrock:us-east-1:1:inference-profile/x")
        );
        assert_eq!(
            model_id("/model/100%/converse-stream").as_deref(),
            Some("100%")
        );
        assert_eq!(
            model_id("/model/%zz%e6%97%a5%ff/converse-stream").as_deref(),
            Some("%zz日\u{fffd}")
        );
        assert_eq!(model_id("/model//converse-stream"), None);
        assert_eq!(model_id("/model/a/b/converse-stream"), None);
        assert_eq!(model_id("/model/a/converse"), None);
        assert_eq!(model_id("/"), None);
    }

    #[test]
    fn the_prompt_is_the_last_user_text() {
        let body = json!({
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "first question"}]},
                {"role": "assistant", "content": [{"text": "an answer"}]},
                {"role": "user", "content": [{"text": "second"}, {"image": {}}, {"text": "part"}]},
            ],
        });
        let prompt = prompt(&body).expect("valid");
        assert_eq!(prompt.last_user_text, "second\npart");
        assert_eq!(prompt.input_tokens, 8);
    }

    #[test]
    fn tool_results_stand_in_for_missing_text() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"toolResult": {"toolUseId": "t", "content": [{"text": "18 degrees"}]}},
        ]}]});
        assert_eq!(prompt(&body).expect("valid").last_user_text, "18 degrees");
    }

    #[test]
    fn bodies_without_messages_are_rejected() {
        assert!(prompt(&json!({})).is_err());
        assert!(prompt(&json!({"messages": []})).is_err());
        assert!(prompt(&json!([1, 2])).is_err());
        let odd = json!({"messages": [{"role": 5, "content": "x"}, 7]});
        assert_eq!(prompt(&odd).expect("lenient").last_user_text, "");
    }
}
