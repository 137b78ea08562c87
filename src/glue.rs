//! A small AWS Glue client for `catalog register`: `CreateDatabase`, `CreateTable` and
//! `UpdateTable` over the awsJson1.1 protocol (`aws_json.rs`).

use serde_json::Value;

use crate::aws_json::{AwsJsonClient, AwsJsonError};
use crate::error::{Error, Result};

/// A Glue endpoint with the credentials to call it.
pub struct GlueClient {
    client: AwsJsonClient,
}

impl GlueClient {
    /// From the SDK config (region, credentials, and `--endpoint-url` if given).
    pub fn new(config: &aws_config::SdkConfig) -> Result<Self> {
        Ok(Self {
            client: AwsJsonClient::new(config, "glue", "AWSGlue")?,
        })
    }

    /// Calls `operation` with `body`; a refusal is an [`AwsJsonError`] inside `Error::Catalog`.
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value> {
        self.client
            .call(operation, body)
            .await
            .map_err(|error| Error::Catalog {
                what: format!("Glue {operation}"),
                source: Box::new(error),
            })
    }
}

/// Whether `error` is Glue saying the database or table exists already.
pub fn already_exists(error: &Error) -> bool {
    match error {
        Error::Catalog { source, .. } => source
            .downcast_ref::<AwsJsonError>()
            .is_some_and(|refused| refused.code() == Some("AlreadyExistsException")),
        _ => false,
    }
}
