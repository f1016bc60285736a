//! Properties over arbitrary text: what a WHATWG parser we did not write gets
//! back from our frames.

mod common;

use bedrock_sse::{Bedrock, OpenAi, Text};
use bytes::Bytes;
use common::*;
use proptest::prelude::*;

/// SSE turns CR and CRLF into LF; nothing else changes.
fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text rich in what breaks naive SSE writers.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just(" ".to_owned()),
        Just("data: x".to_owned()),
        Just(": c".to_owned()),
        Just("event: e".to_owned()),
        Just("id: 1".to_owned()),
        Just("日本語".to_owned()),
        Just("👩‍👩‍👧".to_owned()),
        Just("\u{feff}".to_owned()),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn frames<D: bedrock_sse::Dialect>(dialect: D, deltas: &[String]) -> Vec<Bytes> {
    let pieces: Vec<&str> = deltas.iter().map(String::as_str).collect();
    let sse = encode(dialect, &text_reply(&pieces), End::Finish);
    // Hand the parser the bytes in awkward pieces, splitting inside
    // characters and between CR and LF.
    sse.as_bytes()
        .chunks(7)
        .map(Bytes::copy_from_slice)
        .collect()
}

proptest! {
    // Cheap cases; more of them find rarer orders of CR, LF and empty deltas.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn one_text_delta_arrives_as_one_event_with_the_same_text(delta in tricky_text()) {
        let events = parse_chunks(frames(Text::new(), std::slice::from_ref(&delta)));
        let messages: Vec<_> = events.iter().filter(|e| e.event == "message").collect();
        if delta.is_empty() {
            prop_assert!(messages.is_empty());
        } else {
            prop_assert_eq!(messages.len(), 1);
            prop_assert_eq!(&messages[0].data, &normalized(&delta));
        }
        prop_assert_eq!(&events.last().unwrap().event, "done");
    }

    #[test]
    fn many_deltas_reassemble_to_the_whole_text(deltas in proptest::collection::vec(tricky_text(), 0..8)) {
        let events = parse_chunks(frames(Text::new(), &deltas));
        let joined: String = events
            .iter()
            .filter(|e| e.event == "message")
            .map(|e| e.data.as_str())
            .collect();
        prop_assert_eq!(joined, normalized(&deltas.concat()));
    }

    #[test]
    fn bedrock_frames_are_json_and_keep_text_exactly(deltas in proptest::collection::vec(tricky_text(), 0..5)) {
        let events = parse_chunks(frames(Bedrock::new(), &deltas));
        let mut text = String::new();
        for event in &events {
            let data: serde_json::Value = serde_json::from_str(&event.data)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", event.data)))?;
            if event.event == "contentBlockDelta" {
                text.push_str(data["delta"]["text"].as_str().unwrap());
            }
        }
        prop_assert_eq!(text, deltas.concat());
    }

    #[test]
    fn openai_frames_are_json_and_keep_text_exactly(deltas in proptest::collection::vec(tricky_text(), 0..5)) {
        let events = parse_chunks(frames(OpenAi::new("m").include_usage(true), &deltas));
        prop_assert_eq!(&events.last().unwrap().data, "[DONE]");
        let mut text = String::new();
        for event in &events[..events.len() - 1] {
            let data: serde_json::Value = serde_json::from_str(&event.data)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", event.data)))?;
            if let Some(content) = data["choices"][0]["delta"]["content"].as_str() {
                text.push_str(content);
            }
        }
        prop_assert_eq!(text, deltas.concat());
    }
}
