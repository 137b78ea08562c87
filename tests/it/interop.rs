//! Other engines read what eventlake writes: delta-rs from Python, DuckDB, and Sail (Spark SQL).

use std::process::Command;

use eventlake::generate::GenOptions;

use crate::common::*;

/// The Python with `duckdb` and `deltalake` (.ci/run sets EVENTLAKE_PYTHON to its virtualenv).
/// The test Python (duckdb, deltalake, moto and the rest of `.ci/requirements.txt`). A test that
/// needs it fails without it: a skipped check would pass whether or not the claim holds.
pub fn python() -> String {
    let python = std::env::var("EVENTLAKE_PYTHON")
        .unwrap_or_else(|_| "/var/tmp/eventlake-venv/bin/python".into());
    let usable = Command::new(&python)
        .args(["-c", "import duckdb, deltalake"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        usable,
        "no Python with duckdb and deltalake at {python}: run the suite with .ci/run, or set EVENTLAKE_PYTHON"
    );
    python
}

on_both_backends!(deltalake_and_duckdb_read_the_same_lake);

async fn deltalake_and_duckdb_read_the_same_lake(backend: Backend) {
    let python = python();
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 8_000,
            days: 3,
            objects: 5,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_lake.py");
    let output = Command::new(python)
        .arg(script)
        .arg(&lake.uri)
        .envs(
            lake.storage_options()
                .into_iter()
                .map(|(key, value)| (key.to_ascii_uppercase(), value)),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(read["deltalake_rows"], summary.events);
    assert_eq!(read["deltalake_distinct_ids"], summary.events);
    assert_eq!(read["duckdb_rows"], summary.events);
    assert_eq!(read["duckdb_distinct_ids"], summary.events);
    assert_eq!(read["errors_rows"], summary.bad_records);
    assert_eq!(
        read["partition_columns"],
        serde_json::json!(["event_type", "dt"])
    );

    let partitions = sql(
        &lake,
        "SELECT event_type, dt, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await;
    let partitions: Vec<serde_json::Value> = partitions
        .into_iter()
        .map(|row| serde_json::json!([row[0], row[1], row[2].parse::<u64>().unwrap()]))
        .collect();
    assert_eq!(
        read["duckdb_partitions"],
        serde_json::Value::Array(partitions)
    );

    let sample = read["sample"].as_array().unwrap();
    let id = sample[0].as_str().unwrap();
    let ours = sql(
        &lake,
        &format!(
            "SELECT id, client_id, event_type, CAST(schema_version AS VARCHAR), to_char(time, '%Y-%m-%dT%H:%M:%S'), client_id AS account_number FROM events WHERE id = '{id}'"
        ),
    )
    .await;
    let theirs: Vec<String> = sample
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ours[0], theirs);
}

/// The `duckdb` CLI of the test virtualenv and its `delta` extension file (PyPI
/// `duckdb-cli` and `duckdb-extension-delta` at the same version; DuckDB loads only an
/// extension built for its own version).
fn duckdb_with_delta(python: &str) -> (String, String) {
    let bin = std::path::Path::new(python)
        .parent()
        .expect("the Python is in a bin folder");
    let found = Command::new(python)
        .args([
            "-c",
            "import duckdb_extension_delta, glob, os; \
             print(glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), 'extensions', '*', 'delta.duckdb_extension'))[0])",
        ])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "duckdb-extension-delta is not installed: {}",
        String::from_utf8_lossy(&found.stderr)
    );
    let extension = String::from_utf8(found.stdout).unwrap().trim().to_owned();
    (bin.join("duckdb").to_string_lossy().into_owned(), extension)
}

/// What the README tells users: DuckDB's `delta_scan` reads the tables as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_delta_scan_reads_the_lake() {
    let python = python();
    let (duckdb, extension) = duckdb_with_delta(&python);
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 6_000,
            days: 2,
            objects: 4,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    let script = format!(
        "LOAD '{extension}'; \
         SELECT count(*), count(DISTINCT id), count(DISTINCT event_type) FROM delta_scan('{lake}/events'); \
         SELECT count(*) FROM delta_scan('{lake}/errors'); \
         SELECT count(*) FROM delta_scan('{lake}/source_objects');",
        lake = lake.uri
    );
    let output = Command::new(&duckdb)
        .args(["-csv", "-noheader", "-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{duckdb}: {stderr}");
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let types = summary.by_event_type.len();
    assert_eq!(
        lines,
        vec![
            format!("{},{},{types}", summary.events, summary.events),
            summary.bad_records.to_string(),
            summary.objects.to_string(),
        ],
        "{stderr}"
    );
}

/// Fails unless the test Python has Sail and its Spark Connect client (.ci/run installs them).
fn require_sail(python: &str) {
    let found = Command::new(python)
        .args(["-c", "import pysail.spark, pyspark.sql"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "no pysail and pyspark-client at {python}: run .ci/run (.ci/requirements.txt)"
    );
}

/// `eventlake query --format json` of a saved query with its parameters.
fn eventlake_rows(lake: &Loc, query: &str, params: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut command = eventlake(lake);
    command.args(["query", "--lake", &lake.uri, "--format", "json", query]);
    for (name, value) in params.as_object().unwrap() {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        command.arg("--param").arg(format!("{name}={value}"));
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "eventlake query {query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Rows as sorted text, to compare two engines' answers: every column either side names (a
/// column eventlake's JSON leaves out is NULL), numbers as f64 (the integer types differ).
fn comparable(rows: &[serde_json::Value], columns: &[String]) -> Vec<String> {
    let mut rows: Vec<String> = rows
        .iter()
        .map(|row| {
            let values: Vec<serde_json::Value> = columns
                .iter()
                .map(|column| match row.get(column) {
                    Some(serde_json::Value::Number(n)) => serde_json::json!(n.as_f64()),
                    Some(value) => value.clone(),
                    None => serde_json::Value::Null,
                })
                .collect();
            serde_json::Value::Array(values).to_string()
        })
        .collect();
    rows.sort();
    rows
}

/// Sail, a Spark-compatible engine, in local-cluster mode (a driver and two workers) reads the
/// lake with `spark.read.format("delta")` and gives every triage query eventlake's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sail_answers_the_triage_queries_as_eventlake_does() {
    let python = python();
    require_sail(&python);
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    generate(
        &raw,
        &GenOptions {
            events: 20_000,
            clients: 40,
            days: 2,
            objects: 12,
            bad_rate: 0.003,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    let day = "2026-11-01";
    let client = sql(
        &lake,
        "SELECT client_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    .await[0][0]
        .clone();
    let ingest_day = sql(&lake, "SELECT dt FROM errors LIMIT 1").await[0][0].clone();
    // Every run has rows, so that the comparison compares something.
    let runs = serde_json::json!([
        {"query": "triage/overview", "params": {"day": day}},
        {"query": "triage/overview", "params": {"day": ingest_day}},
        {"query": "triage/client-timeline",
         "params": {"client": client, "from": "2026-11-01T06:00:00Z", "to": "2026-11-02T06:00:00Z"}},
        {"query": "triage/errors", "params": {"since": "1970-01-01"}},
        {"query": "triage/late-events", "params": {"day": day, "threshold_minutes": 60}},
        {"query": "triage/schema-drift", "params": {"from": "1970-01-01", "to": "9999-12-31"}},
    ]);

    // Twice: the tables read with `spark.read.format("delta")`, and registered in Sail's catalog
    // by running what `eventlake catalog ddl --engine spark` prints.
    let ddl = eventlake(&lake)
        .args(["catalog", "ddl", "--engine", "spark", "--lake", &lake.uri])
        .output()
        .unwrap();
    assert!(
        ddl.status.success(),
        "{}",
        String::from_utf8_lossy(&ddl.stderr)
    );
    let ddl_file = path(&dir, "tables.sql");
    std::fs::write(&ddl_file, &ddl.stdout).unwrap();
    for registration in [None, Some(&ddl_file)] {
        sail_answers_as_eventlake_does(&python, &lake, &runs, registration);
    }
}

fn sail_answers_as_eventlake_does(
    python: &str,
    lake: &Loc,
    runs: &serde_json::Value,
    ddl: Option<&std::path::PathBuf>,
) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/sail_reads_lake.py"
    );
    let mut command = Command::new(python);
    command.arg(script).arg(&lake.uri).arg(runs.to_string());
    if let Some(ddl) = ddl {
        command.arg(ddl);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sail: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&output.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(sail.len(), runs.len());

    for (run, theirs) in runs.iter().zip(&sail) {
        let (query, params) = (run["query"].as_str().unwrap(), &run["params"]);
        let ours = eventlake_rows(lake, query, params);
        assert!(!ours.is_empty(), "{query} {params}: no rows to compare");
        let columns: Vec<String> = ours
            .iter()
            .chain(theirs)
            .flat_map(|row| row.as_object().unwrap().keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            comparable(&ours, &columns),
            comparable(theirs, &columns),
            "{query} {params} (DDL: {ddl:?}): eventlake (left) and Sail (right) disagree"
        );
    }
}
