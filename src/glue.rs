//! A small AWS Glue client for `catalog register`: `CreateDatabase`, `CreateTable` and
//! `UpdateTable`, as the awsJson1.1 protocol spells them (a POST of JSON with an
//! `X-Amz-Target`), signed with SigV4 from the standard credential chain. The SDK's Glue crate
//! compiled for four minutes on two cores for these three calls.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

use crate::error::{Error, Result};

/// A Glue endpoint with the credentials to call it.
pub struct GlueClient {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
}

/// What Glue answered to a call it refused.
#[derive(Debug, thiserror::Error)]
#[error("Glue {operation}: {code}: {message}")]
pub struct GlueError {
    pub operation: &'static str,
    /// The error's type, without its namespace (`AlreadyExistsException`).
    pub code: String,
    pub message: String,
}

impl GlueClient {
    /// From the SDK config (region, credentials, and `--endpoint-url` if given).
    pub fn new(config: &aws_config::SdkConfig) -> Result<Self> {
        let region = config
            .region()
            .map(|region| region.to_string())
            .ok_or_else(|| {
                Error::InvalidArgument("no AWS region for Glue: set --region or AWS_REGION".into())
            })?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| Error::InvalidArgument("no AWS credentials for Glue".into()))?;
        let endpoint = config
            .endpoint_url()
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://glue.{region}.amazonaws.com"));
        Ok(Self {
            http: reqwest::Client::new(),
            endpoint,
            region,
            credentials,
        })
    }

    /// Calls `operation` with `body`; a refusal is a [`GlueError`].
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Catalog {
            what: format!("Glue {operation}"),
            source,
        };
        let payload = serde_json::to_vec(body)?;
        let target = format!("AWSGlue.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|error| failed(Box::new(error)))?;
        let identity = aws_smithy_runtime_api::client::identity::Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("glue")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| failed(Box::new(error)))?
            .into();
        let url = format!("{}/", self.endpoint);
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(&payload),
        )
        .map_err(|error| failed(Box::new(error)))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|error| failed(Box::new(error)))?
            .into_parts();
        let mut request = self.http.post(&url).body(payload.clone());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|error| failed(Box::new(error)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| failed(Box::new(error)))?;
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(reply);
        }
        let kind = reply["__type"]
            .as_str()
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("");
        let code = if kind.is_empty() {
            format!("HTTP {status}")
        } else {
            kind.to_owned()
        };
        let message = reply["message"]
            .as_str()
            .or_else(|| reply["Message"].as_str())
            .unwrap_or_else(|| text.get(..text.len().min(200)).unwrap_or(""))
            .to_owned();
        Err(failed(Box::new(GlueError {
            operation,
            code,
            message,
        })))
    }
}

/// Whether `error` is Glue saying the database or table exists already.
pub fn already_exists(error: &Error) -> bool {
    match error {
        Error::Catalog { source, .. } => source
            .downcast_ref::<GlueError>()
            .is_some_and(|glue| glue.code == "AlreadyExistsException"),
        _ => false,
    }
}
