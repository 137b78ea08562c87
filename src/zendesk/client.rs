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

/// What went wrong talking to Zendesk, with the URL asked.
#[derive(Debug, thiserror::Error)]
pub enum ZendeskError {
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: {status}: Zendesk rejected the credentials for {username} (an API token for that agent, with token access enabled?)")]
    Rejected {
        url: String,
        status: reqwest::StatusCode,
        username: String,
    },
    #[error("{url}: {status}: {body}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("{url}: {status} ({content_type}) is not an export page: {reason}")]
    NotAPage {
        url: String,
        status: reqwest::StatusCode,
        content_type: String,
        reason: String,
    },
    #[error("{url}: still failing after {retries} retries")]
    GaveUp { url: String, retries: u32 },
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
            .map_err(ZendeskError::Client)?;
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
                .query(std::slice::from_ref(&query))
                .header(reqwest::header::AUTHORIZATION, self.credentials.header())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let wait = match response {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        let content_type = response
                            .headers()
                            .get(reqwest::header::CONTENT_TYPE)
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("no content type")
                            .to_owned();
                        let body =
                            response
                                .bytes()
                                .await
                                .map_err(|source| ZendeskError::Request {
                                    url: url.clone(),
                                    source,
                                })?;
                        return parse_page(&body).map_err(|reason| {
                            Error::from(ZendeskError::NotAPage {
                                url,
                                status,
                                content_type,
                                reason,
                            })
                        });
                    }
                    match status.as_u16() {
                        401 | 403 => {
                            return Err(ZendeskError::Rejected {
                                url,
                                status,
                                username: self.credentials.username.clone(),
                            }
                            .into())
                        }
                        429 => {
                            let header = response
                                .headers()
                                .get(reqwest::header::RETRY_AFTER)
                                .and_then(|value| value.to_str().ok())
                                .map(str::to_owned);
                            let asked = header
                                .as_deref()
                                .and_then(|value| retry_after(value, chrono::Utc::now()));
                            let wait = asked
                                .unwrap_or_else(|| crate::retry::Backoff::API.delay(attempt + 1));
                            tracing::warn!(
                                retry_after = header.as_deref().unwrap_or("none"),
                                "Zendesk rate-limited the export (429); waiting {wait:?}{}",
                                if asked == Some(MAX_RETRY_AFTER) {
                                    " (its Retry-After capped: Zendesk's limits are per minute)"
                                } else {
                                    ""
                                }
                            );
                            wait
                        }
                        code if code >= 500 => crate::retry::Backoff::API.delay(attempt + 1),
                        _ => {
                            let text = response.text().await.unwrap_or_default();
                            return Err(ZendeskError::Status {
                                url,
                                status,
                                body: text.chars().take(300).collect(),
                            }
                            .into());
                        }
                    }
                }
                Err(error) if error.is_timeout() || error.is_connect() || error.is_request() => {
                    crate::retry::Backoff::API.delay(attempt + 1)
                }
                Err(source) => return Err(ZendeskError::Request { url, source }.into()),
            };
            attempt += 1;
            if attempt > self.max_retries {
                return Err(ZendeskError::GaveUp {
                    url,
                    retries: self.max_retries,
                }
                .into());
            }
            tracing::warn!("Zendesk asked to wait or failed; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }
}

/// The longest wait a `Retry-After` gets: Zendesk documents its rate limits per minute
/// (<https://developer.zendesk.com/api-reference/introduction/rate-limits/>), so a longer one is
/// a broken header, and a sync should fail in reasonable time rather than sleep for a year.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long a 429's `Retry-After` asks to wait, at most [`MAX_RETRY_AFTER`]; `None` for a value
/// that is neither delay-seconds nor an HTTP-date (RFC 9110 §10.2.3,
/// <https://www.rfc-editor.org/rfc/rfc9110#field.retry-after>; Zendesk sends seconds:
/// <https://developer.zendesk.com/api-reference/introduction/rate-limits/>). A date in the past
/// means now.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // `parse` also takes "-5", "NaN" and "inf": Duration::from_secs_f64 panics on those.
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = (date.with_timezone(&chrono::Utc) - now)
        .to_std()
        .unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A 200's body as an export page; the reason names what was wrong, never echoes the body
/// beyond a short start (a proxy's HTML error page is the usual culprit).
fn parse_page(body: &[u8]) -> std::result::Result<Page, String> {
    serde_json::from_slice(body).map_err(|error| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(120)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        format!("{error} (the body starts {start:?})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("1", now()), Some(Duration::from_secs(1)));
        assert_eq!(retry_after(" 30 ", now()), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("0", now()), Some(Duration::ZERO));
        assert_eq!(
            retry_after("1.5", now()),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(
            retry_after("Sun, 01 Nov 2026 12:00:45 GMT", now()),
            Some(Duration::from_secs(45))
        );
        // A date already past: retry now.
        assert_eq!(
            retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_caps_huge_waits() {
        for huge in [
            "86400",
            "1e300",
            "18446744073709551616",
            "99999999999999999999",
            "Fri, 01 Nov 2126 12:00:00 GMT",
        ] {
            assert_eq!(retry_after(huge, now()), Some(MAX_RETRY_AFTER), "{huge}");
        }
        assert_eq!(
            MAX_RETRY_AFTER,
            Duration::from_secs(60),
            "Zendesk's limits are per minute"
        );
    }

    #[test]
    fn retry_after_garbage_is_none_and_never_panics() {
        for garbage in [
            "-1",
            "-0.5",
            "NaN",
            "inf",
            "-inf",
            "",
            "soon",
            "1s",
            "0x10",
            "\u{1F600}",
        ] {
            assert_eq!(retry_after(garbage, now()), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_page_that_is_not_json_is_an_error_naming_its_start() {
        let reason = parse_page(b"<html><body>Maintenance</body></html>").unwrap_err();
        assert!(reason.contains("<html><body>Maintenance"), "{reason}");
        assert!(parse_page(b"").is_err());
        assert!(parse_page(b"[1, 2]").is_err());
        let page =
            parse_page(br#"{"tickets": [{"id": 1}], "after_cursor": "c", "end_of_stream": true}"#)
                .unwrap();
        assert_eq!((page.tickets.len(), page.end_of_stream), (1, true));
    }
}
