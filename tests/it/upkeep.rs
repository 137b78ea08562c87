//! optimize, vacuum, expire and history on a lake built by many small compaction runs, with a
//! reader querying in a loop beside them.

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use eventlake::generate::GenOptions;

use crate::common::*;

fn run(lake: &Loc, args: &[&str]) -> Output {
    let output = eventlake(lake).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A lake written by `runs` compactions: a file a partition a run, each holding every client.
async fn many_runs(dir: &tempfile::TempDir, runs: u64) -> (Loc, u64) {
    let (_, lake) = place(Backend::Local, dir);
    let mut events = 0;
    for run in 0..runs {
        let raw = Loc::local(path(dir, &format!("raw-{run}")));
        let summary = generate(
            &raw,
            &GenOptions {
                events: 20_000,
                clients: 100,
                days: 2,
                objects: 4,
                seed: 100 + run,
                dup_rate: 0.0,
                ..GenOptions::default()
            },
        )
        .await;
        events += summary.events;
        compact_cli(&raw, &lake, &[]);
    }
    (lake, events)
}

/// One client's day, the client named by a literal so file statistics can prune.
async fn client_day_sql(lake: &Loc) -> String {
    let client = sql(lake, "SELECT min(client_id) FROM events").await[0][0].clone();
    format!("SELECT count(*) AS n, min(time) AS first, max(time) AS last FROM events WHERE client_id = '{client}' AND dt = '2026-11-01'")
}
const BY_TYPE: &str =
    "SELECT event_type, dt, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_keeps_every_answer_prunes_better_and_vacuum_keeps_what_retain_needs() {
    let dir = temp_dir();
    let (lake, events) = many_runs(&dir, 6).await;
    let files_before = active_files(&lake).await;
    let client_day_sql = client_day_sql(&lake).await;
    let client_day_sql = client_day_sql.as_str();
    let by_type = stdout(&run(&lake, &["query", "--lake", &lake.uri, BY_TYPE]));
    let client_day = stdout(&run(&lake, &["query", "--lake", &lake.uri, client_day_sql]));
    let plan_before = stdout(&run(
        &lake,
        &["query", "--lake", &lake.uri, client_day_sql, "--analyze"],
    ));

    let version_before = events_version(&lake).await;
    // A reader queries in a loop while optimize and a vacuum that honours its retention run
    // beside it; each round's start and end are kept, to show one ran across the upkeep.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lake, stop, expected) = (lake.clone(), stop.clone(), by_type.clone());
        std::thread::spawn(move || {
            let mut rounds = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let output = eventlake(&lake)
                    .args(["query", "--lake", &lake.uri, BY_TYPE])
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "reader failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                assert_eq!(
                    String::from_utf8_lossy(&output.stdout),
                    expected,
                    "reader saw other rows"
                );
                rounds.push((started, Instant::now()));
            }
            rounds
        })
    };
    let upkeep_started = Instant::now();
    // Small target files, so each partition ends up in several files, each holding few clients.
    let optimized = run(
        &lake,
        &[
            "optimize",
            "--lake",
            &lake.uri,
            "--sort-by",
            "client_id",
            "--target-size",
            "160KiB",
            "--json",
        ],
    );
    let optimized: serde_json::Value = serde_json::from_slice(&optimized.stdout).unwrap();
    let files_removed = optimized["files_removed"].as_u64().unwrap();
    assert!(files_removed > 0, "{optimized}");

    // A retention shorter than the tables' deletedFileRetentionDuration (7 days) is refused
    // unless the flag that says what it breaks is given.
    let refused = eventlake(&lake)
        .args(["vacuum", "--lake", &lake.uri, "--retain", "1h"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&refused.stderr);
    assert!(
        refusal.contains("deletedFileRetentionDuration (7d)")
            && refusal.contains("--break-time-travel-and-running-readers"),
        "{refusal}"
    );
    // Within the retention (the removed files are seconds old), nothing an old version needs goes.
    let kept = vacuum_deleted(
        &lake,
        &["--retain", "1h", "--break-time-travel-and-running-readers"],
    );
    assert_eq!(
        kept, 0,
        "vacuum deleted files a version inside --retain needs"
    );
    let upkeep_done = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let rounds = reader.join().expect("the reader never failed");
    assert!(
        rounds
            .iter()
            .any(|&(started, ended)| started < upkeep_done && ended > upkeep_started),
        "no reader round ran while optimize and vacuum did"
    );
    // Time travel to the version before optimize still reads its files (a query of a data
    // column: partition columns and counts can come from the log alone).
    let as_of = version_before.to_string();
    let ids_sql = "SELECT count(DISTINCT id) AS n FROM events";
    assert_eq!(
        stdout(&run(
            &lake,
            &["query", "--lake", &lake.uri, ids_sql, "--as-of", &as_of]
        )),
        format!("n\n{events}\n")
    );

    // With no retention, every file optimize removed goes, as the dry run says, and time
    // travel to before it fails.
    let unsafe_flags = ["--retain", "0s", "--break-time-travel-and-running-readers"];
    let would = vacuum_deleted(&lake, &[&unsafe_flags[..], &["--dry-run"]].concat());
    let deleted = vacuum_deleted(&lake, &unsafe_flags);
    assert_eq!(deleted, would, "the dry run said what vacuum did");
    assert_eq!(deleted, files_removed);
    let gone = eventlake(&lake)
        .args(["query", "--lake", &lake.uri, ids_sql, "--as-of", &as_of])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the vacuumed version still read");

    // Same answers, fewer files, and one client's day reads less.
    assert_eq!(
        stdout(&run(&lake, &["query", "--lake", &lake.uri, BY_TYPE])),
        by_type
    );
    assert_eq!(
        stdout(&run(&lake, &["query", "--lake", &lake.uri, client_day_sql])),
        client_day
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM events").await, events);
    assert!(active_files(&lake).await > 0 && files_before > 0);
    let plan_after = stdout(&run(
        &lake,
        &["query", "--lake", &lake.uri, client_day_sql, "--analyze"],
    ));
    // Compaction's sorted runs already prune pages; optimize's files must too: the same filter,
    // hidden from statistics, reads more than twice as much. (With a dictionary on `time`, read
    // whole for any page of a row group, it read nearly as much.)
    let unpruned_sql =
        client_day_sql.replace("WHERE client_id = ", "WHERE concat(client_id, '') = ");
    let plan_unpruned = stdout(&run(
        &lake,
        &["query", "--lake", &lake.uri, &unpruned_sql, "--analyze"],
    ));
    let (before, after, unpruned) = (
        crate::query::bytes_scanned(&plan_before),
        crate::query::bytes_scanned(&plan_after),
        crate::query::bytes_scanned(&plan_unpruned),
    );
    assert!(
        after * 2.0 < unpruned,
        "one client's day read {before} bytes before optimize, {after} after, {unpruned} unpruned"
    );

    // History shows what happened.
    let history = stdout(&run(&lake, &["history", "--lake", &lake.uri, "--json"]));
    for operation in [
        "\"WRITE\"",
        "\"OPTIMIZE\"",
        "\"VACUUM END\"",
        "\"CREATE TABLE\"",
    ] {
        assert!(history.contains(operation), "history lacks {operation}");
    }
    assert!(
        history.contains("\"unit\":6"),
        "compact units are in the history"
    );
    // The text form is a line a commit, short enough for a terminal.
    let lines = stdout(&run(&lake, &["history", "--lake", &lake.uri]));
    assert!(
        lines.lines().all(|line| line.chars().count() <= 200),
        "{lines}"
    );
    let unit_line = lines
        .lines()
        .find(|line| line.contains("unit 6:"))
        .unwrap_or_else(|| panic!("no line for unit 6: {lines}"));
    assert!(
        unit_line.contains("objects") && unit_line.contains("errors"),
        "{unit_line}"
    );
}

/// The events table's current version.
async fn events_version(lake: &Loc) -> u64 {
    let table = lake.lake().open("events").await.unwrap().unwrap();
    table.version().unwrap()
}

/// Files `vacuum` (with `flags`) deleted, or would, summed over the tables.
fn vacuum_deleted(lake: &Loc, flags: &[&str]) -> u64 {
    let output = stdout(&run(
        lake,
        &[&["vacuum", "--lake", &lake.uri, "--json"][..], flags].concat(),
    ));
    serde_json::from_str::<Vec<serde_json::Value>>(&output)
        .unwrap()
        .iter()
        .map(|table| table["files_deleted"].as_u64().unwrap())
        .sum()
}

/// Data files the events table's current version references.
async fn active_files(lake: &Loc) -> u64 {
    let table = lake.lake().open("events").await.unwrap().unwrap();
    table.get_file_uris().unwrap().count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_drops_old_days_and_compact_then_optimize_leaves_few_files() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 4_000,
            days: 2,
            objects: 8,
            ..GenOptions::default()
        },
    )
    .await;
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 1\n").unwrap();
    let both = compact_cli(
        &raw,
        &lake,
        &["--config", config.to_str().unwrap(), "--then-optimize"],
    );
    assert_eq!(both["compact"]["records_written"], summary.events);
    // Many one-object commits, then one file a partition (the target size is far above it).
    let partitions = count(&lake, "SELECT count(DISTINCT event_type || dt) FROM events").await;
    assert!(
        both["optimize"]["files_removed"].as_u64().unwrap() > partitions,
        "{both}"
    );
    assert_eq!(
        both["optimize"]["files_added"].as_u64().unwrap(),
        partitions,
        "{both}"
    );
    let errors = count(&lake, "SELECT count(*) FROM errors").await;

    // The generated days are 2026-11-01 and 02; today is later. Errors are dated by ingestion.
    let expired = stdout(&run(
        &lake,
        &[
            "expire",
            "--lake",
            &lake.uri,
            "--older-than",
            "1d",
            "--json",
        ],
    ));
    assert!(expired.contains("\"events\""), "{expired}");
    assert_eq!(count(&lake, "SELECT count(*) FROM events").await, 0);
    assert_eq!(count(&lake, "SELECT count(*) FROM errors").await, errors);
    // Time travel still sees what expire deleted (until vacuum).
    let latest = lake
        .lake()
        .open("events")
        .await
        .unwrap()
        .unwrap()
        .version()
        .unwrap();
    let as_of = (latest - 1).to_string();
    let before = stdout(&run(
        &lake,
        &[
            "query",
            "--lake",
            &lake.uri,
            "SELECT count(*) AS n FROM events",
            "--as-of",
            &as_of,
        ],
    ));
    assert_eq!(before, format!("n\n{}\n", summary.events));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_event_types_versions_and_fields_never_break_compaction_or_queries() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
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
    let record = |id: u32,
                  event_type: &str,
                  version: serde_json::Value,
                  extra: serde_json::Value| {
        serde_json::json!({
            "version": "0", "id": format!("00000000-0000-4000-8000-{id:012}"), "detail-type": "prod",
            "source": "clientevents", "account": "1", "time": "2026-11-01T12:00:00Z", "region": "us-east-1",
            "resources": ["client-new"],
            "detail": {"eventType": event_type, "schemaVersion": version, "data": extra}
        })
        .to_string()
    };
    let object = [
        record(
            1,
            "wishlisting",
            1.into(),
            serde_json::json!({"itemSku": 5}),
        ),
        record(
            2,
            "searching",
            3.into(),
            serde_json::json!({"searchTerm": "x", "filters": ["new"]}),
        ),
        record(
            3,
            "searching",
            1.into(),
            serde_json::json!({"searchTerm": "y", "brandNewField": {"deep": true}}),
        ),
        // A typed column changing type is an error record, not a crash.
        record(4, "searching", "three".into(), serde_json::json!({})),
    ]
    .join("\n");
    let later = path(&dir, "raw").join("raw/2026/11/30/00/evolved.json");
    std::fs::create_dir_all(later.parent().unwrap()).unwrap();
    std::fs::write(&later, object).unwrap();
    let metrics = compact_cli(&raw, &lake, &[]);
    assert_eq!(metrics["records_written"], 3);
    assert_eq!(metrics["errors"], 1);
    assert_eq!(
        count(&lake, "SELECT count(*) FROM errors WHERE error_code = 'wrong_type' AND strpos(raw_text, 'three') > 0").await,
        1
    );
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events").await,
        summary.events + 3
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE event_type = 'wishlisting'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE schema_version = 3"
        )
        .await,
        1
    );
    run(
        &lake,
        &[
            "query",
            "--lake",
            &lake.uri,
            "triage/overview",
            "--param",
            "day=2026-11-01",
        ],
    );
    run(&lake, &["query", "--lake", &lake.uri, "triage/errors"]);
    let drift = stdout(&run(
        &lake,
        &[
            "query",
            "--lake",
            &lake.uri,
            "triage/schema-drift",
            "--format",
            "csv",
        ],
    ));
    assert!(drift.contains("wishlisting"), "{drift}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_runtime_stops_between_units_and_the_next_run_finishes_exactly() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 12_000,
            objects: 40,
            ..GenOptions::default()
        },
    )
    .await;
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 1\n").unwrap();
    let config = config.to_str().unwrap();
    // A limit of 0 has passed before the first unit ends, on any machine: the run commits
    // that one unit (every run makes progress) and stops.
    let first = compact_cli(&raw, &lake, &["--config", config, "--max-runtime", "0"]);
    let done = first["objects"].as_u64().unwrap();
    assert_eq!(done, 1, "{first}");
    assert_eq!(first["stopped_early"], true, "{first}");
    let second = compact_cli(&raw, &lake, &["--config", config]);
    assert_eq!(done + second["objects"].as_u64().unwrap(), summary.objects);
    assert_lake_matches(&lake, &summary).await;
}
