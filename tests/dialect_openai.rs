//! The `openai` dialect, checked against OpenAI's documented chunk format.

mod common;

use aws_sdk_bedrockruntime::types::StopReason;
use bedrock_sse::{Error, ErrorKind, OpenAi};
use common::*;
use serde_json::{json, Value};

fn chunks(
    dialect: OpenAi,
    events: &[aws_sdk_bedrockruntime::types::ConverseStreamOutput],
    end: End,
) -> (Vec<Value>, String) {
    let sse = encode(dialect, events, end);
    assert!(
        !sse.contains("\nid:") && !sse.starts_with("id:"),
        "no id lines"
    );
    assert!(!sse.contains("event:"), "no named events");
    let parsed = parse(&sse);
    let last = parsed.last().unwrap().data.clone();
    let values = parsed
        .iter()
        .filter(|event| event.data != "[DONE]")
        .map(|event| common::json(&event.data))
        .collect();
    (values, last)
}

#[test]
fn text_reply_has_role_content_finish_and_done() {
    let dialect = OpenAi::new("claude")
        .with_id("chatcmpl-1")
        .with_created(1700000000);
    let (chunks, last) = chunks(dialect, &text_reply(&["Hel", "lo"]), End::Finish);
    assert_eq!(last, "[DONE]");
    assert_eq!(
        chunks[0],
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "claude",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Hel"}));
    assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": "lo"}));
    assert_eq!(chunks[3]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks.len(), 4);
    for chunk in &chunks {
        assert_eq!(chunk["id"], "chatcmpl-1");
        assert_eq!(chunk["created"], 1700000000);
        assert!(chunk.get("usage").is_none());
    }
}

#[test]
fn role_comes_with_the_first_delta_when_message_start_is_missing() {
    let events = &text_reply(&["Hi"])[1..];
    let (chunks, _) = chunks(OpenAi::new("m"), events, End::Finish);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Hi"})
    );
}

#[test]
fn usage_chunk_when_asked_and_null_usage_elsewhere() {
    let (chunks, _) = chunks(
        OpenAi::new("m").include_usage(true),
        &text_reply(&["a"]),
        End::Finish,
    );
    let (usage, rest) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11, "prompt_tokens_details": {"cached_tokens": 3}})
    );
    for chunk in rest {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
    }
}

#[test]
fn parallel_tool_calls_are_kept_apart_by_block_index() {
    let (chunks, _) = chunks(OpenAi::new("m"), &tool_reply(), End::Finish);
    let mut calls: Vec<(Option<String>, Option<String>, String)> = Vec::new();
    for chunk in &chunks {
        let Some(tool_calls) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        assert_eq!(tool_calls.len(), 1);
        let call = &tool_calls[0];
        let index = call["index"].as_u64().unwrap() as usize;
        if index == calls.len() {
            assert_eq!(call["type"], "function", "first fragment has the type");
            calls.push((None, None, String::new()));
        }
        let slot = &mut calls[index];
        if let Some(id) = call["id"].as_str() {
            slot.0 = Some(id.to_owned());
        }
        if let Some(name) = call["function"]["name"].as_str() {
            slot.1 = Some(name.to_owned());
        }
        slot.2
            .push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0.as_deref(), Some("tooluse_weather"));
    assert_eq!(calls[0].1.as_deref(), Some("get_weather"));
    assert_eq!(common::json(&calls[0].2), json!({"city": "Paris"}));
    assert_eq!(calls[1].1.as_deref(), Some("get_time"));
    assert_eq!(common::json(&calls[1].2), json!({}), "empty input is {{}}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn finish_reasons_follow_the_mapping() {
    let cases = [
        (StopReason::EndTurn, "stop"),
        (StopReason::StopSequence, "stop"),
        (StopReason::MaxTokens, "length"),
        (StopReason::ToolUse, "tool_calls"),
        (StopReason::ContentFiltered, "content_filter"),
        (StopReason::GuardrailIntervened, "content_filter"),
    ];
    for (reason, expected) in cases {
        let events = vec![
            message_start(),
            text(0, "x"),
            message_stop(reason.clone()),
            metadata(1, 1),
        ];
        let (chunks, _) = chunks(OpenAi::new("m"), &events, End::Finish);
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            expected,
            "{reason:?}"
        );
    }
    // A model that says end_turn after calling tools still finished with tool calls.
    let mut events = tool_reply();
    events[11] = message_stop(StopReason::EndTurn);
    let (chunks, _) = chunks(OpenAi::new("m"), &events, End::Finish);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[test]
fn reasoning_is_reasoning_content() {
    let events = vec![
        message_start(),
        reasoning_text(0, "think"),
        text(1, "say"),
        message_stop(StopReason::EndTurn),
        metadata(1, 1),
    ];
    let (chunks, _) = chunks(OpenAi::new("m"), &events, End::Finish);
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"reasoning_content": "think"})
    );
    assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": "say"}));
}

#[test]
fn an_error_is_one_error_object_and_no_done() {
    let (chunks, last) = chunks(
        OpenAi::new("m"),
        &text_reply(&["a"])[..2],
        End::Fail(Error::new(ErrorKind::Throttling, "slow down")),
    );
    assert_ne!(last, "[DONE]");
    let error = &chunks.last().unwrap()["error"];
    assert_eq!(error["message"], "slow down");
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(error["code"], "throttling");
}

#[test]
fn ids_differ_between_streams() {
    assert_ne!(OpenAi::new("m").id(), OpenAi::new("m").id());
    assert!(OpenAi::new("m").id().starts_with("chatcmpl-"));
}
