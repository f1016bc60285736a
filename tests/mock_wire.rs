//! The mock Bedrock, driven by the real `aws-sdk-bedrockruntime` client: every scripted reply
//! decodes to the Converse events and errors Bedrock itself would produce.
#![cfg(feature = "mock")]

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::{
    ConverseStreamError, ConverseStreamOutput as Output,
};
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput as Event, Message, ReasoningContentBlockDelta, StopReason,
    SystemContentBlock, TokenUsage,
};
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message as WireMessage;
use bedrock_sse::mock::{MockBedrock, Reply};

const MODEL: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

type StreamError = SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>;

/// Tells whether an SDK error is the expected variant.
type IsVariant<E> = fn(&E) -> bool;

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .expect("role and content are set")
}

async fn send(mock: &MockBedrock, prompt: &str) -> Result<Output, SdkError<ConverseStreamError>> {
    send_on(&mock.client(), prompt).await
}

/// Sends `prompt` with `client`, which may share its connections with other calls.
async fn send_on(
    client: &aws_sdk_bedrockruntime::Client,
    prompt: &str,
) -> Result<Output, SdkError<ConverseStreamError>> {
    client
        .converse_stream()
        .model_id(MODEL)
        .messages(user(prompt))
        .send()
        .await
}

async fn start(reply: Reply) -> MockBedrock {
    MockBedrock::builder()
        .reply(reply)
        .start()
        .await
        .expect("the mock starts")
}

/// Everything one stream gave: its events, and the error that ended it, if any.
struct Received {
    events: Vec<Event>,
    error: Option<StreamError>,
}

async fn receive(mut output: Output) -> Received {
    let mut events = Vec::new();
    loop {
        match output.stream.recv().await {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {
                return Received {
                    events,
                    error: None,
                }
            }
            Err(error) => {
                return Received {
                    events,
                    error: Some(error),
                }
            }
        }
    }
}

async fn converse(mock: &MockBedrock, prompt: &str) -> Received {
    receive(send(mock, prompt).await.expect("the request succeeds")).await
}

impl Received {
    fn kinds(&self) -> Vec<&'static str> {
        self.events
            .iter()
            .map(|event| match event {
                Event::MessageStart(_) => "messageStart",
                Event::ContentBlockStart(_) => "contentBlockStart",
                Event::ContentBlockDelta(_) => "contentBlockDelta",
                Event::ContentBlockStop(_) => "contentBlockStop",
                Event::MessageStop(_) => "messageStop",
                Event::Metadata(_) => "metadata",
                _ => "unknown",
            })
            .collect()
    }

    /// The deltas of block `index`, in order.
    fn deltas(&self, index: i32) -> Vec<&ContentBlockDelta> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::ContentBlockDelta(event) if event.content_block_index == index => {
                    event.delta.as_ref()
                }
                _ => None,
            })
            .collect()
    }

    fn text_deltas(&self, index: i32) -> Vec<&str> {
        self.deltas(index)
            .into_iter()
            .filter_map(|delta| match delta {
                ContentBlockDelta::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn text(&self, index: i32) -> String {
        self.text_deltas(index).concat()
    }

    fn tool_input(&self, index: i32) -> String {
        self.deltas(index)
            .into_iter()
            .filter_map(|delta| match delta {
                ContentBlockDelta::ToolUse(tool) => Some(tool.input.as_str()),
                _ => None,
            })
            .collect()
    }

    fn block_indices(&self) -> Vec<i32> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::ContentBlockDelta(event) => Some(event.content_block_index),
                _ => None,
            })
            .collect()
    }

    fn stop_reason(&self) -> Option<&StopReason> {
        self.events.iter().find_map(|event| match event {
            Event::MessageStop(stop) => Some(&stop.stop_reason),
            _ => None,
        })
    }

    fn usage(&self) -> Option<&TokenUsage> {
        self.events.iter().find_map(|event| match event {
            Event::Metadata(metadata) => metadata.usage.as_ref(),
            _ => None,
        })
    }

    fn stream_error(self) -> ConverseStreamOutputError {
        self.error
            .expect("the stream ended with an error")
            .into_service_error()
    }
}

/// Polls `condition` every 10 ms for up to a second.
async fn within_a_second(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

#[tokio::test]
async fn echo_streams_the_prompt_back_word_by_word_like_bedrock() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let prompt = "  Hello there,\tmock\nBedrock!  ";
    let received = converse(&mock, prompt).await;

    assert!(received.error.is_none());
    let kinds = received.kinds();
    assert_eq!(kinds.first(), Some(&"messageStart"));
    assert!(
        !kinds.contains(&"contentBlockStart"),
        "text blocks get no contentBlockStart"
    );
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    assert!(
        matches!(&received.events[0], Event::MessageStart(start) if start.role == ConversationRole::Assistant)
    );
    assert_eq!(
        received.text_deltas(0),
        ["  Hello ", "there,\t", "mock\n", "Bedrock!  "]
    );
    assert_eq!(received.text(0), prompt);
    assert_eq!(received.stop_reason(), Some(&StopReason::EndTurn));

    let usage = received.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (4, 4, 8)
    );
    assert_eq!(usage.cache_read_input_tokens, Some(0));
    assert_eq!(usage.cache_write_input_tokens, Some(0));
    let Some(Event::Metadata(metadata)) = received.events.last() else {
        panic!("metadata comes last");
    };
    assert!(metadata.metrics.is_some(), "latencyMs is sent");
    assert_eq!(
        (
            mock.streams_started(),
            mock.streams_completed(),
            mock.streams_open()
        ),
        (1, 1, 0)
    );
    assert_eq!(mock.streams_abandoned(), 0);
}

#[tokio::test]
async fn usage_counts_the_system_prompt_and_every_message() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let assistant = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text("an earlier answer".into()))
        .build()
        .expect("valid");
    let output = mock
        .client()
        .converse_stream()
        .model_id(MODEL)
        .system(SystemContentBlock::Text("Be brief.".into()))
        .messages(user("first question"))
        .messages(assistant)
        .messages(user("and now?"))
        .send()
        .await
        .expect("the request succeeds");
    let received = receive(output).await;
    assert_eq!(received.text(0), "and now?");
    let usage = received.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (9, 2, 11)
    );
}

#[tokio::test]
async fn fixed_text_is_split_on_char_boundaries() {
    let text = "日本語の文章と絵文字👨‍👩‍👧‍👦です\r\nおわり";
    let mock = start(Reply::Text(text.to_owned())).await;
    let received = converse(&mock, "anything").await;
    assert!(received.text_deltas(0).len() > 3);
    assert_eq!(received.text(0), text);
    assert_eq!(received.stop_reason(), Some(&StopReason::EndTurn));
}

#[tokio::test]
async fn the_unicode_preset_arrives_delta_for_delta() {
    let mock = start(Reply::Unicode).await;
    let received = converse(&mock, "anything").await;
    assert!(received.error.is_none());
    assert_eq!(received.text_deltas(0), Reply::UNICODE_DELTAS);
    let text = received.text(0);
    for needle in [
        "日本語",
        "👨‍👩‍👧‍👦",
        "\r\n",
        "\ndata:",
        "\n: ",
        "\nevent:",
        "id:",
        "\n   three",
        "\n\n",
    ] {
        assert!(text.contains(needle), "{needle:?} is in the preset");
    }
}

#[tokio::test]
async fn tool_use_blocks_are_interleaved_by_index() {
    let mock = start(Reply::ToolUse).await;
    let received = converse(&mock, "What's the weather in Paris, and the time?").await;
    assert!(received.error.is_none());

    assert_eq!(received.text(0), Reply::TOOL_USE_TEXT);
    let starts: Vec<(i32, &str, &str)> = received
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ContentBlockStart(start) => match &start.start {
                Some(ContentBlockStart::ToolUse(tool)) => Some((
                    start.content_block_index,
                    tool.tool_use_id.as_str(),
                    tool.name.as_str(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [
            (1, Reply::TOOL_USE_ID, "get_weather"),
            (2, Reply::SECOND_TOOL_USE_ID, "get_time")
        ]
    );
    assert_eq!(received.tool_input(1), r#"{"city":"Paris"}"#);
    assert!(
        received.deltas(1).len() >= 3,
        "the input comes in fragments"
    );
    assert_eq!(received.tool_input(2), "", "an empty input stands for {{}}");

    let tool_indices: Vec<i32> = received
        .block_indices()
        .into_iter()
        .filter(|index| *index > 0)
        .collect();
    assert_eq!(
        tool_indices,
        [1, 2, 1, 1],
        "fragments of the two tools are interleaved"
    );
    assert_eq!(received.stop_reason(), Some(&StopReason::ToolUse));
    let usage = received.usage().expect("usage");
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
}

#[tokio::test]
async fn reasoning_has_text_a_signature_and_redacted_content() {
    let mock = start(Reply::Reasoning).await;
    let received = converse(&mock, "Think first.").await;
    assert!(received.error.is_none());

    let reasoning = |index| -> Vec<&ReasoningContentBlockDelta> {
        received
            .deltas(index)
            .into_iter()
            .filter_map(|delta| match delta {
                ContentBlockDelta::ReasoningContent(reasoning) => Some(reasoning),
                _ => None,
            })
            .collect()
    };
    let first = reasoning(0);
    let thought: String = first
        .iter()
        .filter_map(|delta| match delta {
            ReasoningContentBlockDelta::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(thought, Reply::REASONING_TEXT);
    assert!(first.len() > 2);
    assert!(
        matches!(first.last(), Some(ReasoningContentBlockDelta::Signature(signature)) if signature == Reply::REASONING_SIGNATURE)
    );

    let second = reasoning(1);
    assert!(
        matches!(second.first(), Some(ReasoningContentBlockDelta::RedactedContent(bytes)) if bytes.as_ref() == Reply::REDACTED_REASONING),
        "the second block starts with redacted content: {second:?}"
    );
    assert_eq!(received.text(2), Reply::REASONING_ANSWER);
    assert_eq!(received.stop_reason(), Some(&StopReason::EndTurn));
    assert!(!received.kinds().contains(&"contentBlockStart"));
}

#[tokio::test]
async fn metadata_can_come_before_message_stop() {
    let mock = start(Reply::MetadataFirst).await;
    let received = converse(&mock, "anything").await;
    assert_eq!(received.text(0), Reply::METADATA_FIRST_TEXT);
    let kinds = received.kinds();
    assert_eq!(kinds[kinds.len() - 2..], ["metadata", "messageStop"]);
    assert!(received.usage().is_some());
}

#[tokio::test]
async fn long_replies_stream_every_delta() {
    let mock = start(Reply::Long { deltas: 2000 }).await;
    let received = converse(&mock, "anything").await;
    assert!(received.error.is_none());
    let deltas = received.text_deltas(0);
    assert_eq!(deltas.len(), 2000);
    assert_eq!((deltas[0], deltas[1999]), ("tok0 ", "tok1999 "));
    assert_eq!(received.usage().expect("usage").output_tokens, 2000);
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn pace_pauses_between_events() {
    // Nine events (start, five deltas, block stop, message stop, metadata): eight pauses.
    let mock = MockBedrock::builder()
        .reply(Reply::Long { deltas: 5 })
        .pace(Duration::from_millis(30))
        .start()
        .await
        .expect("the mock starts");
    let began = Instant::now();
    let received = converse(&mock, "anything").await;
    assert_eq!(received.events.len(), 9);
    assert!(began.elapsed() >= Duration::from_millis(240));

    let began = Instant::now();
    let received = converse(&mock, "[mock:long 5 pace=0]").await;
    assert_eq!(received.events.len(), 9);
    let unpaced = began.elapsed();

    let began = Instant::now();
    let received = converse(&mock, "[mock:pace=40 echo] one two three").await;
    assert_eq!(received.text(0), "one two three");
    assert!(
        began.elapsed() >= Duration::from_millis(240),
        "a directive sets the pace"
    );
    assert!(unpaced < began.elapsed());
}

#[tokio::test]
async fn http_errors_map_to_the_sdk_error_variants() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let cases: [(u16, &str, IsVariant<ConverseStreamError>); 10] = [
        (429, "ThrottlingException", |e| {
            matches!(e, ConverseStreamError::ThrottlingException(_))
        }),
        (400, "ValidationException", |e| {
            matches!(e, ConverseStreamError::ValidationException(_))
        }),
        (403, "AccessDeniedException", |e| {
            matches!(e, ConverseStreamError::AccessDeniedException(_))
        }),
        (404, "ResourceNotFoundException", |e| {
            matches!(e, ConverseStreamError::ResourceNotFoundException(_))
        }),
        (503, "ServiceUnavailableException", |e| {
            matches!(e, ConverseStreamError::ServiceUnavailableException(_))
        }),
        (424, "ModelErrorException", |e| {
            matches!(e, ConverseStreamError::ModelErrorException(_))
        }),
        (408, "ModelTimeoutException", |e| {
            matches!(e, ConverseStreamError::ModelTimeoutException(_))
        }),
        (429, "ModelNotReadyException", |e| {
            matches!(e, ConverseStreamError::ModelNotReadyException(_))
        }),
        (500, "InternalServerException", |e| {
            matches!(e, ConverseStreamError::InternalServerException(_))
        }),
        // The SDK models no ServiceQuotaExceededException for ConverseStream: it is unhandled,
        // recognisable by its code.
        (429, "ServiceQuotaExceededException", |e| {
            e.code() == Some("ServiceQuotaExceededException")
                && e.meta().message() == Some("quota reached")
        }),
    ];
    for (status, error_type, is_expected) in cases {
        let prompt = format!("[mock:http-error {status} {error_type} quota reached]");
        let error = send(&mock, &prompt).await.expect_err("an HTTP error");
        let raw_status = error
            .raw_response()
            .map(|response| response.status().as_u16());
        assert_eq!(raw_status, Some(status), "{error_type}");
        let error = error.into_service_error();
        assert!(is_expected(&error), "{error_type} gave {error:?}");
        assert_eq!(error.code(), Some(error_type));
        assert_eq!(error.message(), Some("quota reached"));
    }
    assert_eq!(mock.requests().len(), 10);
    assert_eq!(mock.streams_started(), 0, "HTTP errors are not streams");
}

#[tokio::test]
async fn a_default_http_error_reply_fails_every_request() {
    let mock = start(Reply::HttpError {
        status: 429,
        error_type: "ThrottlingException".into(),
        message: "Too many requests, please wait before trying again.".into(),
    })
    .await;
    let error = send(&mock, "hello")
        .await
        .expect_err("throttled")
        .into_service_error();
    assert!(error.is_throttling_exception());
    assert_eq!(
        error.message(),
        Some("Too many requests, please wait before trying again.")
    );
}

#[tokio::test]
async fn stream_exceptions_map_to_the_sdk_error_variants() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let cases: [(&str, IsVariant<ConverseStreamOutputError>); 5] = [
        ("throttlingException", |e| e.is_throttling_exception()),
        ("internalServerException", |e| {
            e.is_internal_server_exception()
        }),
        ("serviceUnavailableException", |e| {
            e.is_service_unavailable_exception()
        }),
        ("validationException", |e| e.is_validation_exception()),
        ("modelStreamErrorException", |e| match e {
            ConverseStreamOutputError::ModelStreamErrorException(error) => {
                error.original_status_code() == Some(500) && error.original_message().is_some()
            }
            _ => false,
        }),
    ];
    for (exception, is_expected) in cases {
        let received = converse(
            &mock,
            &format!("[mock:stream-error 2 {exception} it went wrong]"),
        )
        .await;
        assert_eq!(received.text(0), "tok0 tok1 ", "{exception}");
        assert!(!received.kinds().contains(&"messageStop"));
        let error = received.stream_error();
        assert!(is_expected(&error), "{exception} gave {error:?}");
        assert_eq!(error.message(), Some("it went wrong"));
    }
    assert_eq!(mock.streams_completed(), 5);
}

#[tokio::test]
async fn an_unknown_stream_exception_is_unhandled_with_its_message() {
    let mock = start(Reply::StreamError {
        after: 1,
        exception: "brandNewException".into(),
        message: "something new".into(),
    })
    .await;
    let received = converse(&mock, "anything").await;
    assert_eq!(received.text(0), "tok0 ");
    let error = received.stream_error();
    assert!(
        !(error.is_throttling_exception()
            || error.is_internal_server_exception()
            || error.is_service_unavailable_exception()
            || error.is_validation_exception()
            || error.is_model_stream_error_exception()),
        "{error:?}"
    );
    assert_eq!(error.message(), Some("something new"));
}

#[tokio::test]
async fn a_cut_connection_is_an_error_from_recv() {
    let mock = start(Reply::Cut { after: 3 }).await;
    let received = converse(&mock, "anything").await;
    assert_eq!(received.text(0), "tok0 tok1 tok2 ");
    let error = received.error.expect("the cut surfaces as an error");
    assert!(
        !matches!(error, SdkError::ServiceError(_)),
        "a transport error: {error:?}"
    );
    assert!(within_a_second(|| mock.streams_completed() == 1).await);
    assert_eq!(mock.streams_abandoned(), 0);
}

#[tokio::test]
async fn a_truncated_upstream_ends_cleanly_without_message_stop() {
    let mock = start(Reply::EndWithoutStop { after: 3 }).await;
    let received = converse(&mock, "anything").await;
    assert!(received.error.is_none());
    assert_eq!(
        received.kinds(),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta"
        ]
    );
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn dropping_a_stalled_stream_counts_as_abandoned() {
    let mock = start(Reply::Stall { after: 2 }).await;
    let mut output = send(&mock, "anything").await.expect("the request succeeds");
    for _ in 0..3 {
        output
            .stream
            .recv()
            .await
            .expect("an event")
            .expect("not the end");
    }
    let next = tokio::time::timeout(Duration::from_millis(200), output.stream.recv()).await;
    assert!(next.is_err(), "the stream stalls");
    assert_eq!((mock.streams_open(), mock.streams_abandoned()), (1, 0));

    drop(output);
    assert!(within_a_second(|| mock.streams_abandoned() == 1).await);
    assert_eq!((mock.streams_open(), mock.streams_completed()), (0, 0));
}

#[tokio::test]
async fn dropping_a_paced_stream_mid_reply_counts_as_abandoned() {
    let mock = MockBedrock::builder()
        .reply(Reply::Long { deltas: 1000 })
        .pace(Duration::from_millis(5))
        .start()
        .await
        .expect("the mock starts");
    let mut output = send(&mock, "anything").await.expect("the request succeeds");
    for _ in 0..5 {
        output
            .stream
            .recv()
            .await
            .expect("an event")
            .expect("not the end");
    }
    drop(output);
    assert!(within_a_second(|| mock.streams_abandoned() == 1).await);
    assert_eq!(mock.streams_completed(), 0);
}

#[tokio::test]
async fn requests_are_recorded_with_model_id_body_and_headers() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let received = converse(&mock, "record me").await;
    assert!(received.error.is_none());

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.model_id, MODEL, "percent-decoded from the path");
    assert_eq!(request.body["messages"][0]["role"], "user");
    assert_eq!(
        request.body["messages"][0]["content"][0]["text"],
        "record me"
    );
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert!(request
        .header("authorization")
        .is_some_and(|value| value.starts_with("AWS4-HMAC-SHA256")));
}

#[tokio::test]
async fn directives_override_the_default_reply() {
    let mock = start(Reply::Long { deltas: 3 }).await;
    assert_eq!(
        converse(&mock, "no directive").await.text(0),
        "tok0 tok1 tok2 "
    );
    assert_eq!(
        converse(&mock, "[mock:echo] only this").await.text(0),
        "only this"
    );
    assert_eq!(converse(&mock, "[mock:text] fixed").await.text(0), "fixed");
    assert_eq!(
        converse(&mock, "[mock:tools]").await.stop_reason(),
        Some(&StopReason::ToolUse)
    );
    assert_eq!(
        converse(&mock, "[mock:unicode]").await.text_deltas(0),
        Reply::UNICODE_DELTAS
    );
    assert_eq!(
        converse(&mock, "[mock:reasoning]").await.text(2),
        Reply::REASONING_ANSWER
    );
    assert_eq!(
        converse(&mock, "[mock:metadata-first]")
            .await
            .kinds()
            .last(),
        Some(&"messageStop")
    );
    assert_eq!(
        converse(&mock, "[mock:long 7]").await.text_deltas(0).len(),
        7
    );
    assert_eq!(
        converse(&mock, "[mock:end-without-stop 1]")
            .await
            .kinds()
            .len(),
        2
    );
    assert!(converse(&mock, "[mock:cut 1]").await.error.is_some());
    let error = converse(&mock, "[mock:stream-error 0 throttlingException]")
        .await
        .stream_error();
    assert!(error.is_throttling_exception());
    let error = send(&mock, "[mock:http-error 403 AccessDeniedException]")
        .await
        .expect_err("denied");
    assert!(error.into_service_error().is_access_denied_exception());

    let mut stalled = send(&mock, "[mock:stall 0]")
        .await
        .expect("the request succeeds");
    assert!(stalled.stream.recv().await.expect("messageStart").is_some());
    assert!(
        tokio::time::timeout(Duration::from_millis(100), stalled.stream.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn invalid_directives_echo_the_whole_prompt() {
    let mock = start(Reply::Long { deltas: 3 }).await;
    for prompt in [
        "[mock:nope] hi",
        "[mock:long many]",
        "[mock:echo",
        "[mock:http-error 200 Fine]",
    ] {
        assert_eq!(converse(&mock, prompt).await.text(0), prompt);
    }
}

#[tokio::test]
async fn other_routes_and_bad_bodies_get_bedrock_errors() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let http = reqwest::Client::new();
    let url = mock.endpoint_url();

    let response = http
        .post(format!("{url}/model/m/converse"))
        .body("{}")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), 404);
    let error_type = response.headers()["x-amzn-errortype"]
        .to_str()
        .expect("ASCII");
    assert_eq!(
        error_type,
        "UnknownOperationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    );

    let converse_url = format!("{url}/model/m/converse-stream");
    let response = http.get(&converse_url).send().await.expect("a response");
    assert_eq!(response.status(), 404);

    for body in ["not json", "{}", r#"{"messages": []}"#] {
        let response = http
            .post(&converse_url)
            .body(body)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), 400, "{body}");
        assert!(response.headers()["x-amzn-errortype"]
            .to_str()
            .expect("ASCII")
            .starts_with("ValidationException:"));
        let json: serde_json::Value = response.json().await.expect("a JSON body");
        assert!(json["message"].is_string());
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(
        (requests[0].model_id.as_str(), requests[2].model_id.as_str()),
        ("", "m")
    );
    assert_eq!(requests[2].body, serde_json::Value::Null);
    assert_eq!(mock.streams_started(), 0);
}

#[tokio::test]
async fn the_raw_wire_is_a_valid_event_stream() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let body =
        serde_json::json!({"messages": [{"role": "user", "content": [{"text": "raw bytes"}]}]});
    let response = reqwest::Client::new()
        .post(format!("{}/model/m/converse-stream", mock.endpoint_url()))
        .json(&body)
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let mut bytes = response.bytes().await.expect("the whole body");

    let mut decoder = MessageFrameDecoder::new();
    let mut messages: Vec<WireMessage> = Vec::new();
    while let DecodedFrame::Complete(message) =
        decoder.decode_frame(&mut bytes).expect("valid CRCs")
    {
        messages.push(message);
    }
    assert!(bytes.is_empty(), "nothing after the last frame");
    let header = |message: &WireMessage, name: &str| -> String {
        let header = message
            .headers()
            .iter()
            .find(|header| header.name().as_str() == name);
        let value = header.and_then(|header| header.value().as_string().ok());
        value
            .map(|value| value.as_str().to_owned())
            .unwrap_or_default()
    };
    let event_types: Vec<String> = messages
        .iter()
        .map(|message| header(message, ":event-type"))
        .collect();
    assert_eq!(
        event_types,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    for message in &messages {
        assert_eq!(header(message, ":message-type"), "event");
        assert_eq!(header(message, ":content-type"), "application/json");
        let payload: serde_json::Value = serde_json::from_slice(message.payload()).expect("JSON");
        assert!(payload["p"].is_string(), "padded like the real service");
    }
    let delta: serde_json::Value = serde_json::from_slice(messages[1].payload()).expect("JSON");
    assert_eq!(delta["contentBlockIndex"], 0);
    assert_eq!(delta["delta"]["text"], "raw ");
}

#[tokio::test]
async fn concurrent_streams_are_independent() {
    let mock = start(Reply::Long { deltas: 200 }).await;
    let client = mock.client();
    let calls = (0..8).map(|_| async {
        let output = send_on(&client, "go").await;
        receive(output.expect("the request succeeds")).await
    });
    for received in futures::future::join_all(calls).await {
        assert_eq!(received.text_deltas(0).len(), 200);
    }
    assert_eq!(
        (
            mock.streams_started(),
            mock.streams_completed(),
            mock.streams_open()
        ),
        (8, 8, 0)
    );
}

#[tokio::test]
async fn dropping_the_mock_shuts_the_server_down() {
    let mock = start(Reply::Stall { after: 0 }).await;
    let addr = mock.addr();
    let mut stalled = send(&mock, "anything").await.expect("the request succeeds");
    assert!(stalled.stream.recv().await.expect("messageStart").is_some());

    drop(mock);
    let next = tokio::time::timeout(Duration::from_secs(1), stalled.stream.recv()).await;
    assert!(
        !matches!(next, Ok(Ok(Some(_)))),
        "the open stream ends: {next:?}"
    );
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener is closed");
}

/// The real SDK, configured only by the standard environment, reaches the mock through
/// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`. The environment is set for a child process (this test
/// binary, running [`child_reaches_mock_through_the_environment`]) because changing the
/// environment of a multi-threaded test process is racy.
#[cfg(feature = "server")]
#[tokio::test]
async fn the_sdk_reaches_the_mock_through_the_standard_endpoint_variable() {
    let mock = MockBedrock::start().await.expect("the mock starts");
    let exe = std::env::current_exe().expect("the test binary");
    let output = tokio::process::Command::new(exe)
        .args([
            "child_reaches_mock_through_the_environment",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env_clear()
        .env(CHILD_MARKER, "1")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", mock.endpoint_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBEDROCKSSEMOCK")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "bedrock-sse-mock-secret-access-key",
        )
        .env("AWS_CONFIG_FILE", "/nonexistent/bedrock-sse/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/bedrock-sse/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        mock.requests()[0].body["messages"][0]["content"][0]["text"],
        "through the environment"
    );
    assert_eq!(mock.streams_completed(), 1);
}

#[cfg(feature = "server")]
const CHILD_MARKER: &str = "BEDROCK_SSE_MOCK_ENV_CHILD";

#[cfg(feature = "server")]
#[tokio::test]
#[ignore = "the child half of the_sdk_reaches_the_mock_through_the_standard_endpoint_variable"]
async fn child_reaches_mock_through_the_environment() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_bedrockruntime::Client::new(&config);
    let output = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("through the environment"))
        .send()
        .await
        .expect("the request reaches the mock");
    assert_eq!(receive(output).await.text(0), "through the environment");
}

/// Starts a mock that serves HTTPS (ALPN `h2`, `http/1.1`) with pacing.
async fn start_tls(pace: Duration) -> MockBedrock {
    MockBedrock::builder()
        .tls(true)
        .reply(Reply::Long { deltas: 20 })
        .pace(pace)
        .start()
        .await
        .expect("the mock starts")
}

#[tokio::test]
async fn over_tls_the_sdk_negotiates_http2_and_streams_the_same_events() {
    let mock = start_tls(Duration::ZERO).await;
    assert!(mock.endpoint_url().starts_with("https://127.0.0.1:"));
    let pem = mock
        .certificate_pem()
        .expect("a TLS mock has a certificate");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let received = converse(&mock, "[mock:echo] over TLS and HTTP/2").await;
    assert!(received.error.is_none(), "{:?}", received.error);
    assert_eq!(received.text(0), "over TLS and HTTP/2");
    assert_eq!(received.kinds().last(), Some(&"metadata"));
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].http_version, "HTTP/2.0");
    assert_eq!(mock.streams_completed(), 1);
}

#[tokio::test]
async fn over_http2_concurrent_streams_share_one_connection_and_each_ends_whole() {
    let mock = start_tls(Duration::from_millis(2)).await;
    let client = mock.client();
    // A burst of requests before any connection exists opens a connection each (ALPN says
    // which protocol only once one is up); after that, they share.
    let first = send_on(&client, "anything").await;
    assert!(receive(first.expect("the request succeeds"))
        .await
        .error
        .is_none());
    let streams = (0..50).map(|_| async {
        let output = send_on(&client, "anything").await;
        receive(output.expect("the request succeeds")).await
    });
    let received = futures::future::join_all(streams).await;
    for one in &received {
        assert!(one.error.is_none(), "{:?}", one.error);
        assert_eq!(
            one.kinds()
                .iter()
                .filter(|k| **k == "contentBlockDelta")
                .count(),
            20
        );
    }
    assert_eq!(mock.streams_completed(), 51);
    assert_eq!(
        mock.connections_accepted(),
        1,
        "HTTP/2 multiplexes the streams"
    );
}

#[tokio::test]
async fn over_http2_a_dropped_stream_is_abandoned_and_its_neighbours_go_on() {
    let mock = start_tls(Duration::from_millis(5)).await;
    let client = mock.client();
    let mut dropped = send_on(&client, "[mock:long 1000]").await.expect("sent");
    let kept = send_on(&client, "[mock:long 40]").await.expect("sent");
    for _ in 0..5 {
        dropped
            .stream
            .recv()
            .await
            .expect("an event")
            .expect("not the end");
    }
    drop(dropped);
    assert!(within_a_second(|| mock.streams_abandoned() == 1).await);

    let received = receive(kept).await;
    assert!(received.error.is_none(), "{:?}", received.error);
    assert_eq!(received.kinds().last(), Some(&"metadata"));
    assert_eq!(
        (mock.streams_completed(), mock.connections_accepted()),
        (1, 1)
    );
}

#[tokio::test]
async fn over_http2_a_cut_is_an_error_from_recv_for_that_stream_only() {
    let mock = start_tls(Duration::ZERO).await;
    let cut = converse(&mock, "[mock:cut 3]").await;
    assert!(cut.error.is_some(), "a reset stream is an error");
    let after = converse(&mock, "[mock:echo] still here").await;
    assert!(after.error.is_none(), "{:?}", after.error);
    assert_eq!(after.text(0), "still here");
}

#[tokio::test]
async fn clock_deltas_carry_the_time_they_were_sent() {
    let micros = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    };
    let mock = MockBedrock::start().await.expect("the mock starts");
    let before = micros();
    let received = converse(&mock, "[mock:clock 5 pace=20]").await;
    let after = micros();
    assert!(received.error.is_none(), "{:?}", received.error);
    let stamps: Vec<u128> = received
        .text_deltas(0)
        .iter()
        .map(|text| {
            let digits = text
                .strip_prefix('t')
                .and_then(|rest| rest.strip_suffix(' '))
                .unwrap_or_else(|| panic!("a clock delta: {text:?}"));
            digits.parse().expect("microseconds")
        })
        .collect();
    assert_eq!(stamps.len(), 5);
    assert!(
        stamps.windows(2).all(|pair| pair[1] >= pair[0] + 15_000),
        "{stamps:?}"
    );
    assert!(before <= stamps[0] && stamps[4] <= after);
    assert_eq!(received.kinds().last(), Some(&"metadata"));
}
