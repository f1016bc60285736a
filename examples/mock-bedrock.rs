//! A stand-alone mock Bedrock, for pointing any server or SDK client at.
//!
//! ```sh
//! cargo run --example mock-bedrock --features mock -- --port 9090
//! AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:9090 cargo run --example axum-server --features server
//! ```
//!
//! It echoes prompts back; start a prompt with a directive such as `[mock:tools]` or
//! `[mock:long 200 pace=20]` to pick another reply (see `bedrock_sse::mock`).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use bedrock_sse::mock::MockBedrock;

const DEFAULT_PORT: u16 = 9090;
const USAGE: &str = "usage: mock-bedrock [--port N]   (default port 9090, on 127.0.0.1)";

#[tokio::main]
async fn main() -> ExitCode {
    let port = match port_from_args(std::env::args().skip(1)) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mock = match MockBedrock::builder().bind(addr).start().await {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("mock Bedrock listening on {}", mock.addr());
    println!("AWS_ENDPOINT_URL_BEDROCK_RUNTIME={}", mock.endpoint_url());

    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    println!(
        "{} requests; streams: {} completed, {} abandoned by the client, {} still open",
        mock.requests().len(),
        mock.streams_completed(),
        mock.streams_abandoned(),
        mock.streams_open(),
    );
    ExitCode::SUCCESS
}

fn port_from_args(mut args: impl Iterator<Item = String>) -> Result<u16, String> {
    let mut port = DEFAULT_PORT;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" => args.next().ok_or("--port needs a value")?,
            "-h" | "--help" => {
                return Err("a mock Amazon Bedrock ConverseStream endpoint".to_owned())
            }
            other => match other.strip_prefix("--port=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("not a port number: {value:?}"))?;
    }
    Ok(port)
}
