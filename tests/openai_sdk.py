"""The official `openai` Python package, unmodified, against POST /v1/chat/completions.

Run by .ci/check-openai-sdk, which makes a venv with `openai`, starts a server with --mock and
passes its base URL:

    python tests/openai_sdk.py http://127.0.0.1:8080/v1

The mock Bedrock picks its reply from a directive at the start of the last user message
(src/mock/mod.rs): no directive echoes the message, `[mock:tools]` calls two tools,
`[mock:stream-error N type]` fails after N text deltas. Its usage counts words.
"""

import json
import sys
import time
import traceback

import openai

MODEL = "any-model"  # not on the server's allow-list, so the server's own model answers
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The current time.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]
# The mock's [mock:tools] reply (Reply::ToolUse in src/mock/script.rs).
TOOL_TEXT = "Let me check the weather and the time."
EXPECTED_CALLS = [
    ("tooluse_mock_weather_01", "get_weather", {"city": "Paris"}),
    ("tooluse_mock_time_02", "get_time", {}),
]

client: openai.OpenAI


def user(text):
    return [{"role": "user", "content": text}]


def accumulate(chunks):
    """Folds streamed chunks the way OpenAI's documentation shows: content appended, tool
    call fragments merged by their index."""
    content, calls, finish_reason = "", {}, None
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        for fragment in delta.tool_calls or []:
            call = calls.setdefault(fragment.index, {"id": None, "name": "", "arguments": ""})
            if fragment.id:
                call["id"] = fragment.id
            if fragment.function and fragment.function.name:
                call["name"] += fragment.function.name
            if fragment.function and fragment.function.arguments:
                call["arguments"] += fragment.function.arguments
        finish_reason = choice.finish_reason or finish_reason
    return content, [calls[index] for index in sorted(calls)], finish_reason


def test_streamed_text():
    prompt = "Hello from the OpenAI SDK, streamed word by word."
    chunks = list(client.chat.completions.create(model=MODEL, messages=user(prompt), stream=True))
    assert len(chunks) > 3, len(chunks)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1, "one id for the whole stream"
    assert chunks[0].choices[0].delta.role == "assistant"
    content, calls, finish_reason = accumulate(chunks)
    assert content == prompt, repr(content)
    assert calls == []
    assert finish_reason == "stop", finish_reason
    assert all(chunk.usage is None for chunk in chunks)


def test_streamed_response_headers_and_model():
    response = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user("headers please"), stream=True
    )
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    assert response.headers["cache-control"] == "no-cache", response.headers
    assert "content-encoding" not in response.headers, response.headers
    chunks = list(response.parse())
    # A model off the allow-list is replaced by the server's own, and the chunks say which.
    models = {chunk.model for chunk in chunks}
    assert len(models) == 1 and MODEL not in models and models != {""}, models


def test_streamed_tool_calls():
    stream = client.chat.completions.create(
        model=MODEL,
        messages=user("[mock:tools] What is the weather in Paris, and the time?"),
        tools=WEATHER_TOOLS,
        stream=True,
    )
    content, calls, finish_reason = accumulate(stream)
    assert content == TOOL_TEXT, repr(content)
    assert finish_reason == "tool_calls", finish_reason
    got = [(call["id"], call["name"], json.loads(call["arguments"])) for call in calls]
    assert got == EXPECTED_CALLS, got


def test_streamed_tool_calls_through_the_sdk_stream_helper():
    # chat.completions.stream() accumulates the deltas itself, as agents built on the SDK do.
    with client.chat.completions.stream(
        model=MODEL,
        messages=user("[mock:tools] What is the weather in Paris, and the time?"),
        tools=WEATHER_TOOLS,
    ) as stream:
        done_events = [event for event in stream if event.type == "tool_calls.function.arguments.done"]
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice.finish_reason
    assert choice.message.content == TOOL_TEXT, repr(choice.message.content)
    calls = choice.message.tool_calls
    got = [(call.id, call.function.name, json.loads(call.function.arguments)) for call in calls]
    assert got == EXPECTED_CALLS, got
    assert all(call.type == "function" for call in calls)
    assert [event.name for event in done_events] == ["get_weather", "get_time"], done_events


def test_streamed_usage():
    prompt = "Count these six words for me"
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=user(prompt),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == [], last
    usage = last.usage
    assert usage is not None
    assert usage.completion_tokens == len(prompt.split()), usage
    assert usage.prompt_tokens >= len(prompt.split()), usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert accumulate(chunks)[0] == prompt


def test_non_streaming_text():
    prompt = "Hello without streaming."
    completion = client.chat.completions.create(model=MODEL, messages=user(prompt), stream=False)
    assert completion.object == "chat.completion", completion.object
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == prompt, repr(choice.message.content)
    assert choice.finish_reason == "stop", choice.finish_reason
    usage = completion.usage
    assert usage.completion_tokens == len(prompt.split()), usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage


def test_non_streaming_tool_calls():
    completion = client.chat.completions.create(
        model=MODEL,
        messages=user("[mock:tools] weather?"),
        tools=WEATHER_TOOLS,
        tool_choice="auto",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice.finish_reason
    calls = choice.message.tool_calls
    got = [(call.id, call.function.name, json.loads(call.function.arguments)) for call in calls]
    assert got == EXPECTED_CALLS, got


def test_a_whole_tool_conversation_is_accepted():
    # System prompt, an assistant turn with tool calls, tool results, then a new user turn:
    # everything the SDK sends in an agent loop translates to Converse.
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the weather in Paris, and the time?"},
        {
            "role": "assistant",
            "content": TOOL_TEXT,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for call_id, name, arguments in EXPECTED_CALLS
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_mock_weather_01", "content": "18 °C, cloudy"},
        {"role": "tool", "tool_call_id": "tooluse_mock_time_02", "content": "14:05"},
        {"role": "assistant", "content": "It is 18 °C and 14:05 in Paris."},
        {"role": "user", "content": "[mock:echo] Thanks!"},
    ]
    completion = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=WEATHER_TOOLS,
        max_completion_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=["STOP HERE"],
    )
    assert completion.choices[0].message.content == "Thanks!", completion.choices[0].message


def test_an_error_mid_stream_raises_api_error():
    stream = client.chat.completions.create(
        model=MODEL, messages=user("[mock:stream-error 2 throttlingException]"), stream=True
    )
    content = ""
    try:
        for chunk in stream:
            if chunk.choices:
                content += chunk.choices[0].delta.content or ""
    except openai.APIError as error:
        assert "throttl" in str(error).lower() or "throttl" in json.dumps(error.body).lower(), error
    else:
        raise AssertionError("the stream ended without an error")
    assert content == "tok0 tok1 ", repr(content)


def test_an_error_before_the_stream_raises_its_status_error():
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=user("[mock:http-error 400 ValidationException The prompt is invalid]"),
            stream=True,
        )
    except openai.BadRequestError as error:
        assert error.status_code == 400
        assert "invalid" in error.message, error.message
    else:
        raise AssertionError("no error was raised")


def main():
    global client
    base_url = sys.argv[1]
    # No retries: every scripted error reaches the test as the server sent it.
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=15)
    tests = [value for name, value in globals().items() if name.startswith("test_")]
    passed = failed = 0
    for test in tests:
        started = time.monotonic()
        try:
            test()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            elapsed = (time.monotonic() - started) * 1000
            print(f"FAIL {test.__name__} ({elapsed:.0f} ms): {type(error).__name__}: {error}")
            traceback.print_exc(limit=-1, file=sys.stdout)
        else:
            passed += 1
            elapsed = (time.monotonic() - started) * 1000
            print(f"ok   {test.__name__} ({elapsed:.0f} ms)")
    print(f"openai-sdk: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
