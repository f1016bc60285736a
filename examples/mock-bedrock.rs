//! A stand-alone mock Bedrock, for pointing any server or SDK client at.
//!
//! ```sh
//! cargo run --example mock-bedrock --features mock -- --port 9090
//! AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:9090 cargo run --example axum-server --features server
//! ```
//!
//! With `--tls FILE` it serves HTTPS with HTTP/2, as Bedrock does, and writes its self-signed
//! certificate to `FILE`; the SDK's default client trusts it through `SSL_CERT_FILE`:
//!
//! ```sh
//! cargo run --example mock-bedrock --features mock -- --port 9090 --tls /tmp/mock.pem
//! SSL_CERT_FILE=/tmp/mock.pem AWS_ENDPOINT_URL_BEDROCK_RUNTIME=https://127.0.0.1:9090 \
//!     cargo run --example axum-server --features server
//! ```
//!
//! It echoes prompts back; start a prompt with a directive such as `[mock:tools]` or
//! `[mock:long 200 pace=20]` to pick another reply (see `bedrock_sse::mock`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bedrock_sse::mock::{MockBedrock, MockBuilder};

const DEFAULT_PORT: u16 = 9090;
const USAGE: &str = "usage: mock-bedrock [--port N] [--tls CERT_FILE]\n\
    --port N          listen on 127.0.0.1:N (default 9090)\n\
    --tls CERT_FILE   serve HTTPS (HTTP/2 or HTTP/1.1) and write the certificate to CERT_FILE\n\
    --max-concurrent-streams N   HTTP/2 streams per connection (default 200)";

/// What the command line asks for.
struct Args {
    port: u16,
    tls: Option<PathBuf>,
    max_concurrent_streams: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let builder = MockBedrock::builder()
        .bind(addr)
        .tls(args.tls.is_some())
        .max_concurrent_streams(args.max_concurrent_streams);
    let mock = match builder.start().await {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(pem)) = (&args.tls, mock.certificate_pem()) {
        if let Err(error) = std::fs::write(path, pem) {
            eprintln!(
                "cannot write the certificate to {}: {error}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
        println!("SSL_CERT_FILE={}", path.display());
    }
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

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        port: DEFAULT_PORT,
        tls: None,
        max_concurrent_streams: MockBuilder::DEFAULT_MAX_CONCURRENT_STREAMS,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let value = value()?;
                parsed.port = value
                    .parse()
                    .map_err(|_| format!("not a port number: {value:?}"))?;
            }
            "--tls" => parsed.tls = Some(PathBuf::from(value()?)),
            "--max-concurrent-streams" => {
                let value = value()?;
                parsed.max_concurrent_streams = value
                    .parse()
                    .map_err(|_| format!("not a number of streams: {value:?}"))?;
            }
            "-h" | "--help" => {
                return Err("a mock Amazon Bedrock ConverseStream endpoint".to_owned())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}
