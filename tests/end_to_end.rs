//! The whole path: the real AWS SDK decoding the mock's event-stream wire,
//! our stream adapter, and an independent SSE parser on the bytes.
#![cfg(feature = "mock")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_sse::mock::{MockBedrock, Reply};
use bedrock_sse::{
    events, Bedrock, Dialect, Error, ErrorKind, OpenAi, Options, Outcome, SseStream, Summary, Text,
};
use common::{json, parse_chunks, Parsed};
use futures::StreamExt;

const MODEL: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

async fn send(
    mock: &MockBedrock,
    prompt: &str,
) -> Result<aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput, Error> {
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(prompt.to_owned()))
        .build()
        .unwrap();
    Ok(mock
        .client()
        .converse_stream()
        .model_id(MODEL)
        .messages(message)
        .send()
        .await?)
}

async fn run<D: Dialect>(
    mock: &MockBedrock,
    prompt: &str,
    dialect: D,
    options: Options,
) -> (Vec<Parsed>, Summary) {
    let output = send(mock, prompt).await.expect("the stream starts");
    let summary = Arc::new(Mutex::new(None));
    let sink = summary.clone();
    let frames: Vec<_> = SseStream::new(events(output.stream), dialect)
        .options(options)
        .on_complete(move |s| *sink.lock().unwrap() = Some(s))
        .map(Result::unwrap)
        .collect()
        .await;
    let summary = summary
        .lock()
        .unwrap()
        .take()
        .expect("the summary was reported");
    (parse_chunks(frames), summary)
}

fn messages(events: &[Parsed]) -> String {
    events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.data.as_str())
        .collect()
}

#[tokio::test]
async fn echo_streams_the_prompt_back_with_usage() {
    let mock = MockBedrock::start().await.unwrap();
    let prompt = "Hello there, streaming world";
    let (events, summary) = run(&mock, prompt, Text::new(), Options::new()).await;
    assert_eq!(messages(&events), prompt);
    assert!(
        events.iter().filter(|e| e.event == "message").count() > 1,
        "several deltas"
    );
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(json(&done.data)["stopReason"], "end_turn");
    assert_eq!(summary.outcome, Outcome::Completed);
    let usage = summary.usage.unwrap();
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert!(usage.output_tokens > 0);
    assert!(summary.time_to_first_token.is_some());
    assert_eq!(mock.requests()[0].model_id, MODEL);
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn unicode_and_line_breaks_survive_the_whole_path() {
    let mock = MockBedrock::builder()
        .reply(Reply::Unicode)
        .start()
        .await
        .unwrap();
    let (events, _) = run(&mock, "anything", Text::new(), Options::new()).await;
    let expected = Reply::UNICODE_DELTAS
        .concat()
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    assert_eq!(messages(&events), expected);
    assert_eq!(events.last().unwrap().event, "done");
}

#[tokio::test]
async fn tool_calls_reach_openai_clients_intact() {
    let mock = MockBedrock::start().await.unwrap();
    let (events, summary) = run(
        &mock,
        "[mock:tools]",
        OpenAi::new(MODEL).include_usage(true),
        Options::new(),
    )
    .await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<_> = events[..events.len() - 1]
        .iter()
        .map(|e| json(&e.data))
        .collect();
    let mut arguments = vec![String::new(); 2];
    let mut names = vec![None; 2];
    for chunk in &chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap() as usize;
            arguments[index].push_str(call["function"]["arguments"].as_str().unwrap());
            if let Some(name) = call["function"]["name"].as_str() {
                names[index] = Some(name.to_owned());
            }
        }
    }
    assert_eq!(
        names,
        [Some("get_weather".to_owned()), Some("get_time".to_owned())]
    );
    assert_eq!(json(&arguments[0]), serde_json::json!({"city": "Paris"}));
    assert_eq!(json(&arguments[1]), serde_json::json!({}));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks.last().unwrap()["choices"], serde_json::json!([]));
    assert_eq!(summary.stop_reason.as_deref(), Some("tool_use"));
}

#[tokio::test]
async fn reasoning_with_signature_and_redacted_content_in_the_bedrock_dialect() {
    let mock = MockBedrock::builder()
        .reply(Reply::Reasoning)
        .start()
        .await
        .unwrap();
    let (events, _) = run(&mock, "think", Bedrock::new(), Options::new()).await;
    let deltas: Vec<_> = events
        .iter()
        .filter(|e| e.event == "contentBlockDelta")
        .map(|e| json(&e.data))
        .collect();
    let reasoning: String = deltas
        .iter()
        .filter_map(|d| d["delta"]["reasoningContent"]["text"].as_str())
        .collect();
    assert_eq!(reasoning, Reply::REASONING_TEXT);
    assert!(deltas
        .iter()
        .any(|d| d["delta"]["reasoningContent"]["signature"] == Reply::REASONING_SIGNATURE));
    let redacted = deltas
        .iter()
        .find_map(|d| d["delta"]["reasoningContent"]["redactedContent"].as_str())
        .expect("redacted content");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(redacted)
            .unwrap(),
        Reply::REDACTED_REASONING
    );
    assert_eq!(events.last().unwrap().event, "metadata");
}

#[tokio::test]
async fn metadata_before_message_stop_completes() {
    let mock = MockBedrock::builder()
        .reply(Reply::MetadataFirst)
        .start()
        .await
        .unwrap();
    let (events, summary) = run(&mock, "x", Text::new(), Options::new()).await;
    assert_eq!(events.last().unwrap().event, "done");
    assert_eq!(summary.outcome, Outcome::Completed);
    assert!(summary.usage.is_some());
}

#[tokio::test]
async fn every_in_stream_exception_is_one_error_frame_of_its_kind() {
    let mock = MockBedrock::start().await.unwrap();
    let cases = [
        ("throttlingException", ErrorKind::Throttling, 429, true),
        (
            "modelStreamErrorException",
            ErrorKind::ModelStream,
            502,
            true,
        ),
        (
            "internalServerException",
            ErrorKind::InternalServer,
            502,
            true,
        ),
        (
            "serviceUnavailableException",
            ErrorKind::ServiceUnavailable,
            503,
            true,
        ),
        ("validationException", ErrorKind::Validation, 400, false),
        ("somethingNewException", ErrorKind::Unknown, 502, false),
    ];
    for (exception, kind, status, retryable) in cases {
        let prompt = format!("[mock:stream-error 2 {exception} it broke]");
        let (events, summary) = run(&mock, &prompt, Text::new(), Options::new()).await;
        assert_eq!(messages(&events), "tok0 tok1 ", "{exception}");
        let errors: Vec<_> = events.iter().filter(|e| e.event == "error").collect();
        assert_eq!(errors.len(), 1, "{exception}");
        assert_eq!(
            events.last().unwrap().event,
            "error",
            "nothing after the error"
        );
        let error = &json(&errors[0].data)["error"];
        assert_eq!(error["kind"], kind.as_str(), "{exception}");
        assert_eq!(error["status"], status, "{exception}");
        assert_eq!(error["retryable"], retryable, "{exception}");
        if kind != ErrorKind::Unknown {
            assert_eq!(error["message"], "it broke", "{exception}");
        }
        assert_eq!(summary.outcome, Outcome::Failed(kind));
    }
}

#[tokio::test]
async fn openai_clients_get_the_error_object_and_no_done() {
    let mock = MockBedrock::start().await.unwrap();
    let (events, _) = run(
        &mock,
        "[mock:stream-error 1 throttlingException]",
        OpenAi::new(MODEL),
        Options::new(),
    )
    .await;
    let last = json(&events.last().unwrap().data);
    assert_eq!(last["error"]["type"], "rate_limit_error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn errors_before_the_stream_map_to_http_statuses() {
    let mock = MockBedrock::start().await.unwrap();
    let cases = [
        (400, "ValidationException", ErrorKind::Validation, 400),
        (403, "AccessDeniedException", ErrorKind::AccessDenied, 403),
        (404, "ResourceNotFoundException", ErrorKind::NotFound, 404),
        (429, "ThrottlingException", ErrorKind::Throttling, 429),
        (
            429,
            "ServiceQuotaExceededException",
            ErrorKind::QuotaExceeded,
            429,
        ),
        (429, "ModelNotReadyException", ErrorKind::ModelNotReady, 503),
        (
            503,
            "ServiceUnavailableException",
            ErrorKind::ServiceUnavailable,
            503,
        ),
        (408, "ModelTimeoutException", ErrorKind::ModelTimeout, 504),
        (
            500,
            "InternalServerException",
            ErrorKind::InternalServer,
            502,
        ),
        (424, "ModelErrorException", ErrorKind::ModelError, 502),
    ];
    for (http_status, error_type, kind, status) in cases {
        let error = send(
            &mock,
            &format!("[mock:http-error {http_status} {error_type} nope]"),
        )
        .await
        .expect_err(error_type);
        assert_eq!(error.kind(), kind, "{error_type}: {error}");
        assert_eq!(error.status(), status, "{error_type}");
        assert_eq!(error.message(), "nope", "{error_type}");
        assert_eq!(json(&error.to_json())["error"]["kind"], kind.as_str());
    }
}

#[tokio::test]
async fn an_unreachable_bedrock_is_a_transport_error() {
    let mock = MockBedrock::start().await.unwrap();
    let client = mock.client();
    drop(mock);
    let error: Error = client
        .converse_stream()
        .model_id(MODEL)
        .send()
        .await
        .expect_err("nothing listens any more")
        .into();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_eq!(error.status(), 502);
}

#[tokio::test]
async fn a_cut_connection_is_a_transport_error_frame() {
    let mock = MockBedrock::start().await.unwrap();
    let (events, summary) = run(&mock, "[mock:cut 3]", Text::new(), Options::new()).await;
    assert_eq!(messages(&events), "tok0 tok1 tok2 ");
    let error = json(&events.last().unwrap().data);
    assert_eq!(error["error"]["kind"], "transport");
    assert_eq!(summary.outcome, Outcome::Failed(ErrorKind::Transport));
}

#[tokio::test]
async fn an_upstream_that_ends_early_is_truncated() {
    let mock = MockBedrock::start().await.unwrap();
    let (events, summary) = run(
        &mock,
        "[mock:end-without-stop 2]",
        Text::new(),
        Options::new(),
    )
    .await;
    assert_eq!(
        json(&events.last().unwrap().data)["error"]["kind"],
        "truncated"
    );
    assert_eq!(summary.outcome, Outcome::Truncated);
}

#[tokio::test]
async fn a_stalled_upstream_times_out_and_is_closed() {
    let mock = MockBedrock::start().await.unwrap();
    let options = Options::new()
        .heartbeat(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(700)));
    let (events, summary) = run(&mock, "[mock:stall 2]", Text::new(), options).await;
    assert_eq!(messages(&events), "tok0 tok1 ");
    assert_eq!(
        json(&events.last().unwrap().data)["error"]["kind"],
        "idle_timeout"
    );
    assert_eq!(summary.outcome, Outcome::TimedOut(ErrorKind::IdleTimeout));
    assert!(
        summary.frames > 4,
        "heartbeats were sent while waiting: {}",
        summary.frames
    );
    wait_for(|| mock.streams_abandoned() == 1).await;
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let mock = MockBedrock::start().await.unwrap();
    let output = send(&mock, "[mock:long 500 pace=10]").await.unwrap();
    let summary = Arc::new(Mutex::new(None));
    let sink = summary.clone();
    let mut stream = Box::pin(
        SseStream::new(events(output.stream), Text::new())
            .on_complete(move |s| *sink.lock().unwrap() = Some(s)),
    );
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    assert_eq!(
        summary.lock().unwrap().as_ref().unwrap().outcome,
        Outcome::Cancelled
    );
    wait_for(|| mock.streams_abandoned() == 1).await;
    assert_eq!(mock.streams_completed(), 0);
}

/// Waits up to a second for a condition the mock reports.
async fn wait_for(condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
