//! Hostile input, generated: every field of the envelope odd in every way (wrong types, times
//! past a timestamp's range, huge, empty and unpaired-surrogate ids, duplicate keys, very many
//! keys, junk after a record) and partition values no path can hold as they stand (300-byte and
//! non-ASCII event types, newlines, `.`, `..`, `/`, Hive's null marker). The property: `compact`
//! exits 0, each record is exactly once in `events` or in `errors`, every key fits every store,
//! and both eventlake's `query` and Python's `deltalake` read the lake.

use std::collections::HashMap;
use std::process::Command;

use object_store::path::PathPart;
use object_store::{ObjectStoreExt, PutPayload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::common::*;

on_both_backends!(hostile_records_land_exactly_once_in_events_or_errors);

/// One generated record: its bytes, and its id when the id is a plain JSON string.
struct HostileRecord {
    raw: String,
    id: Option<String>,
}

/// Event types no path segment holds as they are; a few, so partitions stay few.
fn odd_event_types() -> Vec<String> {
    vec![
        "searching".into(),
        "a".repeat(300),
        format!("{}b", "a".repeat(300)),
        "é".repeat(150),
        "日本語のイベント".repeat(10),
        "new\nline".into(),
        "tab\there\u{7f}".into(),
        String::new(),
        ".".into(),
        "..".into(),
        "../../etc/passwd".into(),
        "a/b".into(),
        "%2F".into(),
        "__HIVE_DEFAULT_PARTITION__".into(),
        "x~0123456789abcdef".into(),
        " spaced out ".into(),
        "=equals=".into(),
    ]
}

fn json(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn hostile_record(index: usize, rng: &mut SmallRng) -> HostileRecord {
    let event_types = odd_event_types();
    let mut id = Some(format!("h-{index}"));
    let id_field = match rng.gen_range(0..12) {
        0 => {
            id = Some(format!("{}{index}", "x".repeat(5_000)));
            format!("\"id\":{}", json(id.as_deref().unwrap()))
        }
        1 => {
            id = Some(format!("é\"\\{index}"));
            format!("\"id\":{}", json(id.as_deref().unwrap()))
        }
        2 => {
            id = None;
            format!("\"id\":\"\\ud800-{index}\"")
        }
        3 => {
            id = None;
            [
                "\"id\":5",
                "\"id\":null",
                "\"id\":{}",
                "\"id\":[]",
                "\"id\":\"\"",
            ][index % 5]
                .to_owned()
        }
        4 => {
            id = None;
            format!("\"id\":\"a-{index}\",\"id\":\"b-{index}\"")
        }
        5 => {
            id = None;
            String::new()
        }
        _ => format!("\"id\":{}", json(id.as_deref().unwrap())),
    };
    let time = match rng.gen_range(0..10) {
        0 => "\"time\":\"9999-12-31T23:59:59Z\"".to_owned(),
        1 => "\"time\":\"0001-01-01T00:00:00Z\"".to_owned(),
        2 => "\"time\":\"+275760-09-13T00:00:00Z\"".to_owned(),
        3 => "\"time\":\"2026-13-01T00:00:00Z\"".to_owned(),
        4 => "\"time\":1700000000".to_owned(),
        _ => "\"time\":\"2026-11-20T13:00:00Z\"".to_owned(),
    };
    let event_type = &event_types[rng.gen_range(0..event_types.len())];
    let detail = match rng.gen_range(0..12) {
        0 => "\"detail\":\"not an object\"".to_owned(),
        1 => "\"detail\":[1,2]".to_owned(),
        2 => "\"detail\":null".to_owned(),
        3 => format!(
            "\"detail\":{{\"eventType\":{}}}",
            ["5", "[]", "{}", "true"][index % 4]
        ),
        4 => format!(
            "\"detail\":{{\"eventType\":{},\"schemaVersion\":\"x\"}}",
            json(event_type)
        ),
        5 => {
            let keys: Vec<String> = (0..2_000).map(|key| format!("\"k{key}\":{key}")).collect();
            format!(
                "\"detail\":{{\"eventType\":{},{}}}",
                json(event_type),
                keys.join(",")
            )
        }
        _ => format!(
            "\"detail\":{{\"eventType\":{},\"schemaVersion\":1,\"data\":{{\"n\":{index}}}}}",
            json(event_type)
        ),
    };
    let fields: Vec<String> = [
        id_field,
        "\"detail-type\":\"prod\"".to_owned(),
        "\"source\":\"clientevents\"".to_owned(),
        time,
        format!("\"resources\":[\"c-{}\"]", index % 7),
        detail,
        // Makes every raw record distinct, so an error row names exactly one record.
        format!("\"n\":{index}"),
    ]
    .into_iter()
    .filter(|field| !field.is_empty())
    .collect();
    HostileRecord {
        raw: format!("{{{}}}", fields.join(",")),
        id,
    }
}

async fn hostile_records_land_exactly_once_in_events_or_errors(backend: Backend) {
    let seed = 0x5eed_u64;
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let (store, prefix) = raw.store();
    let mut records = Vec::new();
    let mut junk = Vec::new();
    for object in 0..4 {
        let mut body = String::new();
        for _ in 0..300 {
            let record = hostile_record(records.len(), &mut rng);
            body.push_str(&record.raw);
            match rng.gen_range(0..10) {
                // Junk straight after a record is a bad record of its own.
                0 => {
                    let text = format!("junk-{}", junk.len());
                    body.push_str(&text);
                    junk.push(text);
                    body.push('\n');
                }
                // Records run together, as the sample's Lambda writes them.
                1 => {}
                _ => body.push('\n'),
            }
            records.push(record);
        }
        store
            .put(
                &prefix
                    .parts()
                    .chain(["2026", "11", "20", "13"].map(PathPart::from))
                    .chain([PathPart::from(format!("hostile-{object}"))])
                    .collect(),
                PutPayload::from(body.into_bytes()),
            )
            .await
            .unwrap();
    }

    let metrics = compact_cli(&raw, &lake, &[]);
    assert_eq!(
        metrics["records_in"].as_u64().unwrap() as usize,
        records.len() + junk.len(),
        "seed {seed}: every record and every piece of junk is framed once"
    );

    let mut event_ids: HashMap<String, usize> = HashMap::new();
    for row in sql(&lake, "SELECT id FROM events").await {
        *event_ids.entry(row[0].clone()).or_default() += 1;
    }
    let mut error_raws: HashMap<Vec<u8>, usize> = HashMap::new();
    // Arrow shows a binary value as hex.
    for row in sql(&lake, "SELECT raw_record FROM errors").await {
        let bytes = (0..row[0].len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&row[0][at..at + 2], 16).unwrap())
            .collect();
        *error_raws.entry(bytes).or_default() += 1;
    }
    for (index, record) in records.iter().enumerate() {
        let in_events = record
            .id
            .as_ref()
            .map_or(0, |id| event_ids.get(id).copied().unwrap_or(0));
        let in_errors = error_raws.get(record.raw.as_bytes()).copied().unwrap_or(0);
        assert_eq!(
            in_events + in_errors,
            1,
            "seed {seed}: record {index} is {in_events}× in events and {in_errors}× in errors: {}",
            &record.raw[..record.raw.len().min(300)]
        );
    }
    for text in &junk {
        assert_eq!(error_raws.get(text.as_bytes()), Some(&1), "junk {text}");
    }
    let events: usize = event_ids.values().sum();
    let errors: usize = error_raws.values().sum();
    assert_eq!(
        events + errors,
        records.len() + junk.len(),
        "nothing else in the lake"
    );
    assert!(
        events > records.len() / 4,
        "the generator should make good events too"
    );

    assert_ledger_matches_tables(&lake).await;

    let event_types = count(&lake, "SELECT count(DISTINCT event_type) FROM events").await;
    assert!(
        event_types >= 10,
        "odd event types keep distinct partitions: {event_types}"
    );
    if backend == Backend::Local {
        assert_keys_fit_every_store(&lake.uri);
    }

    // eventlake's own query reads it.
    let output = eventlake(&lake)
        .args(["query", "--lake", &lake.uri, "--format", "csv"])
        .arg("SELECT count(*) AS n FROM events")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("n\n{events}\n")
    );

    // And so does delta-rs from Python. It leaves `os._exit` because Python `deltalake` 1.6 with
    // pyarrow aborts at interpreter exit about half the time ("terminate called without an
    // active exception"), on any lake, after its answer is out.
    let python = crate::interop::python();
    let script = "import sys, os\nfrom deltalake import DeltaTable\n\
        opts = {k: os.environ[k] for k in ('AWS_ENDPOINT_URL', 'AWS_ALLOW_HTTP', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION') if k in os.environ}\n\
        t = DeltaTable(sys.argv[1].rstrip('/') + '/events', storage_options=opts).to_pyarrow_table()\n\
        print(t.num_rows, len(set(t.column('event_type').to_pylist())), flush=True)\n\
        os._exit(0)\n";
    let output = Command::new(python)
        .args(["-c", script, &lake.uri])
        .envs(lake.storage_options().into_iter().map(|(key, value)| {
            let key = key.to_ascii_uppercase();
            let key = if key == "AWS_ENDPOINT" {
                "AWS_ENDPOINT_URL".to_owned()
            } else {
                key
            };
            (key, value)
        }))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = String::from_utf8_lossy(&output.stdout);
    let mut numbers = read.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    assert_eq!(
        numbers.next(),
        Some(events as u64),
        "deltalake reads every event"
    );
    assert_eq!(
        numbers.next(),
        Some(event_types),
        "deltalake sees the same event types"
    );
}

/// Every name under the lake fits a filesystem (255 bytes) and every key fits S3 (1,024).
fn assert_keys_fit_every_store(lake: &str) {
    fn walk(root: &std::path::Path, dir: &std::path::Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().len();
            assert!(name <= 255, "{} is {name} bytes", path.display());
            let key = path.strip_prefix(root).unwrap().as_os_str().len();
            assert!(key <= 1024 - 320, "{} is a {key}-byte key", path.display());
            let control = path.to_string_lossy().chars().any(char::is_control);
            assert!(!control, "{} holds a control character", path.display());
            if path.is_dir() {
                walk(root, &path);
            }
        }
    }
    let root = std::path::Path::new(lake.trim_start_matches("file://"));
    walk(root, root);
}
