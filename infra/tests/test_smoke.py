"""up.sh's smoke test (run after the service is stable) against a stand-in
for API Gateway on loopback: it must pass a stream whose events arrive over
time and fail one that a buffering hop delivers all at once."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import INFRA_DIR

EVENTS = 6
GAP_SECS = 0.25


class StandIn(BaseHTTPRequestHandler):
    buffered = False
    keys_seen: list[str] = []

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        if self.path.endswith("/health"):
            body = b'{"status":"healthy"}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        StandIn.keys_seen.append(self.headers.get("x-api-key", ""))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        frames = [f"data: {n}\n\n".encode() for n in range(1, EVENTS + 1)]
        if self.buffered:
            time.sleep(GAP_SECS * EVENTS)
            self.wfile.write(b"".join(frames))
        else:
            for frame in frames:
                self.wfile.write(frame)
                self.wfile.flush()
                time.sleep(GAP_SECS)
        self.close_connection = True


@pytest.fixture
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandIn.keys_seen = []
    yield server
    server.shutdown()
    server.server_close()


def smoke_test(server, key: str):
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/prod"
    script = (f'source "{INFRA_DIR}/up.sh"; ENDPOINT="{endpoint}"; API_KEY_VALUE="{key}"; '
              f"STEP_TOTAL=1; LOG_GROUP=/ecs/test; smoke_test")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)


def test_a_streamed_response_passes(stand_in):
    StandIn.buffered = False
    result = smoke_test(stand_in, "the-key")
    assert result.returncode == 0, result.stderr
    assert "GET /health -> 200" in result.stderr
    assert f"POST /stream: {EVENTS} events" in result.stderr
    assert StandIn.keys_seen == ["the-key"]


def test_a_buffered_response_fails(stand_in):
    StandIn.buffered = True
    result = smoke_test(stand_in, "")
    assert result.returncode != 0
    assert "POST /stream is buffered" in result.stderr
    assert StandIn.keys_seen == [""], "no key header without a key (--public)"
