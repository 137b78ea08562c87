//! Saved queries against an independent computation (DuckDB over the same Delta table), plus
//! output formats, parameters, pruning and errors of `eventlake query`.

use std::process::Command;

use eventlake::generate::GenOptions;
use serde_json::Value;

use crate::common::*;

/// Runs `eventlake query` and returns stdout; panics with stderr on failure.
fn query(lake: impl Into<Loc>, args: &[&str]) -> String {
    let lake = lake.into();
    let output = eventlake(&lake)
        .args(["query", "--lake", &lake.uri])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "query {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json_rows(lake: impl Into<Loc>, args: &[&str]) -> Vec<serde_json::Map<String, Value>> {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let text = query(lake, &all);
    serde_json::from_str::<Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
}

fn column(rows: &[serde_json::Map<String, Value>], names: &[&str]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            Value::Array(
                names
                    .iter()
                    .map(|name| row.get(*name).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect()
}

fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_key(|value| value.to_string());
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_queries_agree_with_duckdb_on_the_same_table() {
    let python = crate::interop::python();
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    let summary = generate(
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
    let (from, to) = ("2026-11-01T06:00:00Z", "2026-11-02T06:00:00Z");
    let ingest_day = sql(&lake, "SELECT dt FROM errors LIMIT 1").await[0][0].clone();

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/expected_queries.py"
    );
    let output = Command::new(python)
        .arg(script)
        .args([lake.to_str().unwrap(), day, &client, from, to, "60"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&output.stdout).unwrap();
    let expect = |name: &str| expected[name].as_array().unwrap().clone();

    // overview: the day's events by type and hour; errors by ingest hour on their ingest day.
    let overview = json_rows(
        &lake,
        &["triage/overview", "--param", &format!("day={day}")],
    );
    let ours = column(
        &overview,
        &["event_type", "hour", "events", "clients", "bad_records"],
    );
    let theirs: Vec<Value> = expect("triage/overview")
        .into_iter()
        .filter(|row| row[0] != "(errors)")
        .collect();
    assert_eq!(
        sorted(
            ours.into_iter()
                .filter(|row| row[0] != "(errors)")
                .collect()
        ),
        sorted(theirs)
    );
    let errors_day = json_rows(
        &lake,
        &["triage/overview", "--param", &format!("day={ingest_day}")],
    );
    let bad: u64 = errors_day
        .iter()
        .filter_map(|row| row["bad_records"].as_u64())
        .sum();
    assert_eq!(bad, summary.bad_records);

    let timeline = json_rows(
        &lake,
        &[
            "triage/client-timeline",
            "-p",
            &format!("client={client}"),
            "-p",
            &format!("from={from}"),
            "-p",
            &format!("to={to}"),
        ],
    );
    let ids: Vec<Value> = timeline.iter().map(|row| row["id"].clone()).collect();
    assert!(!ids.is_empty());
    assert_eq!(ids, expect("triage/client-timeline"));
    assert!(
        timeline.iter().any(|row| row["search_term"].is_string()),
        "detail fields are extracted"
    );

    let errors = json_rows(&lake, &["triage/errors"]);
    assert_eq!(
        sorted(column(&errors, &["error_code", "source_object", "records"])),
        sorted(expect("triage/errors"))
    );
    assert!(errors.iter().all(|row| row["sample"].is_string()));

    let late = json_rows(
        &lake,
        &[
            "triage/late-events",
            "--param",
            &format!("day={day}"),
            "--param",
            "threshold_minutes=60",
        ],
    );
    let late_ids: Vec<Value> = late.iter().map(|row| row["id"].clone()).collect();
    assert_eq!(sorted(late_ids), sorted(expect("triage/late-events")));

    let drift = json_rows(&lake, &["triage/schema-drift"]);
    assert_eq!(
        sorted(column(&drift, &["event_type", "schema_version", "events"])),
        sorted(expect("triage/schema-drift"))
    );
    assert!(drift
        .iter()
        .all(|row| row["drift"] == "unexpected schemaVersion"));

    let loyalty = json_rows(&lake, &["loyalty/purchases"]);
    assert_eq!(
        sorted(column(&loyalty, &["day", "client_id", "purchases"])),
        sorted(expect("loyalty/purchases"))
    );
    let total: u64 = loyalty
        .iter()
        .filter_map(|row| row["purchases"].as_u64())
        .sum();
    assert_eq!(total, summary.by_event_type["loyaltypurchase"]);
}

on_both_backends!(formats_params_pruning_and_errors);

async fn formats_params_pruning_and_errors(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 6_000,
            days: 3,
            objects: 6,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    let count_sql = "SELECT count(*) AS n FROM events WHERE event_type = $kind";
    let searching = summary.by_event_type["searching"];

    // Bound parameters; piped output defaults to CSV.
    let csv = query(&lake, &[count_sql, "--param", "kind=searching"]);
    assert_eq!(csv, format!("n\n{searching}\n"));
    let tsv = query(&lake, &["SELECT 'a' AS x, 1 AS y", "--format", "tsv"]);
    assert_eq!(tsv, "x\ty\na\t1\n");
    // CSV has no lists: a list column (`resources`, in every `SELECT *`) is written as its text.
    let lists = query(
        &lake,
        &["SELECT ['a', 'b'] AS list, named_struct('k', 1) AS record, 2 AS n"],
    );
    assert_eq!(lists, "list,record,n\n\"[a, b]\",{k: 1},2\n");
    let everything = query(&lake, &["SELECT * FROM events LIMIT 5", "--format", "csv"]);
    assert_eq!(everything.lines().count(), 6, "{everything}");
    let ndjson = query(
        &lake,
        &[
            "SELECT id FROM events ORDER BY id LIMIT 3",
            "--format",
            "ndjson",
        ],
    );
    assert_eq!(ndjson.lines().count(), 3);
    let injected = query(&lake, &[count_sql, "--param", "kind=searching' OR '1'='1"]);
    assert_eq!(injected, "n\n0\n", "a parameter is a value, never SQL");

    // Parquet and Arrow IPC files.
    let parquet_file = path(&dir, "out.parquet");
    query(
        &lake,
        &[
            "SELECT * FROM events",
            "--format",
            "parquet",
            "--output",
            parquet_file.to_str().unwrap(),
        ],
    );
    let file = std::fs::File::open(&parquet_file).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as u64,
        summary.events
    );

    // Partition pruning: a one-day, one-type filter reads a fraction of the bytes a full scan does.
    let filtered_sql = "SELECT count(*) FROM events WHERE dt = '2026-11-02' AND event_type = 'paging' AND detail <> ''";
    let full_sql = "SELECT count(*) FROM events WHERE detail <> ''";
    let filtered = bytes_scanned(&query(&lake, &[filtered_sql, "--analyze"]));
    let full = bytes_scanned(&query(&lake, &[full_sql, "--analyze"]));
    assert!(
        filtered > 0.0 && filtered * 5.0 < full,
        "pruned scan read {filtered} bytes, full scan {full}"
    );
    // An id no event has, inside every file's min/max of `id`: statistics keep the row groups,
    // and the reader skips those whose `id` bloom filter rules it out.
    let absent = "7fffffff-ffff-4fff-bfff-ffffffffffff";
    let sql = format!("SELECT id FROM events WHERE id = '{absent}'");
    assert_eq!(query(&lake, &[&sql]), "id\n");
    let analyzed = query(&lake, &[&sql, "--analyze"]);
    let (tested, matched) = bloom_pruning(&analyzed);
    assert!(
        tested > 1 && matched < tested,
        "bloom filters kept {matched} of {tested} row groups: {analyzed}"
    );
    let explained = query(&lake, &[filtered_sql, "--explain"]);
    assert!(explained.contains("2026-11-02"), "{explained}");
    // A whole table's count comes from the log's row counts: no file is scanned.
    let counted = query(&lake, &["SELECT count(*) FROM events", "--explain"]);
    assert!(
        counted.contains("PlaceholderRowExec") && !counted.contains("DataSourceExec"),
        "{counted}"
    );

    // Time travel: version 0 of events is the empty table created before the first commit.
    let before = query(&lake, &["SELECT count(*) AS n FROM events", "--as-of", "0"]);
    assert_eq!(before, "n\n0\n");

    // Readable errors, non-zero exits.
    // A query that fails exits 1; a parameter missing or mistyped is bad usage, 2.
    let fail_with = |code: i32, args: &[&str]| {
        let output = eventlake(&lake)
            .args(["query", "--lake", &lake.uri])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(fail_with(1, &["SELECT * FROM evnts"]).contains("errors, events, source_objects"));
    // A version the table lacks is said at once (no retries), with the versions it holds.
    let latest = query(&lake, &["SELECT 1 AS one", "--format", "csv"]);
    assert_eq!(latest, "one\n1\n");
    let missing = fail_with(1, &["SELECT count(*) FROM events", "--as-of", "99"]);
    assert!(
        missing.contains("events has no version 99: it holds versions 0–"),
        "{missing}"
    );
    assert!(!missing.contains("retrying"), "{missing}");
    let too_early = fail_with(
        1,
        &[
            "SELECT count(*) FROM events",
            "--as-of",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert!(
        too_early.contains("no version at 2001-01-01T00:00:00Z"),
        "{too_early}"
    );
    assert!(!too_early.contains("retrying"), "{too_early}");
    assert!(fail_with(1, &["SELECT nope FROM events"]).contains("nope"));
    assert!(fail_with(1, &["SELEC 1"]).to_lowercase().contains("selec"));
    assert!(fail_with(2, &["triage/overview"]).contains("--param day="));
    assert!(fail_with(2, &["triage/overview", "--param", "day=yesterday"]).contains("`day`"));

    // --list shows the saved queries with their parameters.
    let list = query(&lake, &["--list"]);
    for name in [
        "triage/overview",
        "triage/client-timeline",
        "triage/errors",
        "triage/late-events",
        "triage/schema-drift",
        "loyalty/purchases",
    ] {
        assert!(list.contains(name), "{list}");
    }

    // A table is opened when a statement names it: with `errors`' log unreadable, `events` still
    // answers, and a query of `errors` fails naming what broke.
    if backend == Backend::Local {
        let log = std::path::Path::new(&lake.uri).join("errors/_delta_log");
        for entry in std::fs::read_dir(&log).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "json") {
                std::fs::write(&path, "not a commit").unwrap();
            }
        }
        let count = query(&lake, &["SELECT count(*) AS n FROM events"]);
        assert_eq!(count, format!("n\n{}\n", summary.events));
        let broken = fail_with(1, &["SELECT count(*) FROM errors"]);
        assert!(broken.contains("errors"), "{broken}");
        assert!(!broken.contains("panicked"), "{broken}");
    }
}

/// Compaction writes each partition's rows sorted by client (in runs) into small pages, so one
/// client's day reads the pages that hold its rows, not the whole day's, and still finds each of
/// them (the same ids as a filter the page index cannot use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_day_reads_only_the_pages_that_hold_its_rows() {
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    let options = GenOptions {
        events: 60_000,
        clients: 2_000,
        objects: 12,
        ..GenOptions::default()
    };
    generate(&raw, &options).await;
    compact_cli(&raw, &lake, &[]);
    let day = "2026-11-01";
    let busiest = format!(
        "SELECT client_id FROM events WHERE dt = '{day}' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    );
    let client = sql(&lake, &busiest).await[0][0].clone();
    let columns = "SELECT time, event_type, id, detail FROM events";
    let whole_day = format!("{columns} WHERE dt = '{day}'");
    let one_client = format!("{whole_day} AND client_id = '{client}'");
    let read_day = bytes_scanned(&query(&lake, &[&whole_day, "--analyze"]));
    let read_client = bytes_scanned(&query(&lake, &[&one_client, "--analyze"]));
    assert!(
        read_client * 2.0 < read_day,
        "one client's day read {read_client} bytes, the whole day {read_day}"
    );
    let ids = |filter: &str| {
        query(
            &lake,
            &[&format!(
                "SELECT id FROM events WHERE dt = '{day}' AND {filter} ORDER BY id"
            )],
        )
    };
    let found = ids(&format!("client_id = '{client}'"));
    assert!(found.lines().count() > 10, "{found}");
    assert_eq!(found, ids(&format!("concat(client_id, '') = '{client}'")));
}

/// DataFusion's settings come from `DATAFUSION_*` variables as in datafusion-cli; where none is
/// set, eventlake's own defaults (filters inside the Parquet reader) stand.
#[test]
fn datafusion_settings_come_from_the_environment() {
    let dir = temp_dir();
    let lake = path(&dir, "lake");
    std::fs::create_dir_all(&lake).unwrap();
    let settings = |variables: &[(&str, &str)]| {
        let mut command = Command::new(binary());
        command.args(["query", "--lake"]).arg(&lake).args([
            "--format",
            "csv",
            "SELECT name, value FROM information_schema.df_settings \
             WHERE name IN ('datafusion.execution.batch_size', \
             'datafusion.execution.parquet.pushdown_filters') ORDER BY name",
        ]);
        for (name, value) in variables {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[],
            "batch_size,8192\ndatafusion.execution.parquet.pushdown_filters,true",
        ),
        (
            &[
                ("DATAFUSION_EXECUTION_BATCH_SIZE", "1234"),
                ("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS", "false"),
            ],
            "batch_size,1234\ndatafusion.execution.parquet.pushdown_filters,false",
        ),
    ];
    for (variables, expected) in cases {
        let (ok, output) = settings(variables);
        assert!(ok && output.contains(expected), "{variables:?}: {output}");
    }
    // A value DataFusion cannot read is the user's error, said with the setting's name.
    let (ok, refused) = settings(&[("DATAFUSION_EXECUTION_BATCH_SIZE", "many")]);
    assert!(!ok, "{refused}");
    assert!(
        refused.contains("datafusion.execution.batch_size") && refused.contains("'many'"),
        "{refused}"
    );
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    let dir = temp_dir();
    let lake = path(&dir, "lake");
    std::fs::create_dir_all(&lake).unwrap();
    let mut child = Command::new(binary())
        .args(["query", "--lake"])
        .arg(&lake)
        .args([
            "SELECT * FROM generate_series(1, 5000000)",
            "--format",
            "csv",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sums `bytes_scanned=` metrics of an EXPLAIN ANALYZE (numbers with an optional unit).
/// Row groups the bloom filters were asked about, and kept, in an `--analyze` plan
/// (`row_groups_pruned_bloom_filter=N total → M matched`).
fn bloom_pruning(plan: &str) -> (u64, u64) {
    let metric = plan
        .split("row_groups_pruned_bloom_filter=")
        .nth(1)
        .unwrap_or_else(|| panic!("no bloom filter metric in {plan}"));
    let numbers: Vec<u64> = metric
        .split([' ', ','])
        .take(5)
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

pub fn bytes_scanned(plan: &str) -> f64 {
    let mut total = 0.0;
    for part in plan.split("bytes_scanned=").skip(1) {
        let end = part.find([',', ']']).unwrap_or(part.len());
        let text = part[..end].trim();
        let (number, unit) = text.split_at(
            text.find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(text.len()),
        );
        let scale = match unit.trim() {
            "" | "B" => 1.0,
            "KB" | "K" => 1e3,
            "MB" | "M" => 1e6,
            "GB" | "G" => 1e9,
            other => panic!("unknown unit {other:?} in {text:?}"),
        };
        total += number.parse::<f64>().unwrap_or(0.0) * scale;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_prompt_describes_tables_runs_multi_line_statements_and_survives_errors() {
    use std::io::Write;
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    let summary = generate(
        &raw,
        &GenOptions {
            events: 2_000,
            objects: 2,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    let mut child = Command::new(binary())
        .args(["sql", "--lake"])
        .arg(&lake)
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let script = "\\d\n\\d events\nSELECT nope;\nSELECT count(*)\n  AS n FROM events;\n\\q\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("source_objects") && stdout.contains("client_id"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("| {} ", summary.events)),
        "{stdout}"
    );
    assert!(
        stderr.contains("nope") && stderr.contains("rows in"),
        "{stderr}"
    );
}

/// Rows of `sql` through eventlake's own session (its scan and file pruning), as text.
async fn lake_rows(lake: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    let session = eventlake::query::LakeSession::open(&Loc::from(lake).lake(), None)
        .await
        .unwrap();
    let batches = session
        .sql(sql, Default::default())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    batches.iter().flat_map(text_rows).collect()
}

/// The property of the scan's file pruning: a filter never loses a row to the log's statistics.
/// Generated filters (comparisons, ranges, lists, and/or) on every column files have statistics
/// for, with values at the data's edges (each partition's first and last times, with
/// sub-millisecond digits the log's millisecond statistics cut off, and a microsecond either
/// side), must count what the same filter counts with its columns hidden from statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_pruning_never_loses_a_row() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let seed = 0x9e37_u64;
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    let uuid = |rng: &mut SmallRng| uuid::Uuid::from_u128(rng.r#gen::<u128>()).to_string();
    let clients: Vec<String> = (0..12).map(|_| uuid(&mut rng)).collect();
    let types = ["paging", "purchase", "searching", "loyaltypurchase"];
    // Several runs, so each partition has several files with their own statistics.
    for run in 0..3 {
        let folder = raw.join(format!("2026/11/20/1{run}"));
        std::fs::create_dir_all(&folder).unwrap();
        let mut body = String::new();
        for _ in 0..500 {
            let second = 1_795_132_800 + rng.gen_range(0..2 * 86_400);
            let time = chrono::DateTime::from_timestamp(second, 0).unwrap();
            let time = match rng.gen_range(0..3) {
                0 => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                1 => format!(
                    "{}.{:03}Z",
                    time.format("%Y-%m-%dT%H:%M:%S"),
                    rng.gen_range(0..1000)
                ),
                _ => format!(
                    "{}.{:06}Z",
                    time.format("%Y-%m-%dT%H:%M:%S"),
                    rng.gen_range(0..1_000_000)
                ),
            };
            body.push_str(&format!(
                concat!(
                    r#"{{"version":"0","id":"{}","detail-type":"prod","source":"clientevents","#,
                    r#""account":"123456789012","time":"{}","region":"eu-west-1","resources":["{}"],"#,
                    r#""detail":{{"eventType":"{}","schemaVersion":1,"data":{{}}}}}}"#,
                    "\n"
                ),
                uuid(&mut rng),
                time,
                clients[rng.gen_range(0..clients.len())],
                types[rng.gen_range(0..types.len())],
            ));
        }
        std::fs::write(folder.join("part"), body).unwrap();
        compact_cli(&raw, &lake, &[]);
    }

    // Values at the edges of what files hold, and some from inside.
    let mut times: Vec<String> = Vec::new();
    for row in lake_rows(
        &lake,
        "SELECT min(time), max(time) FROM events GROUP BY event_type, dt",
    )
    .await
    {
        times.extend(row);
    }
    for row in lake_rows(&lake, "SELECT time FROM events ORDER BY id LIMIT 20").await {
        times.extend(row);
    }
    let micros = |text: &str| eventlake_core::time::parse_time(text).unwrap();
    let mut time_values: Vec<i64> = times.iter().map(|t| micros(t)).collect();
    time_values.extend(time_values.clone().iter().flat_map(|t| [t - 1, t + 1]));
    let ids: Vec<String> = lake_rows(&lake, "SELECT id FROM events ORDER BY time LIMIT 30")
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    let days = ["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"];

    let literal_time = |t: i64| {
        let time = chrono::DateTime::from_timestamp_micros(t).unwrap();
        format!("'{}'", time.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    };
    let comparison = |rng: &mut SmallRng| -> (String, String) {
        let op = ["=", "<", "<=", ">", ">=", "<>"][rng.gen_range(0..6)];
        let (column, hidden, value) = match rng.gen_range(0..5) {
            0 => (
                "time",
                "(time + INTERVAL '0 seconds')",
                literal_time(time_values[rng.gen_range(0..time_values.len())]),
            ),
            1 => (
                "id",
                "concat(id, '')",
                format!("'{}'", ids[rng.gen_range(0..ids.len())]),
            ),
            2 => (
                "client_id",
                "concat(client_id, '')",
                format!("'{}'", clients[rng.gen_range(0..clients.len())]),
            ),
            3 => (
                "event_type",
                "concat(event_type, '')",
                format!("'{}'", types[rng.gen_range(0..types.len())]),
            ),
            _ => (
                "dt",
                "concat(dt, '')",
                format!("'{}'", days[rng.gen_range(0..days.len())]),
            ),
        };
        if rng.gen_range(0..6) == 0 && column != "time" {
            let list = format!("IN ({value}, 'x')");
            return (format!("{column} {list}"), format!("{hidden} {list}"));
        }
        (
            format!("{column} {op} {value}"),
            format!("{hidden} {op} {value}"),
        )
    };
    let total = lake_rows(&lake, "SELECT count(*) FROM events").await[0][0].clone();
    assert_eq!(total, "1500");
    for case in 0..300 {
        let (mut filter, mut hidden) = comparison(&mut rng);
        for _ in 0..rng.gen_range(0..3) {
            let (more, more_hidden) = comparison(&mut rng);
            let joint = [" AND ", " OR "][rng.gen_range(0..2)];
            filter = format!("({filter}){joint}({more})");
            hidden = format!("({hidden}){joint}({more_hidden})");
        }
        let count = |filter: String| {
            let lake = lake.clone();
            async move {
                lake_rows(
                    &lake,
                    &format!("SELECT count(*), count(DISTINCT id) FROM events WHERE {filter}"),
                )
                .await
            }
        };
        let (pruned, whole) = (count(filter.clone()).await, count(hidden.clone()).await);
        assert_eq!(
            pruned, whole,
            "seed {seed}, case {case}: WHERE {filter} counts {pruned:?}, hidden from statistics {whole:?}"
        );
    }
}
