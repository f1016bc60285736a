//! The example servers, end to end: each test runs against both the axum and the warp
//! server, started as child processes on 127.0.0.1:0 against the mock Bedrock (embedded
//! with `--mock`, or running in the test and reached through
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`), driven by reqwest and an independent SSE parser.

#![cfg(feature = "server")]

#[path = "server/harness.rs"]
mod harness;

use std::time::Duration;

use bedrock_sse::mock::{MockBedrock, Reply};
use serde_json::{json, Value};

use harness::{error_body, events, eventually, next_event, server, sse, text_of, PATIENCE};

/// Each test, once per server.
macro_rules! for_both_servers {
    ($($test:ident),* $(,)?) => {
        mod axum_server {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test("axum-server").await;
                }
            )*
        }
        mod warp_server {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test("warp-server").await;
                }
            )*
        }
    };
}

for_both_servers!(
    health_answers_healthy,
    the_page_is_html,
    post_stream_answers_text_events,
    the_rich_body_reaches_converse,
    format_bedrock_sends_converse_events,
    format_openai_sends_chunks,
    get_stream_serves_event_source,
    unicode_survives_the_text_dialect,
    chat_completions_streams_with_usage,
    chat_completions_streams_tool_calls,
    chat_completions_answers_one_completion,
    chat_completions_translates_to_converse,
    bad_input_gets_json_errors,
    garbage_never_stops_the_server,
    bedrock_errors_before_the_stream_keep_their_status,
    bedrock_errors_during_the_stream_are_one_frame,
    a_client_that_leaves_cancels_bedrock,
    sigterm_lets_streams_finish,
    sigterm_ends_long_streams_at_the_deadline,
    overload_is_refused_at_once,
    streams_beyond_a_full_http2_connection_do_not_wait,
    a_quiet_upstream_gets_heartbeats,
    a_silent_upstream_times_out,
    logs_carry_request_ids_and_no_text,
    healthcheck_subcommand_reports_health,
);

async fn health_answers_healthy(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "healthy"}));
}

async fn the_page_is_html(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.to_ascii_lowercase().contains("<html"), "{page}");
}

async fn post_stream_answers_text_events(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .client
        .post(server.url("/stream"))
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, br, deflate")
        .body(r#"{"message":"hello streaming world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(headers.get("content-encoding").is_none(), "{headers:?}");
    assert!(headers.get("content-length").is_none(), "{headers:?}");

    let events = events(response).await;
    assert_eq!(text_of(&events), "hello streaming world");
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    let done: Value = serde_json::from_str(&done.data).unwrap();
    assert_eq!(done["stopReason"], "end_turn");
    assert_eq!(done["usage"]["inputTokens"], 3);
    assert_eq!(done["usage"]["outputTokens"], 3);
}

async fn the_rich_body_reaches_converse(example: &'static str) {
    let mock = MockBedrock::start().await.unwrap();
    let server = server(example)
        .upstream(&mock)
        .args(&["--model-id", "test-model", "--max-output-tokens", "100"])
        .start()
        .await;
    let response = server
        .post_json(
            "/stream",
            &json!({
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "second"},
                    {"role": "user", "content": "third question"}
                ],
                "system": "be brief",
                "max_tokens": 5000,
                "temperature": 0.25,
                "top_p": 0.5,
                "stop": ["STOP"]
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(text_of(&events(response).await), "third question");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].model_id, "test-model");
    let body = &requests[0].body;
    assert_eq!(body["system"], json!([{"text": "be brief"}]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "first"}]},
            {"role": "assistant", "content": [{"text": "second"}]},
            {"role": "user", "content": [{"text": "third question"}]}
        ])
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 100, "temperature": 0.25, "topP": 0.5, "stopSequences": ["STOP"]})
    );
}

async fn format_bedrock_sends_converse_events(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json("/stream?format=bedrock", &json!({"message": "one two"}))
        .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(response).await;
    let names: Vec<_> = events.iter().map(|event| event.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"messageStart"), "{names:?}");
    assert!(names.contains(&"contentBlockDelta"), "{names:?}");
    assert!(names.contains(&"messageStop"), "{names:?}");
    assert_eq!(names.last(), Some(&"metadata"), "{names:?}");
    let text: String = events
        .iter()
        .filter(|event| event.event == "contentBlockDelta")
        .map(|event| {
            let delta: Value = serde_json::from_str(&event.data).unwrap();
            delta["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "one two");
}

async fn format_openai_sends_chunks(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json("/stream?format=openai", &json!({"message": "one two"}))
        .await;
    let events = events(response).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|chunk| chunk["object"] == "chat.completion.chunk"));
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "one two");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

async fn get_stream_serves_event_source(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .client
        .get(server.url("/stream?message=hi%20there%20%26%20you&format=text"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(response).await;
    assert_eq!(text_of(&events), "hi there & you");
    assert_eq!(events.last().unwrap().event, "done");

    let response = server.get("/stream?format=openai&message=x").await;
    assert_eq!(events_last_data(response).await, "[DONE]");
}

async fn events_last_data(response: reqwest::Response) -> String {
    events(response).await.pop().unwrap().data
}

async fn unicode_survives_the_text_dialect(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json("/stream", &json!({"message": "[mock:unicode]"}))
        .await;
    let expected = Reply::UNICODE_DELTAS
        .concat()
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    assert_eq!(text_of(&events(response).await), expected);
}

async fn chat_completions_streams_with_usage(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({
                "model": "not-on-the-list",
                "messages": [{"role": "user", "content": "streamed words here"}],
                "stream": true,
                "stream_options": {"include_usage": true}
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(response).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(&event.data).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "streamed words here");
    assert!(chunks
        .iter()
        .all(|chunk| chunk["model"] == "global.anthropic.claude-haiku-4-5-20251001-v1:0"));
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    assert_eq!(usage["usage"]["total_tokens"], 6);
}

async fn chat_completions_streams_tool_calls(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({
                "messages": [{"role": "user", "content": "[mock:tools]"}],
                "tools": [weather_tool(), time_tool()],
                "stream": true
            }),
        )
        .await;
    let events = events(response).await;
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish_reason = None;
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(&event.data).unwrap();
        let choice = &chunk["choices"][0];
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish_reason = Some(reason.to_owned());
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap() as usize;
            if calls.len() <= index {
                calls.resize(index + 1, Default::default());
            }
            if let Some(id) = call["id"].as_str() {
                calls[index].0 = id.to_owned();
                calls[index].1 = call["function"]["name"].as_str().unwrap().to_owned();
            }
            calls[index].2 += call["function"]["arguments"].as_str().unwrap_or_default();
        }
    }
    assert_eq!(finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        calls,
        [
            (
                Reply::TOOL_USE_ID.to_owned(),
                "get_weather".to_owned(),
                r#"{"city":"Paris"}"#.to_owned()
            ),
            (
                Reply::SECOND_TOOL_USE_ID.to_owned(),
                "get_time".to_owned(),
                "{}".to_owned()
            ),
        ]
    );
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}
    }})
}

fn time_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_time"}})
}

async fn chat_completions_answers_one_completion(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "just one answer"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert!(completion["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &completion["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "just one answer");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(completion["usage"]["total_tokens"], 6);

    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({
                "messages": [{"role": "user", "content": "[mock:tools]"}],
                "tools": [weather_tool(), time_tool()],
                "stream": false
            }),
        )
        .await;
    let completion: Value = response.json().await.unwrap();
    let choice = &completion["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": Reply::TOOL_USE_ID, "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": Reply::SECOND_TOOL_USE_ID, "type": "function",
             "function": {"name": "get_time", "arguments": "{}"}}
        ])
    );
}

async fn chat_completions_translates_to_converse(example: &'static str) {
    let mock = MockBedrock::start().await.unwrap();
    let server = server(example)
        .upstream(&mock)
        .args(&["--model-id", "server-model", "--max-output-tokens", "500"])
        .env("ALLOWED_MODELS", "allowed-a,allowed-b")
        .start()
        .await;
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({
                "model": "allowed-b",
                "messages": [
                    {"role": "system", "content": "you are terse"},
                    {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                    {"role": "user", "content": "thanks"}
                ],
                "tools": [weather_tool()],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "max_completion_tokens": 9000,
                "max_tokens": 7,
                "temperature": 0.5,
                "top_p": 0.75,
                "stop": "END"
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["model"], "allowed-b");
    assert_eq!(completion["choices"][0]["message"]["content"], "thanks");

    let request = mock.requests().pop().unwrap();
    assert_eq!(request.model_id, "allowed-b");
    let body = request.body;
    assert_eq!(body["system"], json!([{"text": "you are terse"}]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "weather in Paris?"}]},
            {"role": "assistant", "content": [{"toolUse": {
                "toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                {"text": "thanks"}
            ]}
        ])
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 500, "temperature": 0.5, "topP": 0.75, "stopSequences": ["END"]})
    );
    let tool_config = &body["toolConfig"];
    assert_eq!(
        tool_config["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    let spec = &tool_config["tools"][0]["toolSpec"];
    assert_eq!(spec["name"], "get_weather");
    assert_eq!(spec["description"], "The weather in a city");
    assert_eq!(
        spec["inputSchema"]["json"]["properties"]["city"]["type"],
        "string"
    );

    // A model off the list gets the server's model.
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["model"], "server-model");
    assert_eq!(mock.requests().pop().unwrap().model_id, "server-model");
}

/// Method, path, content type, body, and the status it must get.
type BadRequest<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);

async fn bad_input_gets_json_errors(example: &'static str) {
    let server = server(example)
        .mock()
        .args(&[
            "--max-body-bytes",
            "2048",
            "--max-messages",
            "3",
            "--max-input-chars",
            "1000",
        ])
        .start()
        .await;
    let json_type = Some("application/json");
    let many_messages = json!({"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]})
    .to_string();
    let long_message = json!({"message": "x".repeat(1001)}).to_string();
    let large_body = json!({"message": "y".repeat(4000)}).to_string();
    let chat_many = json!({"messages": [
        {"role": "system", "content": "a"}, {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"}]})
    .to_string();
    let cases: Vec<BadRequest> = vec![
        ("POST", "/stream", json_type, b"{".to_vec(), 400),
        ("POST", "/stream", json_type, b"not json".to_vec(), 400),
        ("POST", "/stream", json_type, b"".to_vec(), 400),
        ("POST", "/stream", json_type, b"{}".to_vec(), 400),
        (
            "POST",
            "/stream",
            json_type,
            br#"{"message":""}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/stream",
            json_type,
            br#"{"message":"   "}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/stream",
            json_type,
            br#"{"message":7}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/stream",
            json_type,
            br#"{"messages":[]}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/stream",
            json_type,
            b"{\"message\":\"\xff\xfe\"}".to_vec(),
            400,
        ),
        (
            "POST",
            "/stream?format=xml",
            json_type,
            br#"{"message":"x"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/stream",
            Some("text/plain"),
            br#"{"message":"x"}"#.to_vec(),
            415,
        ),
        ("POST", "/stream", None, br#"{"message":"x"}"#.to_vec(), 415),
        (
            "POST",
            "/stream",
            json_type,
            large_body.clone().into_bytes(),
            413,
        ),
        (
            "POST",
            "/stream",
            json_type,
            many_messages.into_bytes(),
            422,
        ),
        ("POST", "/stream", json_type, long_message.into_bytes(), 422),
        ("GET", "/stream", None, Vec::new(), 400),
        ("GET", "/stream?message=", None, Vec::new(), 400),
        (
            "GET",
            "/stream?message=x&format=yaml",
            None,
            Vec::new(),
            400,
        ),
        (
            "POST",
            "/v1/chat/completions",
            json_type,
            b"[1,2".to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/chat/completions",
            json_type,
            br#"{"messages":"x"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/chat/completions",
            json_type,
            br#"{"messages":[]}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/chat/completions",
            Some("text/plain"),
            b"{}".to_vec(),
            415,
        ),
        (
            "POST",
            "/v1/chat/completions",
            json_type,
            large_body.into_bytes(),
            413,
        ),
        (
            "POST",
            "/v1/chat/completions",
            json_type,
            chat_many.into_bytes(),
            422,
        ),
        ("GET", "/nope", None, Vec::new(), 404),
        ("GET", "/v1/models", None, Vec::new(), 404),
        ("POST", "/stream/extra", json_type, b"{}".to_vec(), 404),
        ("DELETE", "/stream", None, Vec::new(), 405),
        ("PUT", "/stream", json_type, b"{}".to_vec(), 405),
        ("GET", "/v1/chat/completions", None, Vec::new(), 405),
        ("POST", "/health", json_type, b"{}".to_vec(), 405),
        ("POST", "/", json_type, b"{}".to_vec(), 405),
    ];
    for (method, path, content_type, body, status) in cases {
        let mut request = server
            .client
            .request(method.parse().unwrap(), server.url(path))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let error = error_body(response, status).await;
        assert_eq!(error["retryable"], false, "{method} {path}: {error}");
    }
    let response = server
        .client
        .delete(server.url("/stream"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert_eq!(allow, "GET, POST");

    // Still serving.
    assert_eq!(server.get("/health").await.status(), 200);
    let response = server.post_json("/stream", &json!({"message": "ok"})).await;
    assert_eq!(text_of(&events(response).await), "ok");
}

async fn garbage_never_stops_the_server(example: &'static str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = server(example).mock().start().await;
    let deep = "[".repeat(100_000);
    let bodies = [
        deep.as_str(),
        "{\"message\":\"\u{0}\u{1}\u{7f}\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\u{feff}\u{202e}x\"}]}",
        "{\"message\":\"x\",\"max_tokens\":1e400}",
        "{\"message\":\"x\",\"temperature\":\"hot\"}",
        "{\"message\":\"x\",\"stop\":{}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}",
        "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"\",\"function\":{\"name\":\"\",\"arguments\":\"[]\"}}]}]}",
        "\"just a string\"",
        "null",
    ];
    for body in bodies {
        for path in ["/stream", "/v1/chat/completions", "/stream?format=openai"] {
            let response = server
                .client
                .post(server.url(path))
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            // Valid-looking input reaches the mock (200, or Bedrock's verdict); the rest is
            // refused. Never a 5xx from the server itself.
            assert!(status < 500, "{path} {body:.80}: {status}");
            let _ = response.bytes().await;
        }
    }
    // Not HTTP at all.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut sink)).await;

    assert_eq!(server.get("/health").await.status(), 200);
}

async fn bedrock_errors_before_the_stream_keep_their_status(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json(
            "/stream",
            &json!({"message": "[mock:http-error 429 ThrottlingException slow down]"}),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "1");
    let error = error_body(response, 429).await;
    assert_eq!(error["kind"], "throttling");
    assert_eq!(error["message"], "slow down");
    assert_eq!(error["retryable"], true);

    let response = server
        .post_json(
            "/stream?format=openai",
            &json!({"message": "[mock:http-error 403 AccessDeniedException]"}),
        )
        .await;
    let error = error_body(response, 403).await;
    assert_eq!(error["kind"], "access_denied");
    assert_eq!(error["retryable"], false);

    for stream in [true, false] {
        let response = server
            .post_json(
                "/v1/chat/completions",
                &json!({"stream": stream, "messages": [{"role": "user",
                    "content": "[mock:http-error 400 ValidationException bad model]"}]}),
            )
            .await;
        let error = error_body(response, 400).await;
        assert_eq!(error["kind"], "validation");
    }
}

async fn bedrock_errors_during_the_stream_are_one_frame(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .post_json(
            "/stream",
            &json!({"message": "[mock:stream-error 2 throttlingException busy]"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    assert_eq!(text_of(&events), "tok0 tok1 ");
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    let error: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(error["error"]["kind"], "throttling");
    assert_eq!(
        events.iter().filter(|event| event.event == "error").count(),
        1
    );

    // Without a stream to carry it, the error is the status of the whole answer.
    let response = server
        .post_json(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "[mock:cut 2]"}]}),
        )
        .await;
    let error = error_body(response, 502).await;
    assert_eq!(error["retryable"], true);
}

async fn a_client_that_leaves_cancels_bedrock(example: &'static str) {
    let mock = MockBedrock::start().await.unwrap();
    let server = server(example).upstream(&mock).start().await;

    // After the first token.
    let response = server
        .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
        .await;
    let mut stream = sse(response);
    assert_eq!(next_event(&mut stream).await.unwrap().data, "tok0 ");
    assert_eq!(mock.streams_open(), 1);
    drop(stream);
    eventually("the mock sees the first stream abandoned", || {
        mock.streams_abandoned() == 1
    })
    .await;

    // Before the first token: only the response head has arrived.
    let response = server
        .post_json(
            "/stream?format=openai",
            &json!({"message": "[mock:stall 0]"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    drop(response);
    eventually("the mock sees the second stream abandoned", || {
        mock.streams_abandoned() == 2
    })
    .await;

    // A non-streaming completion whose client gives up.
    let request = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(json!({"messages": [{"role": "user", "content": "[mock:stall 1]"}]}).to_string())
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(request.is_err(), "the stalled completion cannot answer");
    eventually("the mock sees the third stream abandoned", || {
        mock.streams_abandoned() == 3
    })
    .await;

    let line = server
        .log_line(|line| line["outcome"] == "cancelled" && line["route"] == "/stream")
        .await;
    assert_eq!(line["status"], 200);
    assert_eq!(mock.streams_open(), 0);
}

async fn sigterm_lets_streams_finish(example: &'static str) {
    let mut server = server(example).mock().start().await;
    let response = server
        .post_json("/stream", &json!({"message": "[mock:long 30 pace=50]"}))
        .await;
    let mut stream = sse(response);
    assert_eq!(next_event(&mut stream).await.unwrap().data, "tok0 ");

    server.terminate();
    server
        .log_line(|line| {
            line["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("shutting down")
        })
        .await;
    // No new streams while draining: the connection is refused, or the request is.
    let late = server
        .client
        .post(server.url("/stream"))
        .header("content-type", "application/json")
        .body(r#"{"message":"late"}"#)
        .send()
        .await;
    if let Ok(late) = late {
        assert_eq!(late.status(), 503);
    }

    let mut rest = Vec::new();
    while let Some(event) = next_event(&mut stream).await {
        rest.push(event);
    }
    assert_eq!(text_of(&rest).split_whitespace().count(), 29);
    assert_eq!(rest.last().unwrap().event, "done");
    let status = server.exit_status().await;
    assert!(status.success(), "{status:?}");
}

async fn sigterm_ends_long_streams_at_the_deadline(example: &'static str) {
    let mut server = server(example)
        .mock()
        .args(&["--drain-secs", "1"])
        .start()
        .await;
    let response = server
        .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
        .await;
    let mut stream = sse(response);
    assert_eq!(next_event(&mut stream).await.unwrap().data, "tok0 ");

    server.terminate();
    let last = next_event(&mut stream).await.expect("the shutdown frame");
    assert_eq!(last.event, "error");
    let error: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(error["error"]["kind"], "shutting_down");
    assert_eq!(error["error"]["retryable"], true);
    assert!(next_event(&mut stream).await.is_none());
    let status = server.exit_status().await;
    assert!(status.success(), "{status:?}");
}

async fn overload_is_refused_at_once(example: &'static str) {
    let server = server(example)
        .mock()
        .env("MAX_CONCURRENT_STREAMS", "1")
        .start()
        .await;
    let first = server
        .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
        .await;
    let mut first = sse(first);
    next_event(&mut first).await.unwrap();

    for (path, body) in [
        ("/stream", json!({"message": "second"})),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "third"}]}),
        ),
    ] {
        let response = server.post_json(path, &body).await;
        assert_eq!(response.headers()["retry-after"], "1");
        let error = error_body(response, 503).await;
        assert_eq!(error["kind"], "overloaded");
        assert_eq!(error["retryable"], true);
    }
    // Health does not need a slot.
    assert_eq!(server.get("/health").await.status(), 200);

    drop(first);
    let started = std::time::Instant::now();
    loop {
        let response = server
            .post_json("/stream", &json!({"message": "again"}))
            .await;
        if response.status() == 200 {
            assert_eq!(text_of(&events(response).await), "again");
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(started.elapsed() < PATIENCE, "the slot was never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Over HTTP/2 a connection carries a limited number of streams; the server's next stream
/// must get another connection, not wait for one of them to end.
async fn streams_beyond_a_full_http2_connection_do_not_wait(example: &'static str) {
    let mock = MockBedrock::builder()
        .tls(true)
        .max_concurrent_streams(2)
        .start()
        .await
        .unwrap();
    let certificate = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mock-bedrock-{}.pem", mock.addr().port()));
    std::fs::write(&certificate, mock.certificate_pem().unwrap()).unwrap();
    let server = server(example)
        .upstream(&mock)
        .env("SSL_CERT_FILE", certificate.to_str().unwrap())
        .env("UPSTREAM_STREAMS_PER_CONNECTION", "2")
        .start()
        .await;

    let mut streams = Vec::new();
    for _ in 0..5 {
        let response = server
            .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
            .await;
        let mut stream = sse(response);
        assert_eq!(next_event(&mut stream).await.unwrap().data, "tok0 ");
        streams.push(stream);
    }
    assert_eq!(mock.streams_open(), 5);
    assert!(
        mock.connections_accepted() >= 3,
        "two streams to a connection"
    );
    assert!(mock
        .requests()
        .iter()
        .all(|request| request.http_version == "HTTP/2.0"));

    drop(streams);
    eventually("the mock sees every stream abandoned", || {
        mock.streams_abandoned() == 5
    })
    .await;
    let _ = std::fs::remove_file(certificate);
}

async fn a_quiet_upstream_gets_heartbeats(example: &'static str) {
    use futures::StreamExt;

    let server = server(example)
        .mock()
        .args(&["--heartbeat-secs", "1"])
        .start()
        .await;
    let response = server
        .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
        .await;
    // Comments are invisible to SSE parsers: read the bytes.
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("\n: keep-alive\n") {
        let chunk = tokio::time::timeout(PATIENCE, body.next())
            .await
            .expect("a heartbeat in time")
            .expect("the stream stays open")
            .unwrap();
        seen.extend_from_slice(&chunk);
    }
    let seen = String::from_utf8(seen).unwrap();
    assert!(seen.starts_with(": ok\n\n"), "{seen:?}");
    assert!(seen.contains("\ndata: tok0 \n\n"), "{seen:?}");
}

async fn a_silent_upstream_times_out(example: &'static str) {
    let server = server(example)
        .mock()
        .args(&["--upstream-idle-timeout-secs", "1"])
        .start()
        .await;
    let response = server
        .post_json("/stream", &json!({"message": "[mock:stall 1]"}))
        .await;
    let events = events(response).await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    let error: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(error["error"]["kind"], "idle_timeout");
}

async fn logs_carry_request_ids_and_no_text(example: &'static str) {
    let server = server(example).mock().start().await;
    let response = server
        .client
        .post(server.url("/stream"))
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "apigw-request-1")
        .header(
            "x-amzn-trace-id",
            "Root=1-5e1b4151-5ac6c58f5b5daa6532f0a8a5",
        )
        .body(r#"{"message":"confidential prompt words"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "apigw-request-1");
    assert_eq!(
        text_of(&events(response).await),
        "confidential prompt words"
    );
    let line = server
        .log_line(|line| line["request_id"] == "apigw-request-1")
        .await;
    assert_eq!(line["trace_id"], "Root=1-5e1b4151-5ac6c58f5b5daa6532f0a8a5");
    assert_eq!(line["route"], "/stream");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["status"], 200);
    assert_eq!(line["outcome"], "completed");
    assert_eq!(line["stop_reason"], "end_turn");
    assert_eq!(line["input_tokens"], 3);
    assert_eq!(line["output_tokens"], 3);
    assert!(line["ttft_ms"].is_number(), "{line}");
    assert!(line["duration_ms"].is_number(), "{line}");

    // Without API Gateway, a generated id; on refusals too.
    let response = server.post_json("/stream", &json!({"message": ""})).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);
    let line = server
        .log_line(|line| line["request_id"] == id.as_str())
        .await;
    assert_eq!(line["status"], 400);
    assert_eq!(line["error"], "invalid_request");

    for line in server.raw_logs() {
        assert!(!line.contains("confidential"), "{line}");
        assert!(!line.contains("prompt words"), "{line}");
    }
}

async fn healthcheck_subcommand_reports_health(example: &'static str) {
    let server = server(example).mock().start().await;
    let binary = server_binary(example);
    let port = server.addr.port().to_string();
    let status = tokio::task::spawn_blocking({
        let binary = binary.clone();
        move || {
            std::process::Command::new(binary)
                .arg("healthcheck")
                .env_clear()
                .env("PORT", port)
                .status()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");

    drop(server);
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(["healthcheck", "--port", &free_port])
            .env_clear()
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1));
}

fn server_binary(example: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(example)
}
