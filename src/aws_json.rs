//! The awsJson1.1 protocol, for the AWS APIs eventlake calls without their SDK crate (Glue,
//! Kinesis): a POST of JSON with an `X-Amz-Target`, signed with SigV4 from the standard
//! credential chain. The SDK's Glue crate compiled for four minutes on two cores for three
//! calls; Kinesis's would cost as much for four.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// One service's endpoint with the credentials to call it.
pub struct AwsJsonClient {
    http: reqwest::Client,
    /// The SigV4 signing name (`glue`, `kinesis`).
    service: &'static str,
    /// The `X-Amz-Target` prefix (`AWSGlue`, `Kinesis_20131202`).
    target_prefix: &'static str,
    endpoint: String,
    region: String,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
}

/// A call that failed: refused by the service, or never answered.
#[derive(Debug, thiserror::Error)]
pub enum AwsJsonError {
    #[error("{code}: {message}")]
    Refused {
        operation: &'static str,
        /// The error's type, without its namespace (`AlreadyExistsException`).
        code: String,
        message: String,
        /// The HTTP status (5xx: the service's own fault).
        status: u16,
    },
    #[error("no answer: {source}")]
    Unanswered {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AwsJsonError {
    /// The service's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsJsonError::Refused { code, .. } => Some(code),
            AwsJsonError::Unanswered { .. } => None,
        }
    }

    /// Whether a later call may succeed: no answer, the service's own fault, or throttling;
    /// never a request it refused (access denied, no such stream, a bad parameter).
    pub fn is_transient(&self) -> bool {
        match self {
            AwsJsonError::Unanswered { .. } => true,
            AwsJsonError::Refused { code, status, .. } => {
                *status >= 500 || crate::aws::TRANSIENT_CODES.contains(&code.as_str())
            }
        }
    }
}

impl AwsJsonClient {
    /// From the SDK config (region, credentials, and `--endpoint-url` if given).
    pub fn new(
        config: &aws_config::SdkConfig,
        service: &'static str,
        target_prefix: &'static str,
    ) -> crate::Result<Self> {
        let region = config
            .region()
            .map(|region| region.to_string())
            .ok_or_else(|| {
                crate::Error::InvalidArgument(format!(
                    "no AWS region for {service}: set --region or AWS_REGION"
                ))
            })?;
        let credentials = config.credentials_provider().ok_or_else(|| {
            crate::Error::InvalidArgument(format!("no AWS credentials for {service}"))
        })?;
        let endpoint = config
            .endpoint_url()
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"));
        Ok(Self {
            http: reqwest::Client::new(),
            service,
            target_prefix,
            endpoint,
            region,
            credentials,
        })
    }

    /// Calls `operation` with `body` and returns the service's JSON answer.
    pub async fn call(
        &self,
        operation: &'static str,
        body: &Value,
    ) -> std::result::Result<Value, AwsJsonError> {
        let unanswered = |source: Box<dyn std::error::Error + Send + Sync>| {
            AwsJsonError::Unanswered { operation, source }
        };
        let payload = serde_json::to_vec(body).map_err(|error| unanswered(Box::new(error)))?;
        let target = format!("{}.{operation}", self.target_prefix);
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|error| unanswered(Box::new(error)))?;
        let identity = aws_smithy_runtime_api::client::identity::Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| unanswered(Box::new(error)))?
            .into();
        let url = format!("{}/", self.endpoint);
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(&payload),
        )
        .map_err(|error| unanswered(Box::new(error)))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|error| unanswered(Box::new(error)))?
            .into_parts();
        let mut request = self.http.post(&url).body(payload.clone());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|error| unanswered(Box::new(error)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| unanswered(Box::new(error)))?;
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
        Err(AwsJsonError::Refused {
            operation,
            code,
            message,
            status: status.as_u16(),
        })
    }
}
