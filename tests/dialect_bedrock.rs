//! The `bedrock` dialect: Converse events with Bedrock's own names and JSON.

mod common;

use aws_sdk_bedrockruntime::types::{
    CitationLocation, CitationSourceContentDelta, CitationsDelta, ContentBlockDelta, StopReason,
    WebLocation,
};
use bedrock_sse::{Bedrock, Error, ErrorKind};
use common::*;
use serde_json::json;

fn encode_bedrock(events: &[aws_sdk_bedrockruntime::types::ConverseStreamOutput]) -> Vec<Parsed> {
    parse(&encode(Bedrock::new(), events, End::Finish))
}

#[test]
fn every_event_keeps_its_name_and_shape() {
    let parsed = encode_bedrock(&text_reply(&["Hi"]));
    let names: Vec<_> = parsed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    let data: Vec<_> = parsed.iter().map(|e| common::json(&e.data)).collect();
    assert_eq!(data[0], json!({"role": "assistant"}));
    assert_eq!(
        data[1],
        json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    );
    assert_eq!(data[2], json!({"contentBlockIndex": 0}));
    assert_eq!(data[3], json!({"stopReason": "end_turn"}));
    assert_eq!(
        data[4],
        json!({
            "usage": {"inputTokens": 10, "outputTokens": 1, "totalTokens": 11, "cacheReadInputTokens": 3},
            "metrics": {"latencyMs": 250}
        })
    );
}

#[test]
fn tool_use_starts_and_input_fragments() {
    let parsed = encode_bedrock(&tool_reply());
    let starts: Vec<_> = parsed
        .iter()
        .filter(|e| e.event == "contentBlockStart")
        .map(|e| common::json(&e.data))
        .collect();
    assert_eq!(
        starts[0],
        json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_weather", "name": "get_weather"}}})
    );
    let input: String = parsed
        .iter()
        .filter(|e| e.event == "contentBlockDelta")
        .map(|e| common::json(&e.data))
        .filter(|d| d["contentBlockIndex"] == 1)
        .map(|d| d["delta"]["toolUse"]["input"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(common::json(&input), json!({"city": "Paris"}));
}

#[test]
fn reasoning_signature_and_redacted_content_as_base64() {
    let parsed = encode_bedrock(&[
        message_start(),
        redacted(0, b"\x00\xffsecret"),
        reasoning_text(1, "hmm"),
        reasoning_signature(1, "c2ln"),
        message_stop(StopReason::EndTurn),
        metadata(1, 1),
    ]);
    let deltas: Vec<_> = parsed
        .iter()
        .filter(|e| e.event == "contentBlockDelta")
        .map(|e| common::json(&e.data)["delta"].clone())
        .collect();
    assert_eq!(
        deltas[0],
        json!({"reasoningContent": {"redactedContent": "AP9zZWNyZXQ="}})
    );
    assert_eq!(deltas[1], json!({"reasoningContent": {"text": "hmm"}}));
    assert_eq!(
        deltas[2],
        json!({"reasoningContent": {"signature": "c2ln"}})
    );
}

#[test]
fn citations_pass_through() {
    let citation = CitationsDelta::builder()
        .title("Doc")
        .source_content(CitationSourceContentDelta::builder().text("quoted").build())
        .location(CitationLocation::Web(
            WebLocation::builder().url("https://example.com/a").build(),
        ))
        .build();
    let parsed = encode_bedrock(&[
        message_start(),
        delta(0, ContentBlockDelta::Citation(citation)),
        message_stop(StopReason::EndTurn),
        metadata(1, 1),
    ]);
    assert_eq!(
        common::json(&parsed[1].data)["delta"],
        json!({"citation": {"title": "Doc", "sourceContent": [{"text": "quoted"}], "location": {"web": {"url": "https://example.com/a"}}}})
    );
}

#[test]
fn metadata_before_message_stop_ends_after_both() {
    let mut events = text_reply(&["x"]);
    let metadata = events.pop().unwrap();
    events.insert(3, metadata);
    let parsed = encode_bedrock(&events);
    assert_eq!(parsed[parsed.len() - 2].event, "metadata");
    assert_eq!(parsed.last().unwrap().event, "messageStop");
}

#[test]
fn errors_are_one_error_event() {
    let parsed = parse(&encode(
        Bedrock::new(),
        &text_reply(&["x"])[..2],
        End::Fail(Error::new(ErrorKind::ModelStream, "boom")),
    ));
    assert_eq!(parsed.last().unwrap().event, "error");
    assert_eq!(
        common::json(&parsed.last().unwrap().data),
        json!({"error": {"kind": "model_stream_error", "message": "boom", "status": 502, "retryable": true}})
    );
}
