//! Starting an example server as a child process, and talking to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bedrock_sse::mock::MockBedrock;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::Value;

/// How long anything may take before a test gives up: generous, for a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Variables cargo sets for a test binary (by prefix).
const CARGO_TEST_VARIABLES: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// The example binary, built once per test run with the features this test was built with
/// (`cargo test --test server` builds no examples by itself).
fn binary(example: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let test_exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/server-<hash>
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps")
        .to_path_buf();
    BUILT.get_or_init(|| {
        let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
        let profile = profile_dir
            .file_name()
            .and_then(|name| name.to_str())
            .expect("a profile directory name");
        let profile = match profile {
            "debug" => "dev",
            other => other,
        };
        let mut cargo = Command::new(env!("CARGO"));
        // Without the variables cargo sets for a running test: some build scripts watch
        // them (ring's watches CARGO_MANIFEST_DIR), and seeing them change would rebuild
        // part of the dependency tree on every run.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if CARGO_TEST_VARIABLES
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                cargo.env_remove(&*name);
            }
        }
        let status = cargo
            .args([
                "build",
                "--quiet",
                "--example",
                "axum-server",
                "--example",
                "warp-server",
            ])
            .args(["--features", "server", "--profile", profile])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the example servers failed");
    });
    profile_dir.join("examples").join(example)
}

/// A server to start: which example, with which flags and environment.
#[must_use]
pub struct Launch {
    example: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Prepares `example` (`axum-server` or `warp-server`) on `127.0.0.1:0`.
pub fn server(example: &'static str) -> Launch {
    Launch {
        example,
        args: vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ],
        env: Vec::new(),
    }
}

impl Launch {
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Serves from the embedded mock.
    pub fn mock(self) -> Self {
        self.args(&["--mock"])
    }

    /// Serves from `mock`, running in the test, through the standard AWS environment.
    pub fn upstream(self, mock: &MockBedrock) -> Self {
        self.env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &mock.endpoint_url())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws/credentials",
            )
    }

    /// Starts the server and waits for its `listening` log line.
    pub async fn start(self) -> Server {
        let binary = binary(self.example);
        let mut child = Command::new(&binary)
            .args(&self.args)
            .env_clear()
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_sender, addr_receiver) = mpsc::channel();
        let lines = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if value["message"] == "listening" {
                        let addr = value["addr"].as_str().and_then(|addr| addr.parse().ok());
                        let _ = addr_sender.send(addr);
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr: SocketAddr =
            tokio::task::spawn_blocking(move || addr_receiver.recv_timeout(PATIENCE))
                .await
                .unwrap()
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{} did not log a listening address", self.example));
        Server {
            child,
            addr,
            logs,
            client: reqwest::Client::new(),
        }
    }
}

/// A running server process; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    pub client: reqwest::Client,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST")
    }

    /// Sends SIGTERM, as ECS and `docker stop` do.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn exit_status(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(started.elapsed() < PATIENCE, "the server did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The JSON log lines so far.
    pub fn logs(&self) -> Vec<Value> {
        self.raw_logs()
            .iter()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }

    pub fn raw_logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a log line that satisfies `matches`.
    pub async fn log_line(&self, matches: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(line) = self.logs().into_iter().find(|line| matches(line)) {
                return line;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no such log line in {:#?}",
                self.raw_logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The events of an SSE response, read with an independent parser until the body ends.
pub async fn events(response: reqwest::Response) -> Vec<Event> {
    let mut stream = sse(response);
    let mut events = Vec::new();
    while let Some(event) = next_event(&mut stream).await {
        events.push(event);
    }
    events
}

pub type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

/// The response body as SSE events.
pub fn sse(response: reqwest::Response) -> Events {
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("a well-formed SSE stream")),
    )
}

/// The next event, or `None` at the end of the body.
pub async fn next_event(stream: &mut Events) -> Option<Event> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event or the end of the stream in time")
}

/// Waits until `condition` holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of a `text` dialect stream: the data of its unnamed events.
pub fn text_of(events: &[Event]) -> String {
    events
        .iter()
        .filter(|event| event.event == "message")
        .map(|event| event.data.as_str())
        .collect()
}

/// Checks the JSON error body of a refused request and returns its `error` object.
pub async fn error_body(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of {response:?}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json");
    let body: Value = response.json().await.expect("a JSON error body");
    let error = &body["error"];
    assert_eq!(error["status"], status, "{body}");
    assert!(error["kind"].is_string(), "{body}");
    assert!(error["message"].is_string(), "{body}");
    assert!(error["retryable"].is_boolean(), "{body}");
    error.clone()
}
