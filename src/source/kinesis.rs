//! A Kinesis Data Streams reader: `ListShards`, `GetShardIterator` and `GetRecords` over the
//! awsJson1.1 protocol ([API reference](https://docs.aws.amazon.com/kinesis/latest/APIReference/)).
//!
//! A stream is named by `kinesis://NAME` or by its ARN. Sequence numbers are decimal strings of up
//! to 128 bits and grow within a shard; they are compared as numbers ([`sequence_cmp`]).

use std::cmp::Ordering;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws_json::{AwsJsonClient, AwsJsonError};
use crate::error::{Error, Result};

/// Records a `GetRecords` call asks for (the API's maximum).
pub const GET_RECORDS_LIMIT: usize = 10_000;

/// A stream, as `--source` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    /// The stream's name (the last part of an ARN).
    pub name: String,
    /// The ARN when one was given (cross-account streams need it).
    pub arn: Option<String>,
}

impl StreamName {
    /// `kinesis://NAME` or `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`; `None` for any other
    /// source.
    pub fn parse(source: &str) -> Option<Result<Self>> {
        let (name, arn) = if let Some(name) = source.strip_prefix("kinesis://") {
            (name.trim_end_matches('/').to_owned(), None)
        } else if source.starts_with("arn:") && source.contains(":kinesis:") {
            let name = source.rsplit_once(":stream/").map(|(_, name)| name);
            match name {
                Some(name) => (name.to_owned(), Some(source.to_owned())),
                None => return Some(Err(invalid_stream(source))),
            }
        } else {
            return None;
        };
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        Some(if valid {
            Ok(StreamName { name, arn })
        } else {
            Err(invalid_stream(source))
        })
    }

    /// How the stream is named in a request: its ARN if known, else its name.
    fn request_field(&self) -> (&'static str, &str) {
        match &self.arn {
            Some(arn) => ("StreamARN", arn),
            None => ("StreamName", &self.name),
        }
    }

    /// The URI error rows and `source_object` use: `kinesis://NAME`.
    pub fn uri(&self) -> String {
        format!("kinesis://{}", self.name)
    }
}

fn invalid_stream(source: &str) -> Error {
    Error::InvalidLocation {
        location: source.to_owned(),
        reason: "a Kinesis stream is kinesis://NAME or its ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); names are 1-128 of A-Z a-z 0-9 _ . -".into(),
    }
}

/// One shard, as `ListShards` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parents: Vec<String>,
    /// Set once the shard is closed (split or merged): no record comes after it.
    pub ending_sequence: Option<String>,
}

/// Where a shard's reading starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "at")]
pub enum StartingPosition {
    /// The oldest record the stream keeps.
    TrimHorizon,
    /// Only records put from now on.
    Latest,
    /// The first record that arrived at or after this time (µs since the epoch).
    AtTimestamp(i64),
    /// The record after this sequence number.
    AfterSequence(String),
    /// The record with this sequence number.
    AtSequence(String),
}

impl StartingPosition {
    /// `--start`: `trim-horizon`, `latest` or `at-timestamp:<RFC 3339 time>`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "trim-horizon" => Ok(Self::TrimHorizon),
            "latest" => Ok(Self::Latest),
            _ => {
                let time = text.strip_prefix("at-timestamp:").ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "--start {text:?}: expected trim-horizon, latest or at-timestamp:<RFC 3339 time>"
                    ))
                })?;
                let parsed = chrono::DateTime::parse_from_rfc3339(time).map_err(|error| {
                    Error::InvalidArgument(format!("--start {text:?}: {error}"))
                })?;
                Ok(Self::AtTimestamp(parsed.timestamp_micros()))
            }
        }
    }
}

/// One record of a shard.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence: String,
    pub data: Vec<u8>,
    /// When Kinesis received it, µs since the epoch.
    pub arrival_micros: i64,
}

/// What one `GetRecords` call returned.
#[derive(Debug)]
pub struct RecordsPage {
    pub records: Vec<StreamRecord>,
    /// `None` once a closed shard has been read to its end.
    pub next_iterator: Option<String>,
    pub millis_behind_latest: i64,
}

/// A Kinesis endpoint with the credentials to call it.
pub struct KinesisClient {
    client: AwsJsonClient,
    stream: StreamName,
}

impl KinesisClient {
    pub fn new(config: &aws_config::SdkConfig, stream: StreamName) -> Result<Self> {
        Ok(Self {
            client: AwsJsonClient::new(config, "kinesis", "Kinesis_20131202")?,
            stream,
        })
    }

    pub fn stream(&self) -> &StreamName {
        &self.stream
    }

    async fn call(&self, operation: &'static str, body: Value) -> Result<Value> {
        self.client
            .call(operation, &body)
            .await
            .map_err(|error| stream_error(&self.stream, error))
    }

    /// Every shard the stream has (open and closed, within retention), all pages.
    pub async fn list_shards(&self) -> Result<Vec<ShardInfo>> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // With a NextToken the stream must not be named again.
            let body = match &next_token {
                Some(token) => json!({ "NextToken": token }),
                None => {
                    let (field, value) = self.stream.request_field();
                    json!({ field: value })
                }
            };
            let reply = self.call("ListShards", body).await?;
            for shard in reply["Shards"].as_array().into_iter().flatten() {
                let text = |field: &str| shard[field].as_str().map(str::to_owned);
                let Some(shard_id) = text("ShardId") else {
                    continue;
                };
                let parents = [text("ParentShardId"), text("AdjacentParentShardId")]
                    .into_iter()
                    .flatten()
                    .collect();
                shards.push(ShardInfo {
                    shard_id,
                    parents,
                    ending_sequence: shard["SequenceNumberRange"]["EndingSequenceNumber"]
                        .as_str()
                        .map(str::to_owned),
                });
            }
            next_token = reply["NextToken"].as_str().map(str::to_owned);
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// An iterator for `shard` from `position`.
    pub async fn shard_iterator(&self, shard: &str, position: &StartingPosition) -> Result<String> {
        let (field, value) = self.stream.request_field();
        let mut body = json!({ field: value, "ShardId": shard });
        match position {
            StartingPosition::TrimHorizon => body["ShardIteratorType"] = "TRIM_HORIZON".into(),
            StartingPosition::Latest => body["ShardIteratorType"] = "LATEST".into(),
            StartingPosition::AtTimestamp(micros) => {
                body["ShardIteratorType"] = "AT_TIMESTAMP".into();
                body["Timestamp"] = json!(*micros as f64 / 1e6);
            }
            StartingPosition::AfterSequence(sequence) => {
                body["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER".into();
                body["StartingSequenceNumber"] = sequence.as_str().into();
            }
            StartingPosition::AtSequence(sequence) => {
                body["ShardIteratorType"] = "AT_SEQUENCE_NUMBER".into();
                body["StartingSequenceNumber"] = sequence.as_str().into();
            }
        }
        let reply = self.call("GetShardIterator", body).await?;
        reply["ShardIterator"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Stream {
                stream: self.stream.name.clone(),
                what: "GetShardIterator".into(),
                transient: true,
                source: "the answer holds no ShardIterator".into(),
            })
    }

    /// The next records from `iterator`.
    pub async fn get_records(&self, iterator: &str) -> Result<RecordsPage> {
        let body = json!({ "ShardIterator": iterator, "Limit": GET_RECORDS_LIMIT });
        let reply = self.call("GetRecords", body).await?;
        let base64 = base64::engine::general_purpose::STANDARD;
        let mut records = Vec::new();
        for record in reply["Records"].as_array().into_iter().flatten() {
            let (Some(sequence), Some(data)) =
                (record["SequenceNumber"].as_str(), record["Data"].as_str())
            else {
                return Err(self.malformed("a record without SequenceNumber or Data"));
            };
            let data = base64
                .decode(data)
                .map_err(|_| self.malformed("a record whose Data is not base64"))?;
            let arrival_micros = record["ApproximateArrivalTimestamp"]
                .as_f64()
                .map_or(0, |seconds| (seconds * 1e6) as i64);
            records.push(StreamRecord {
                sequence: sequence.to_owned(),
                data,
                arrival_micros,
            });
        }
        Ok(RecordsPage {
            records,
            next_iterator: reply["NextShardIterator"].as_str().map(str::to_owned),
            millis_behind_latest: reply["MillisBehindLatest"].as_i64().unwrap_or(0),
        })
    }

    fn malformed(&self, what: &str) -> Error {
        Error::Stream {
            stream: self.stream.name.clone(),
            what: "GetRecords".into(),
            transient: false,
            source: format!("the answer holds {what}").into(),
        }
    }
}

fn stream_error(stream: &StreamName, error: AwsJsonError) -> Error {
    let (what, transient) = match &error {
        AwsJsonError::Refused { operation, .. } | AwsJsonError::Unanswered { operation, .. } => {
            (format!("Kinesis {operation}"), error.is_transient())
        }
    };
    Error::Stream {
        stream: stream.name.clone(),
        what,
        transient,
        source: Box::new(error),
    }
}

/// Whether `error` is Kinesis saying an iterator is older than its 5 minutes.
pub fn is_expired_iterator(error: &Error) -> bool {
    stream_error_code(error) == Some("ExpiredIteratorException")
}

/// Whether `error` is Kinesis asking this reader to slow down.
pub fn is_throttled(error: &Error) -> bool {
    matches!(
        stream_error_code(error),
        Some("ProvisionedThroughputExceededException" | "LimitExceededException")
    )
}

fn stream_error_code(error: &Error) -> Option<&str> {
    match error {
        Error::Stream { source, .. } => source.downcast_ref::<AwsJsonError>()?.code(),
        _ => None,
    }
}

/// Orders sequence numbers as the numbers they are (they may pass 64 bits).
pub fn sequence_cmp(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_by_uri_or_arn() {
        let by_name = StreamName::parse("kinesis://client-events")
            .unwrap()
            .unwrap();
        assert_eq!(
            (by_name.name.as_str(), by_name.arn),
            ("client-events", None)
        );
        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/client-events";
        let by_arn = StreamName::parse(arn).unwrap().unwrap();
        assert_eq!(by_arn.name, "client-events");
        assert_eq!(by_arn.arn.as_deref(), Some(arn));
        assert!(StreamName::parse("s3://bucket/raw").is_none());
        assert!(StreamName::parse("kinesis://").unwrap().is_err());
        assert!(StreamName::parse("kinesis://a/b").unwrap().is_err());
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        let long = "49590338271490256608559692538361571095921575989136588898";
        let longer = "49590338271490256608559692538361571095921575989136588899";
        assert_eq!(sequence_cmp(long, longer), Ordering::Less);
        assert_eq!(sequence_cmp("9", "10"), Ordering::Less);
        assert_eq!(sequence_cmp("010", "10"), Ordering::Equal);
    }

    #[test]
    fn start_positions_parse() {
        assert_eq!(
            StartingPosition::parse("trim-horizon").unwrap(),
            StartingPosition::TrimHorizon
        );
        assert_eq!(
            StartingPosition::parse("at-timestamp:2026-12-01T00:00:00Z").unwrap(),
            StartingPosition::AtTimestamp(1_796_083_200_000_000)
        );
        assert!(StartingPosition::parse("yesterday").is_err());
    }
}
