//! S3 event notifications from an SQS queue, for `compact --follow --queue`.
//!
//! A message holds S3 event records (`ObjectCreated:*`, the key URL-encoded with `+` for a
//! space), possibly wrapped in an SNS notification; `s3:TestEvent` messages and keys outside the
//! source name nothing. A message is deleted by the caller only once every object it names is
//! committed; one that cannot be read is logged and left for the queue's dead-letter policy.

use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::source::{Source, SourceObject};

/// The most messages SQS returns, or deletes, per request.
const SQS_BATCH: usize = 10;
/// The longest long poll SQS allows.
const SQS_MAX_WAIT: Duration = Duration::from_secs(20);

pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

/// One received message and the source objects it names.
pub struct Notification {
    receipt: String,
    pub objects: Vec<SourceObject>,
}

impl Queue {
    /// A client for `url`, with the AWS credential chain and `endpoint_url` as the rest use.
    pub async fn connect(url: &str, endpoint_url: Option<&str>) -> Result<Self> {
        let config = crate::aws::sdk_config(None, endpoint_url).await;
        Ok(Self {
            client: aws_sdk_sqs::Client::new(&config),
            url: url.to_owned(),
        })
    }

    fn failure<E>(&self, what: &'static str, error: E, transient: bool) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Queue {
            queue: self.url.clone(),
            what,
            detail: DisplayErrorContext(&error).to_string(),
            transient,
            source: Box::new(error),
        }
    }

    /// An SDK call's failure, transient unless the service refused the request for good.
    fn call_failure<E, R>(&self, what: &'static str, error: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = crate::aws::is_transient(&error);
        self.failure(what, error, transient)
    }
    /// Waits up to `wait` (a long poll) for messages; unreadable ones are logged and left.
    pub async fn receive(&self, source: &Source, wait: Duration) -> Result<Vec<Notification>> {
        let wait_seconds = wait.min(SQS_MAX_WAIT).as_secs() as i32;
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(SQS_BATCH as i32)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|error| self.call_failure("receiving messages", error))?;
        let mut notifications = Vec::new();
        for message in output.messages() {
            let Some(receipt) = message.receipt_handle() else {
                continue;
            };
            match objects_named(message.body().unwrap_or_default(), source) {
                Ok(objects) => notifications.push(Notification {
                    receipt: receipt.to_owned(),
                    objects,
                }),
                Err(reason) => tracing::warn!(
                    message_id = message.message_id().unwrap_or_default(),
                    %reason,
                    "a queue message is not an S3 notification; it is left for the dead-letter queue"
                ),
            }
        }
        Ok(notifications)
    }

    /// Deletes handled messages.
    pub async fn delete(&self, handled: Vec<Notification>) -> Result<()> {
        for chunk in handled.chunks(SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, message)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(&message.receipt)
                        .build()
                        .map_err(|error| self.failure("deleting messages", error, false))
                })
                .collect::<Result<Vec<_>>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| self.call_failure("deleting messages", error))?;
            // A message not deleted comes back after its visibility timeout; its objects are
            // then found committed, so it is only deleted later, never lost.
            for failed in output.failed() {
                tracing::warn!(code = failed.code(), "a handled message was not deleted");
            }
        }
        Ok(())
    }

    /// Messages waiting in the queue (SQS's approximate count).
    pub async fn depth(&self) -> Result<u64> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|error| self.call_failure("reading the queue depth", error))?;
        Ok(output
            .attributes()
            .and_then(|attributes| attributes.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|count| count.parse().ok())
            .unwrap_or(0))
    }
}

/// The source objects a message body names (none for a test event or keys elsewhere).
fn objects_named(body: &str, source: &Source) -> std::result::Result<Vec<SourceObject>, String> {
    let mut message: Value =
        serde_json::from_str(body).map_err(|error| format!("not JSON: {error}"))?;
    // SNS wraps the S3 event as a string in `Message`.
    if message["Type"] == "Notification" {
        let inner = message["Message"]
            .as_str()
            .ok_or("an SNS notification without a Message")?;
        message = serde_json::from_str(inner)
            .map_err(|error| format!("the SNS Message is not JSON: {error}"))?;
    }
    if message["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let records = message["Records"]
        .as_array()
        .ok_or("no Records: not an S3 event notification")?;
    let mut objects = Vec::new();
    for record in records {
        let name = record["eventName"].as_str().unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            continue;
        }
        let bucket = record["s3"]["bucket"]["name"]
            .as_str()
            .ok_or("a record without s3.bucket.name")?;
        let encoded = record["s3"]["object"]["key"]
            .as_str()
            .ok_or("a record without s3.object.key")?;
        let key = decode_key(encoded)
            .ok_or_else(|| format!("key {encoded:?} is not URL-encoded UTF-8"))?;
        let size = record["s3"]["object"]["size"].as_u64().unwrap_or(0);
        let time = record["eventTime"]
            .as_str()
            .and_then(|time| crate::time::parse_time(time).ok())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
        if let Some(object) = source.notified_object(bucket, &key, size, time) {
            objects.push(object);
        }
    }
    Ok(objects)
}

/// S3 notification keys are URL-encoded with `+` for a space.
fn decode_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source() -> Source {
        Source::new("s3://bucket/raw", &HashMap::new()).unwrap()
    }

    fn event(key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventName": "ObjectCreated:Put",
            "eventTime": "2026-11-25T10:00:00.000Z",
            "s3": {"bucket": {"name": "bucket"}, "object": {"key": key, "size": 42}}
        }]})
        .to_string()
    }

    #[test]
    fn keys_are_url_decoded_with_plus_as_space() {
        let objects = objects_named(&event("raw/2026/11/25/10/a+b%2Bc%C3%A9"), &source()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].uri, "s3://bucket/raw/2026/11/25/10/a b+cé");
        assert_eq!(objects[0].size, 42);
    }

    #[test]
    fn sns_wrapped_events_test_events_and_foreign_keys() {
        let wrapped =
            serde_json::json!({"Type": "Notification", "Message": event("raw/x")}).to_string();
        assert_eq!(objects_named(&wrapped, &source()).unwrap().len(), 1);
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"bucket"}"#;
        assert!(objects_named(test, &source()).unwrap().is_empty());
        assert!(objects_named(&event("elsewhere/x"), &source())
            .unwrap()
            .is_empty());
        assert!(objects_named(&event("rawish/x"), &source())
            .unwrap()
            .is_empty());
        assert!(objects_named("not json", &source()).is_err());
        assert!(objects_named(r#"{"hello":1}"#, &source()).is_err());
    }
}
