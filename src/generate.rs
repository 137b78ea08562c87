//! A deterministic generator of raw objects shaped like a real Firehose bucket.
//!
//! The same arguments give the same bytes. Events arrive in time order with small delivery delays,
//! some late (hours), some delivered twice (same `id`, at-least-once), and some records bad in each
//! way the pipeline produces them (junk text, records cut short, invalid UTF-8, wrong types,
//! missing fields, Firehose `error/` records). [`GenSummary`] is the known answer a compaction of
//! the output must reproduce. [`tickets_for`] makes Zendesk tickets for the loyalty purchases,
//! with [`TicketTruth`], the answer a reconciliation of them must give.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use object_store::path::Path;
use object_store::ObjectStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use crate::error::{Error, Result};

mod tickets;
pub use tickets::{tickets_for, ComparedCount, TicketOptions, TicketTruth};

/// How objects are named and framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `raw/YYYY/MM/DD/HH/<stream>-1-<time>-<uuid>`, records run together after the transform
    /// (some objects from before the transform was deployed).
    Firehose,
    /// The sample's dynamic partitioning: `<eventType>/<schemaVersion>/<stream>-1-<time>-<uuid>`.
    Sample,
    /// `YYYY/MM/DD/HH/…`, one compact record per line, untransformed.
    Ndjson,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub events: u64,
    pub clients: u64,
    pub days: u64,
    pub seed: u64,
    pub dup_rate: f64,
    pub bad_rate: f64,
    pub late_rate: f64,
    pub layout: Layout,
    pub gzip: bool,
    pub zstd: bool,
    pub objects: u64,
    /// First event time, seconds since the epoch.
    pub start_seconds: i64,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            events: 10_000,
            clients: 100,
            days: 1,
            seed: 42,
            dup_rate: 0.01,
            bad_rate: 0.001,
            late_rate: 0.01,
            layout: Layout::Firehose,
            gzip: false,
            zstd: false,
            objects: 0,
            start_seconds: 1_793_491_200, // 2026-11-01T00:00:00Z
        }
    }
}

/// The known answer: what a correct compaction of the output holds.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct GenSummary {
    pub objects: u64,
    /// Distinct good events (rows `events` must hold).
    pub events: u64,
    /// Extra deliveries of an event already written.
    pub duplicates: u64,
    /// Bad records, one `errors` row each (Firehose error records included).
    pub bad_records: u64,
    /// Of those, records in Firehose's `error/` prefix.
    pub firehose_errors: u64,
    /// Events whose arrival lags their time by over an hour.
    pub late_events: u64,
    /// Good events by type.
    pub by_event_type: std::collections::BTreeMap<String, u64>,
    pub bytes: u64,
}

const EVENT_TYPES: [(&str, u32); 5] = [
    ("shopping", 30),
    ("searching", 30),
    ("paging", 20),
    ("purchase", 15),
    ("loyaltypurchase", 5),
];
const SEARCH_TERMS: [&str; 8] = [
    "games",
    "books",
    "shoes",
    "coffee",
    "lego",
    "headphones",
    "tents",
    "paint",
];

struct GeneratedEvent {
    id: String,
    client: String,
    event_type: &'static str,
    schema_version: u8,
    time: i64,
    sku: u32,
    term: &'static str,
    page: u8,
}

/// Writes the objects to a location as a user types it (a folder or `s3://bucket/prefix`) and
/// returns the known answer.
pub async fn generate_to(
    location: &str,
    storage_options: &std::collections::HashMap<String, String>,
    options: &GenOptions,
) -> Result<GenSummary> {
    let root = crate::storage::parse_location(location)?;
    let (store, prefix) = crate::storage::object_store_for(&root, storage_options)?;
    generate(store, &prefix, options).await
}

/// Writes the objects and returns the known answer.
pub async fn generate(
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
    options: &GenOptions,
) -> Result<GenSummary> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let clients: Vec<String> = (0..options.clients.max(1))
        .map(|_| uuid_from(&mut rng))
        .collect();
    let objects = if options.objects > 0 {
        options.objects
    } else {
        // Firehose flushes a buffer at least every 15 minutes, or at 5,000 records here.
        options
            .events
            .div_ceil(5_000)
            .max(options.days.max(1) * 96)
            .min(options.events.max(1))
    };
    let per_object = options.events.div_ceil(objects).max(1);
    let span = (options.days.max(1) * 86_400) as i64;
    let mut summary = GenSummary::default();
    let mut recent: Vec<GeneratedEvent> = Vec::new();
    let mut body: Vec<u8> = Vec::with_capacity(per_object as usize * 420);
    let mut record = String::with_capacity(1024);
    let mut written = 0u64;
    let mut object_index = 0u64;

    while written < options.events {
        body.clear();
        let arrival = options.start_seconds
            + (written as i128 * span as i128 / options.events.max(1) as i128) as i64
            + 60;
        // Objects written before the transform was deployed hold untransformed records.
        let transformed = match options.layout {
            Layout::Ndjson => false,
            _ => object_index % 7 != 3,
        };
        let run_together = options.layout != Layout::Ndjson;
        let in_object = per_object.min(options.events - written);
        let mut first_type = None;
        for index in 0..in_object {
            let event_arrival = arrival + (index as i64 * span / options.events.max(1) as i64);
            if rng.gen_bool(options.bad_rate.clamp(0.0, 1.0)) {
                summary.bad_records += 1;
                bad_record(
                    &mut rng,
                    &clients,
                    event_arrival,
                    run_together,
                    index + 1 == in_object,
                    &mut body,
                );
                continue;
            }
            let late = rng.gen_bool(options.late_rate.clamp(0.0, 1.0));
            let delay = if late {
                rng.gen_range(3_600..6 * 3_600)
            } else {
                rng.gen_range(0..60)
            };
            let event = random_event(&mut rng, &clients, event_arrival - delay);
            first_type.get_or_insert((event.event_type, event.schema_version));
            summary.events += 1;
            summary.late_events += u64::from(late);
            *summary
                .by_event_type
                .entry(event.event_type.to_owned())
                .or_default() += 1;
            write_event(&event, transformed, run_together, &mut record);
            push_record(&mut body, &record, run_together);
            if rng.gen_bool(options.dup_rate.clamp(0.0, 1.0)) {
                recent.push(event);
            }
            // Redeliver an earlier event now and then, possibly into a later object.
            if !recent.is_empty() && rng.gen_bool(0.5) {
                let again = recent.swap_remove(rng.gen_range(0..recent.len()));
                write_event(&again, transformed, run_together, &mut record);
                push_record(&mut body, &record, run_together);
                summary.duplicates += 1;
            }
        }
        written += in_object;
        // Firehose names an object when it flushes the buffer: after its last record arrived.
        let flushed = arrival + (in_object as i64 * span / options.events.max(1) as i64) + 5;
        let key = object_key(options.layout, prefix, flushed, first_type, &mut rng);
        summary.bytes += put(&store, &key, &body, options).await?;
        summary.objects += 1;
        object_index += 1;
    }
    // Deliveries still pending go into one last object.
    if !recent.is_empty() {
        body.clear();
        for event in recent.drain(..) {
            write_event(&event, true, true, &mut record);
            push_record(&mut body, &record, true);
            summary.duplicates += 1;
        }
        let key = object_key(
            options.layout,
            prefix,
            options.start_seconds + span + 120,
            Some(("purchase", 2)),
            &mut rng,
        );
        summary.bytes += put(&store, &key, &body, options).await?;
        summary.objects += 1;
    }
    // Firehose's own failures, under error/.
    if options.bad_rate > 0.0 {
        body.clear();
        let failed = (options.events as f64 * options.bad_rate / 4.0).ceil() as u64;
        for _ in 0..failed {
            let time = options.start_seconds + rng.gen_range(0..span);
            let event = random_event(&mut rng, &clients, time);
            write_event(&event, false, false, &mut record);
            let raw_data = base64::engine::general_purpose::STANDARD.encode(record.as_bytes());
            let _ = writeln!(
                body,
                r#"{{"attemptsMade":4,"arrivalTimestamp":{},"errorCode":"Lambda.FunctionError","errorMessage":"The Lambda function was successfully invoked but it returned an error result.","attemptEndingTimestamp":{},"rawData":"{raw_data}","lambdaArn":"arn:aws:lambda:us-east-1:123456789012:function:client-event-transform:$LATEST"}}"#,
                event.time * 1000,
                event.time * 1000 + 4000
            );
            summary.firehose_errors += 1;
            summary.bad_records += 1;
        }
        let (date, stamp) = key_times(options.start_seconds);
        let mut key = prefix.clone().join("error").join("processing-failed");
        for part in date.split('/') {
            key = key.join(part);
        }
        let key = key.join(format!("client-events-1-{stamp}-{}", uuid_from(&mut rng)));
        summary.bytes += put(&store, &key, &body, options).await?;
        summary.objects += 1;
    }
    Ok(summary)
}

fn random_event(rng: &mut StdRng, clients: &[String], time: i64) -> GeneratedEvent {
    let mut pick = rng.gen_range(0..100);
    let mut event_type = EVENT_TYPES[0].0;
    for (name, weight) in EVENT_TYPES {
        if pick < weight {
            event_type = name;
            break;
        }
        pick -= weight;
    }
    let schema_version = match event_type {
        "shopping" | "searching" => 1,
        // A few old clients still send purchase v1.
        "purchase" if rng.gen_bool(0.05) => 1,
        _ => 2,
    };
    GeneratedEvent {
        id: uuid_from(rng),
        client: clients[rng.gen_range(0..clients.len())].clone(),
        event_type,
        schema_version,
        time,
        sku: rng.gen_range(100..100_000),
        term: SEARCH_TERMS[rng.gen_range(0..SEARCH_TERMS.len())],
        page: rng.gen_range(1..20),
    }
}

/// Serialises an event as Firehose stores it: Python `json.dumps` spacing after the transform,
/// compact EventBridge JSON before it.
fn write_event(event: &GeneratedEvent, transformed: bool, spaced: bool, out: &mut String) {
    let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
    out.clear();
    let time = crate::time::CivilTime::from_seconds(event.time).rfc3339();
    let _ = write!(
        out,
        r#"{{"version"{colon}"0"{comma}"id"{colon}"{}"{comma}"detail-type"{colon}"prod"{comma}"source"{colon}"clientevents"{comma}"account"{colon}"123456789012"{comma}"time"{colon}"{time}"{comma}"region"{colon}"us-east-1"{comma}"resources"{colon}"#,
        event.id
    );
    if transformed {
        out.push_str("[]");
    } else {
        let _ = write!(out, r#"["{}"]"#, event.client);
    }
    let _ = write!(
        out,
        r#"{comma}"detail"{colon}{{"eventType"{colon}"{}"{comma}"schemaVersion"{colon}{}{comma}"data"{colon}"#,
        event.event_type, event.schema_version
    );
    let _ = match event.event_type {
        "searching" => write!(out, r#"{{"searchTerm"{colon}"{}"}}"#, event.term),
        "paging" => write!(
            out,
            r#"{{"searchTerm"{colon}"{}"{comma}"page"{colon}{}}}"#,
            event.term, event.page
        ),
        _ => write!(out, r#"{{"itemSku"{colon}{}}}"#, event.sku),
    };
    if event.event_type == "loyaltypurchase" {
        let _ = write!(
            out,
            r#"{comma}"ticket"{colon}{{"ticket"{colon}{{"subject"{colon}"Loyalty customer purchase"{comma}"comment"{colon}{{"body"{colon}"This customer has made a loyalty purchase"}}}}}}"#
        );
    }
    if transformed {
        let _ = write!(out, r#"{comma}"accountNumber"{colon}"{}""#, event.client);
    }
    out.push_str("}}");
}

fn push_record(body: &mut Vec<u8>, record: &str, run_together: bool) {
    body.extend_from_slice(record.as_bytes());
    if !run_together {
        body.push(b'\n');
    }
}

/// One bad record of a kind the pipeline produces; each frames as exactly one `errors` row.
fn bad_record(
    rng: &mut StdRng,
    clients: &[String],
    time: i64,
    run_together: bool,
    last_in_object: bool,
    body: &mut Vec<u8>,
) {
    let mut record = String::new();
    let event = random_event(rng, clients, time);
    write_event(&event, false, run_together, &mut record);
    match rng.gen_range(0..6) {
        0 => body.extend_from_slice(b"this record is not JSON at all"),
        1 => {
            // Cut short after a field: the framer must still find the next record.
            let cut = record.find(r#""time""#).unwrap_or(record.len() / 2);
            body.extend_from_slice(&record.as_bytes()[..cut]);
        }
        2 => {
            let at = record.find("prod").unwrap_or(0);
            let mut bytes = record.into_bytes();
            bytes[at] = 0xff;
            body.extend_from_slice(&bytes);
        }
        3 => body.extend_from_slice(
            record
                .replacen(&format!("\"{}\"", event.id), "12345", 1)
                .as_bytes(),
        ),
        4 => {
            let start = record.find(r#""time""#).unwrap_or(0);
            let end = start + record[start..].find(',').map_or(0, |comma| comma + 1);
            record.replace_range(start..end, "");
            body.extend_from_slice(record.as_bytes());
        }
        _ => body.extend_from_slice(
            record
                .replacen(
                    r#""schemaVersion""#,
                    r#""schemaVersion": {"major": 2}, "x""#,
                    1,
                )
                .as_bytes(),
        ),
    }
    // A record cut at the very end of an object is the common real case; elsewhere a newline
    // or the next `{` ends it.
    let _ = last_in_object;
    body.push(b'\n');
}

fn object_key(
    layout: Layout,
    prefix: &Path,
    arrival: i64,
    first_type: Option<(&str, u8)>,
    rng: &mut StdRng,
) -> Path {
    let (hour_path, stamp) = key_times(arrival);
    let name = format!("client-events-1-{stamp}-{}", uuid_from(rng));
    let mut key = prefix.clone();
    match layout {
        Layout::Firehose => {
            key = key.join("raw");
            for part in hour_path.split('/') {
                key = key.join(part);
            }
        }
        Layout::Sample => {
            let (event_type, version) = first_type.unwrap_or(("shopping", 1));
            key = key.join(event_type).join(version.to_string());
        }
        Layout::Ndjson => {
            for part in hour_path.split('/') {
                key = key.join(part);
            }
        }
    }
    key.join(name)
}

/// (`YYYY/MM/DD/HH`, `YYYY-MM-DD-HH-MM-SS`) of a time.
fn key_times(seconds: i64) -> (String, String) {
    let time = crate::time::CivilTime::from_seconds(seconds);
    (time.hour_path(), time.object_name_stamp())
}

fn uuid_from(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.gen())
        .into_uuid()
        .to_string()
}

/// Bytes of each part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;

async fn put(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    body: &[u8],
    options: &GenOptions,
) -> Result<u64> {
    let bytes = if options.gzip {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::fast(),
        );
        encoder
            .write_all(body)
            .map_err(|source| Error::ReadObject {
                object: key.to_string(),
                source,
            })?;
        encoder.finish().map_err(|source| Error::ReadObject {
            object: key.to_string(),
            source,
        })?
    } else if options.zstd {
        zstd::encode_all(body, 3).map_err(|source| Error::ReadObject {
            object: key.to_string(),
            source,
        })?
    } else {
        body.to_vec()
    };
    let size = bytes.len() as u64;
    // One PUT up to a part's size, a multipart upload above it (S3 caps a PUT at 5 GiB).
    let mut writer =
        object_store::buffered::BufWriter::with_capacity(store.clone(), key.clone(), PART_BYTES);
    let written = async {
        writer.write_all(&bytes).await?;
        writer.shutdown().await
    }
    .await;
    written.map_err(|source| Error::ReadObject {
        object: key.to_string(),
        source,
    })?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{parse_record, Parsed};
    use crate::transform::Transform;

    #[test]
    fn generated_events_parse_before_and_after_the_transform() {
        let mut rng = StdRng::seed_from_u64(1);
        let clients = vec!["c-1".to_owned()];
        let mut record = String::new();
        for (transformed, spaced) in [(true, true), (false, false), (false, true)] {
            for _ in 0..50 {
                let event = random_event(&mut rng, &clients, 1_793_491_200);
                write_event(&event, transformed, spaced, &mut record);
                let mut scratch = String::new();
                match parse_record(record.as_bytes(), &Transform::sample(), &mut scratch) {
                    Ok(Parsed::Event(parsed)) => {
                        assert_eq!(parsed.client_id.as_deref(), Some("c-1"));
                        assert_eq!(parsed.event_type.as_deref(), Some(event.event_type));
                    }
                    _ => panic!("did not parse: {record}"),
                }
            }
        }
        assert_eq!(
            crate::time::CivilTime::from_seconds(1_793_491_200).rfc3339(),
            "2026-11-01T00:00:00Z"
        );
    }
}
