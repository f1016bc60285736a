//! The `text` dialect, checked byte for byte and through an independent parser.

mod common;

use aws_sdk_bedrockruntime::types::StopReason;
use bedrock_sse::{Error, ErrorKind, Text};
use common::*;

#[test]
fn each_delta_is_one_unnamed_event_and_done_carries_stop_reason_and_usage() {
    let sse = encode(Text::new(), &text_reply(&["Hello", ", world"]), End::Finish);
    assert_eq!(
        sse,
        "data: Hello\n\n\
         data: , world\n\n\
         event: done\n\
         data: {\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":10,\"outputTokens\":2,\"totalTokens\":12,\"cacheReadInputTokens\":3}}\n\n"
    );
}

#[test]
fn multi_line_deltas_reassemble_exactly_in_a_whatwg_parser() {
    let pieces = [
        "line one\nline two",
        "\n\n",
        " leading space",
        "a\r",
        "\nb",
        "\r\nc\rd",
    ];
    let events = parse(&encode(Text::new(), &text_reply(&pieces), End::Finish));
    let messages: Vec<_> = events
        .iter()
        .filter(|event| event.event == "message")
        .map(|event| event.data.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "line one\nline two",
            "\n\n",
            " leading space",
            "a\n",
            "b",
            "\nc\nd"
        ]
    );
    assert_eq!(events.last().unwrap().event, "done");
}

#[test]
fn lines_that_look_like_sse_fields_stay_text() {
    let tricky = "data: not a field\n: not a comment\nevent: nope\nid: 7\nretry: 1";
    let events = parse(&encode(Text::new(), &text_reply(&[tricky]), End::Finish));
    assert_eq!(events[0].event, "message");
    assert_eq!(events[0].data, tricky);
}

#[test]
fn empty_deltas_send_nothing() {
    let sse = encode(Text::new(), &text_reply(&["", "x", ""]), End::Finish);
    assert!(sse.starts_with("data: x\n\nevent: done\n"), "{sse}");
}

#[test]
fn reasoning_is_sent_only_when_asked() {
    let events = vec![
        message_start(),
        reasoning_text(0, "thinking\nhard"),
        reasoning_signature(0, "sig"),
        text(1, "answer"),
        message_stop(StopReason::EndTurn),
        metadata(1, 2),
    ];
    let without = parse(&encode(Text::new(), &events, End::Finish));
    assert_eq!(
        without.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["message", "done"]
    );
    let with = parse(&encode(
        Text::new().with_reasoning(true),
        &events,
        End::Finish,
    ));
    assert_eq!(with[0].event, "reasoning");
    assert_eq!(with[0].data, "thinking\nhard");
    assert_eq!(with[1].data, "answer");
}

#[test]
fn an_upstream_that_ends_early_is_a_truncated_error() {
    let events = &text_reply(&["Hel", "lo"])[..3];
    let parsed = parse(&encode(Text::new(), events, End::Finish));
    let error = parsed.last().unwrap();
    assert_eq!(error.event, "error");
    let body = json(&error.data);
    assert_eq!(body["error"]["kind"], "truncated");
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(parsed.iter().filter(|e| e.event == "done").count(), 0);
}

#[test]
fn message_stop_without_metadata_still_completes() {
    let events = &text_reply(&["Hi"])[..4];
    let parsed = parse(&encode(Text::new(), events, End::Finish));
    let done = parsed.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(
        json(&done.data),
        serde_json::json!({"stopReason": "end_turn"})
    );
}

#[test]
fn a_failure_is_one_error_event_and_nothing_after_the_end() {
    let error = Error::new(ErrorKind::Throttling, "slow down");
    let parsed = parse(&encode(
        Text::new(),
        &text_reply(&["a"])[..2],
        End::Fail(error.clone()),
    ));
    assert_eq!(parsed.len(), 2);
    assert_eq!(json(&parsed[1].data), json(&error.to_json()));

    // Once done was sent, a later failure writes nothing.
    let after_end = encode(Text::new(), &text_reply(&["a"]), End::Fail(error));
    assert_eq!(parse(&after_end).last().unwrap().event, "done");
    assert_eq!(after_end.matches("event: error").count(), 0);
}
