//! The Bedrock Runtime clients: AWS's standard configuration chain, or the embedded mock.

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::config::{Builder, Credentials};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::Provider;

use super::upstream::MakeClient;
use super::Config;
use crate::mock::MockBedrock;

/// The region when nothing in the environment or profile names one.
const DEFAULT_REGION: &str = "us-east-1";

/// A maker of clients, each with connections of its own, configured from the standard
/// chain: `AWS_REGION` (default us-east-1), credentials from the environment, profile,
/// container or instance role, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_MAX_ATTEMPTS`. With
/// `--mock`, the mock is started and the clients pointed at it instead, with test
/// credentials and no retries (its errors are scripted; retrying them only delays them).
pub(crate) async fn connect(config: &Config) -> std::io::Result<(MakeClient, Option<MockBedrock>)> {
    if config.mock {
        let mock = MockBedrock::start().await?;
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::from_static(DEFAULT_REGION))
            .credentials_provider(Credentials::new(
                "AKIDBEDROCKSSEMOCK",
                "bedrock-sse-mock-secret-access-key",
                None,
                None,
                "bedrock-sse-mock",
            ))
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        // Set on the client, the mock's address wins over any endpoint in the environment.
        let client_config = Builder::from(&shared).endpoint_url(mock.endpoint_url());
        return Ok((maker(client_config), Some(mock)));
    }
    let region = RegionProviderChain::default_provider().or_else(DEFAULT_REGION);
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .load()
        .await;
    Ok((maker(Builder::from(&shared)), None))
}

/// Makes clients from `client_config`, each with the SDK's default HTTPS client (rustls, the
/// system's roots, ALPN `h2` and `http/1.1`) of its own, hence its own connection pool.
fn maker(client_config: Builder) -> MakeClient {
    Box::new(move || {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build_https();
        Client::from_conf(client_config.clone().http_client(http_client).build())
    })
}
