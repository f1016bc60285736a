//! The Bedrock Runtime client: AWS's standard configuration chain, or the embedded mock.

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::Client;

use super::Config;
use crate::mock::MockBedrock;

/// The region when nothing in the environment or profile names one.
const DEFAULT_REGION: &str = "us-east-1";

/// A client from the standard chain: `AWS_REGION` (default us-east-1), credentials from the
/// environment, profile, container or instance role, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
/// `AWS_MAX_ATTEMPTS`. With `--mock`, the mock is started and the client pointed at it
/// instead, with test credentials and no retries (its errors are scripted; retrying them
/// only delays them).
pub(crate) async fn connect(config: &Config) -> std::io::Result<(Client, Option<MockBedrock>)> {
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
        let client_config = aws_sdk_bedrockruntime::config::Builder::from(&shared)
            .endpoint_url(mock.endpoint_url())
            .build();
        return Ok((Client::from_conf(client_config), Some(mock)));
    }
    let region = RegionProviderChain::default_provider().or_else(DEFAULT_REGION);
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .load()
        .await;
    Ok((Client::new(&shared), None))
}
