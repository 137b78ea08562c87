//! The AWS SDK's configuration, one way for every client (EventBridge, SQS, Glue): the standard
//! credential chain (environment, profile, SSO, instance role), never a credential in a flag.

/// The SDK config with an optional region and endpoint (LocalStack, moto, tests).
pub async fn sdk_config(region: Option<&str>, endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(endpoint_url) = endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    loader.load().await
}
