//! Zendesk's incremental ticket export, read page by page as Zendesk documents it: Basic auth as
//! `{email}/token:{api_token}`, cursor pages until `end_of_stream`, 429 answered with
//! `Retry-After`, 5xx retried with backoff, 401/403 a clear failure. The token is never logged.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Zendesk credentials: the pipeline's secret (`{"username": …, "apiToken": …}`, also spelt
/// `apiKey`), or ZENDESK_EMAIL and ZENDESK_API_TOKEN.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    #[serde(alias = "email")]
    pub username: String,
    #[serde(alias = "apiKey", alias = "api_token", rename = "apiToken")]
    pub api_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Credentials({}, token redacted)", self.username)
    }
}

impl Credentials {
    pub fn from_secret_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Config {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        // Never echo the file's text: it holds the token.
        serde_json::from_str(&text).map_err(|error| Error::Config {
            path: path.to_owned(),
            reason: format!(
                "not a Zendesk secret ({{\"username\": …, \"apiToken\": …}}): {}",
                error.classify_name()
            ),
        })
    }

    pub fn from_env() -> Option<Self> {
        Some(Self {
            username: std::env::var("ZENDESK_EMAIL").ok()?,
            api_token: std::env::var("ZENDESK_API_TOKEN").ok()?,
        })
    }

    fn header(&self) -> String {
        let pair = format!("{}/token:{}", self.username, self.api_token);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            serde_json::error::Category::Data => "missing username or apiToken",
        }
    }
}

/// One page of the cursor export.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub tickets: Vec<serde_json::Value>,
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub end_of_stream: bool,
}

/// Where an export starts: a time (first sync) or the cursor the last sync ended on.
#[derive(Debug, Clone)]
pub enum Start {
    Time(i64),
    Cursor(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    /// Retries of one request on 429 and 5xx before giving up.
    pub max_retries: u32,
}

impl Client {
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| Error::Zendesk(error.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials,
            max_retries: 8,
        })
    }

    /// One page of tickets changed since `start`.
    pub async fn page(&self, start: &Start) -> Result<Page> {
        let url = format!("{}/api/v2/incremental/tickets/cursor.json", self.base);
        let query: (&str, String) = match start {
            Start::Time(seconds) => ("start_time", seconds.to_string()),
            Start::Cursor(cursor) => ("cursor", cursor.clone()),
        };
        let mut attempt = 0;
        loop {
            let response = self
                .http
                .get(&url)
                .query(&[query.clone()])
                .header(reqwest::header::AUTHORIZATION, self.credentials.header())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let wait = match response {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        let body = response
                            .bytes()
                            .await
                            .map_err(|error| Error::Zendesk(format!("{url}: {error}")))?;
                        return serde_json::from_slice(&body).map_err(|error| {
                            Error::Zendesk(format!("{url}: not an export page: {error}"))
                        });
                    }
                    match status.as_u16() {
                        401 | 403 => {
                            return Err(Error::Zendesk(format!(
                                "{url}: {status}: Zendesk rejected the credentials for {} (an API token for that agent, with token access enabled?)",
                                self.credentials.username
                            )))
                        }
                        429 => response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.trim().parse::<f64>().ok())
                            .map_or(Duration::from_secs(60), Duration::from_secs_f64),
                        code if code >= 500 => backoff(attempt),
                        _ => {
                            let text = response.text().await.unwrap_or_default();
                            return Err(Error::Zendesk(format!(
                                "{url}: {status}: {}",
                                text.chars().take(300).collect::<String>()
                            )));
                        }
                    }
                }
                Err(error) if error.is_timeout() || error.is_connect() || error.is_request() => {
                    backoff(attempt)
                }
                Err(error) => return Err(Error::Zendesk(format!("{url}: {error}"))),
            };
            attempt += 1;
            if attempt > self.max_retries {
                return Err(Error::Zendesk(format!(
                    "{url}: still failing after {} retries",
                    self.max_retries
                )));
            }
            tracing::warn!("Zendesk asked to wait or failed; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(6)).mul_f64(0.5 + rand::random::<f64>())
}
