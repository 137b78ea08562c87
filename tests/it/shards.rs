//! Sharded compaction: N processes at once on one source and one lake leave it as one run does,
//! and changing N between runs (even after a crash) is safe.

use std::process::{Command, Stdio};

use eventlake::generate::GenOptions;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::common::*;

on_both_backends!(
    shards_at_once_do_the_work_of_one_run,
    changing_the_shard_count_after_a_crash_is_exact,
    an_events_commit_that_loses_a_race_checks_the_winner,
);

/// Generated objects, plus copies of every third under other names: Firehose can deliver a
/// batch twice, and the copies put the same ids into objects that hash to other shards.
async fn input_with_redelivered_objects(raw: &Loc) {
    generate(
        raw,
        &GenOptions {
            events: 6_000,
            objects: 18,
            dup_rate: 0.02,
            bad_rate: 0.005,
            ..GenOptions::default()
        },
    )
    .await;
    let (store, prefix) = raw.store();
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    for (index, object) in listed
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 0)
    {
        let name = object.location.filename().unwrap();
        let copy = prefix
            .clone()
            .join("redelivered")
            .join(format!("{index}-{name}"));
        store.copy(&object.location, &copy).await.unwrap();
    }
}

/// Another lake next to `lake`.
fn beside(lake: &Loc, name: &str) -> Loc {
    Loc {
        uri: format!("{}-{name}", lake.uri.trim_end_matches('/')),
        endpoint: lake.endpoint.clone(),
    }
}

fn units_of_two(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let config = path(dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 2\n").unwrap();
    config
}

fn compact_command(raw: &Loc, lake: &Loc, config: &std::path::Path) -> Command {
    let mut command = eventlake(lake);
    command
        .args([
            "compact", "--json", "--source", &raw.uri, "--lake", &lake.uri,
        ])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the commands at once; returns each one's metrics.
fn run_at_once(commands: Vec<Command>) -> Vec<serde_json::Value> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut command| command.spawn().unwrap())
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "a shard failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect()
}

const SUMMED: [&str; 6] = [
    "objects",
    "records_in",
    "records_written",
    "duplicates",
    "errors",
    "bytes_in",
];

/// What a lake holds, for comparing two lakes.
async fn contents(lake: &Loc) -> Vec<u64> {
    let mut counts = Vec::new();
    for query in [
        "SELECT count(*) FROM events",
        "SELECT count(DISTINCT id) FROM events",
        "SELECT count(*) FROM errors",
        "SELECT count(*) FROM source_objects",
        "SELECT count(DISTINCT source_object) FROM source_objects",
        "SELECT sum(duplicates) FROM source_objects",
    ] {
        counts.push(count(lake, query).await);
    }
    counts
}

async fn shards_at_once_do_the_work_of_one_run(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    input_with_redelivered_objects(&raw).await;
    let config = units_of_two(&dir);
    let whole_lake = beside(&lake, "whole");
    let one = compact_cli(&raw, &whole_lake, &["--config", config.to_str().unwrap()]);
    let expected = contents(&whole_lake).await;
    assert_eq!(expected[0], expected[1], "the one run left an id twice");
    assert!(
        one["duplicates"].as_u64().unwrap() > 300,
        "the copies are duplicates: {one}"
    );

    for shards in [1u32, 2, 4] {
        let lake = beside(&lake, &format!("sharded-{shards}"));
        let commands = (0..shards)
            .map(|index| {
                let mut command = compact_command(&raw, &lake, &config);
                command.args(["--shard", &format!("{index}/{shards}")]);
                command
            })
            .collect();
        let metrics = run_at_once(commands);
        for name in SUMMED {
            let sum: u64 = metrics.iter().map(|m| m[name].as_u64().unwrap()).sum();
            assert_eq!(
                sum,
                one[name].as_u64().unwrap(),
                "{shards} shards: {name} summed: {metrics:?}"
            );
        }
        if shards > 1 {
            assert!(
                metrics.iter().all(|m| m["objects"].as_u64().unwrap() > 0),
                "every shard has objects of its own: {metrics:?}"
            );
        }
        assert_eq!(contents(&lake).await, expected, "{shards} shards");
        assert_ledger_matches_tables(&lake).await;
        // A rerun of any shard finds nothing to do.
        let again = compact_cli(&raw, &lake, &["--shard", &format!("0/{shards}")]);
        assert_eq!(again["objects"], 0, "{again}");
    }
}

async fn changing_the_shard_count_after_a_crash_is_exact(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    input_with_redelivered_objects(&raw).await;
    let config = units_of_two(&dir);
    let whole_lake = beside(&lake, "whole");
    compact_cli(&raw, &whole_lake, &["--config", config.to_str().unwrap()]);
    let expected = contents(&whole_lake).await;

    // Shard 1 of 2 dies between its events and errors commits: a unit left half done.
    let crashed = compact_command(&raw, &lake, &config)
        .args(["--shard", "1/2"])
        .env("EVENTLAKE_TEST_FAILPOINT", "after-events-commit")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    // Shard 0 of 2 finishes; then three shards, their index from the scheduler's variable.
    compact_cli(
        &raw,
        &lake,
        &["--shard", "0/2", "--config", config.to_str().unwrap()],
    );
    let commands = (0..3)
        .map(|index| {
            let mut command = compact_command(&raw, &lake, &config);
            command
                .args(["--shard-count", "3"])
                .env("JOB_COMPLETION_INDEX", index.to_string());
            command
        })
        .collect();
    run_at_once(commands);
    assert_eq!(contents(&lake).await, expected);
    assert_ledger_matches_tables(&lake).await;
    // Unsharded again: nothing left.
    let again = compact_cli(&raw, &lake, &[]);
    assert_eq!(again["objects"], 0, "{again}");
}

/// Shard 0 checks its ids against the table, then waits before its events commit while shard 1
/// commits the same ids (the redelivered copies): shard 0's commit loses the version, checks
/// what the winner added, drops those ids and commits after it.
async fn an_events_commit_that_loses_a_race_checks_the_winner(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    input_with_redelivered_objects(&raw).await;
    let config = path(&dir, "eventlake.toml");
    // One unit a shard: the race is between the two shards' only commits.
    std::fs::write(&config, "[limits]\nunit_max_objects = 100\n").unwrap();
    let whole_lake = beside(&lake, "whole");
    compact_cli(&raw, &whole_lake, &[]);
    let expected = contents(&whole_lake).await;

    let mut waiting = compact_command(&raw, &lake, &config);
    waiting.args(["--shard", "0/2"]);
    let waiting = spawn_held(waiting, "hold-before-events-commit", &dir);
    let winner = compact_cli(
        &raw,
        &lake,
        &["--shard", "1/2", "--config", config.to_str().unwrap()],
    );
    assert!(winner["objects"].as_u64().unwrap() > 0, "{winner}");
    let output = waiting.release();
    let loser: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        loser["commit_races"].as_u64().unwrap() > 0,
        "the held commit raced: {loser}"
    );
    assert_eq!(contents(&lake).await, expected);
    assert_ledger_matches_tables(&lake).await;
}

#[test]
fn a_shard_count_without_an_index_is_a_usage_error() {
    let dir = temp_dir();
    let output = Command::new(binary())
        .args([
            "compact",
            "--source",
            "raw",
            "--lake",
            "lake",
            "--shard-count",
            "2",
        ])
        .current_dir(dir.path())
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JOB_COMPLETION_INDEX"), "{stderr}");
    let output = Command::new(binary())
        .args([
            "compact", "--source", "raw", "--lake", "lake", "--shard", "2/2",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
