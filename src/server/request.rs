//! The `/stream` route's input: a JSON body, or the query string of a `GET` for
//! `EventSource`.
//!
//! The body is either `{"message": "..."}` or
//! `{"messages": [{"role": "user"|"assistant", "content": "..."}], "system": "...",
//! "max_tokens": n, "temperature": t, "top_p": p, "stop": [...]}`; `?format=` picks the dialect.

use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole};
use serde::Deserialize;

use super::converse::{has_text, Budget, Conversation, Limits, Stop};
use super::error::ApiError;
use crate::Format;

/// A parsed and checked `/stream` request.
#[derive(Debug)]
pub(crate) struct StreamRequest {
    pub(crate) conversation: Conversation,
    pub(crate) format: Format,
}

#[derive(Debug, Deserialize)]
struct Body {
    message: Option<String>,
    messages: Option<Vec<BodyMessage>>,
    system: Option<String>,
    max_tokens: Option<u64>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Stop>,
}

#[derive(Debug, Deserialize)]
struct BodyMessage {
    role: Role,
    content: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    User,
    Assistant,
}

impl StreamRequest {
    /// A `POST /stream`: the JSON body, and `?format=` from the query string.
    pub(crate) fn from_body(
        query: Option<&str>,
        body: &[u8],
        limits: Limits,
    ) -> Result<Self, ApiError> {
        let format = format_from_query(query)?;
        let body: Body = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
        let mut budget = Budget::new(limits);
        let mut conversation = Conversation::default();
        match (body.message, body.messages) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "give either message or messages, not both",
                ))
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "missing message: send {\"message\": \"...\"} or {\"messages\": [...]}",
                ))
            }
            (Some(message), None) => push_user_message(&mut conversation, &mut budget, message)?,
            (None, Some(messages)) => {
                if messages.is_empty() {
                    return Err(ApiError::invalid("messages must not be empty"));
                }
                for (index, message) in messages.into_iter().enumerate() {
                    budget.message()?;
                    budget.text(&message.content)?;
                    if !has_text(&message.content) {
                        return Err(ApiError::invalid(format!(
                            "messages[{index}].content must not be empty"
                        )));
                    }
                    let role = match message.role {
                        Role::User => ConversationRole::User,
                        Role::Assistant => ConversationRole::Assistant,
                    };
                    conversation.push(role, vec![ContentBlock::Text(message.content)]);
                }
            }
        }
        if let Some(system) = body.system {
            budget.text(&system)?;
            if has_text(&system) {
                conversation.system(system);
            }
        }
        if let Some(stop) = body.stop {
            conversation.stop = stop.into_sequences(&mut budget)?;
        }
        conversation.max_tokens = Some(budget.max_tokens(body.max_tokens)?);
        conversation.temperature = body.temperature;
        conversation.top_p = body.top_p;
        Ok(Self {
            conversation,
            format,
        })
    }

    /// A `GET /stream?message=...&format=...`.
    pub(crate) fn from_query(query: Option<&str>, limits: Limits) -> Result<Self, ApiError> {
        let format = format_from_query(query)?;
        let message = query_parameter(query, "message")
            .ok_or_else(|| ApiError::invalid("missing message: GET /stream?message=..."))?;
        let mut budget = Budget::new(limits);
        let mut conversation = Conversation::default();
        push_user_message(&mut conversation, &mut budget, message)?;
        conversation.max_tokens = Some(budget.max_tokens(None)?);
        Ok(Self {
            conversation,
            format,
        })
    }
}

fn push_user_message(
    conversation: &mut Conversation,
    budget: &mut Budget,
    message: String,
) -> Result<(), ApiError> {
    budget.message()?;
    budget.text(&message)?;
    if !has_text(&message) {
        return Err(ApiError::invalid("message must not be empty"));
    }
    conversation.push(ConversationRole::User, vec![ContentBlock::Text(message)]);
    Ok(())
}

/// `?format=`, `text` when absent.
fn format_from_query(query: Option<&str>) -> Result<Format, ApiError> {
    match query_parameter(query, "format") {
        None => Ok(Format::default()),
        Some(name) => name
            .parse()
            .map_err(|error: crate::dialect::UnknownFormat| ApiError::invalid(error.to_string())),
    }
}

/// The first value of `name` in a URL query string, percent-decoded.
fn query_parameter(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_messages: 3,
        max_input_chars: 100,
        max_output_tokens: 50,
    };

    fn post(body: &str) -> Result<StreamRequest, ApiError> {
        StreamRequest::from_body(None, body.as_bytes(), LIMITS)
    }

    #[test]
    fn the_original_body_and_the_richer_one() {
        let request = post(r#"{"message":"hi"}"#).unwrap();
        assert_eq!(request.format, Format::Text);
        assert_eq!(request.conversation.max_tokens, Some(50));

        let request = post(
            r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},
                {"role":"user","content":"c"}],"system":"s","max_tokens":7,"temperature":0.5,
                "top_p":0.9,"stop":["x"]}"#,
        )
        .unwrap();
        assert_eq!(request.conversation.max_tokens, Some(7));
        assert_eq!(request.conversation.stop, ["x"]);
        assert_eq!(request.conversation.temperature, Some(0.5));
    }

    #[test]
    fn bad_bodies_are_refused_with_their_status() {
        let cases = [
            ("{", 400),
            ("[]", 400),
            ("{}", 400),
            (r#"{"message":""}"#, 400),
            (r#"{"message":"  \n"}"#, 400),
            (r#"{"message":null}"#, 400),
            (r#"{"message":42}"#, 400),
            (r#"{"messages":[]}"#, 400),
            (r#"{"messages":[{"role":"system","content":"x"}]}"#, 400),
            (r#"{"messages":[{"role":"user"}]}"#, 400),
            (r#"{"message":"a","messages":[]}"#, 400),
            (r#"{"message":"a","max_tokens":0}"#, 400),
            (r#"{"message":"a","max_tokens":-1}"#, 400),
            (r#"{"message":"a","stop":[""]}"#, 400),
            (
                r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"a"},
                   {"role":"user","content":"a"},{"role":"user","content":"a"}]}"#,
                422,
            ),
            (&format!(r#"{{"message":"{}"}}"#, "x".repeat(101)), 422),
        ];
        for (body, status) in cases {
            let error = post(body).expect_err(body);
            assert_eq!(error.status().as_u16(), status, "{body}: {error:?}");
        }
    }

    #[test]
    fn the_query_form_decodes_the_message_and_format() {
        let request =
            StreamRequest::from_query(Some("message=hello%20world&format=openai"), LIMITS).unwrap();
        assert_eq!(request.format, Format::OpenAi);
        assert!(StreamRequest::from_query(Some("format=text"), LIMITS).is_err());
        assert!(StreamRequest::from_query(None, LIMITS).is_err());
        assert!(StreamRequest::from_query(Some("message=hi&format=xml"), LIMITS).is_err());
        assert!(StreamRequest::from_query(Some("message=%FF%FE"), LIMITS).is_ok());
    }
}
