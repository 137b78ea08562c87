//! Exactly once under SIGKILL at many points, and with two runs at once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventlake::generate::GenOptions;

use crate::common::*;

on_both_backends!(
    sigkill_at_many_points_then_rerun_holds_every_record_exactly_once,
    runs_at_once_do_not_double_ingest,
    a_crash_at_every_failure_point_then_rerun_holds_every_record_exactly_once,
    a_worker_panic_fails_the_run_and_a_rerun_is_exact,
);

fn spawn_compact(raw: &Loc, lake: &Loc, config: &std::path::Path) -> Command {
    let mut command = eventlake(lake);
    command
        .args([
            "compact", "--json", "--source", &raw.uri, "--lake", &lake.uri,
        ])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn small_units(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let config = path(dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 2\n").unwrap();
    config
}

async fn sigkill_at_many_points_then_rerun_holds_every_record_exactly_once(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let config = small_units(&dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 12_000,
            objects: 16,
            dup_rate: 0.03,
            bad_rate: 0.005,
            ..GenOptions::default()
        },
    )
    .await;

    // Kill ever later until a run finishes by itself; each run resumes where the last died.
    let mut delay = Duration::from_millis(20);
    let mut kills = 0;
    for _ in 0..40 {
        let mut child = spawn_compact(&raw, &lake, &config).spawn().unwrap();
        let started = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() >= delay {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        match finished {
            Some(status) => {
                assert!(status.success(), "compact failed");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                delay = delay.mul_f64(1.4);
            }
        }
    }
    assert!(
        kills >= 3,
        "the test should kill compaction several times, killed {kills}"
    );
    let last = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(last["objects"], 0, "a finished run leaves nothing to do");
    assert_lake_matches(&lake, &summary).await;
}

/// Input whose objects hold well over 100 records each, so `mid-object` is reached in each.
fn failure_point_input() -> GenOptions {
    GenOptions {
        events: 6_000,
        objects: 6,
        dup_rate: 0.03,
        bad_rate: 0.01,
        ..GenOptions::default()
    }
}

fn compact_with_failure_point(
    raw: &Loc,
    lake: &Loc,
    config: &std::path::Path,
    point: &str,
) -> std::process::Output {
    eventlake(lake)
        .args([
            "compact", "--json", "--source", &raw.uri, "--lake", &lake.uri,
        ])
        .arg("--config")
        .arg(config)
        .env("EVENTLAKE_TEST_FAILPOINT", point)
        .output()
        .unwrap()
}

async fn a_crash_at_every_failure_point_then_rerun_holds_every_record_exactly_once(
    backend: Backend,
) {
    for point in [
        "after-claim",
        "mid-object",
        "after-events-commit",
        "after-errors-commit",
    ] {
        let dir = temp_dir();
        let (raw, lake) = place(backend, &dir);
        let config = small_units(&dir);
        let summary = generate(&raw, &failure_point_input()).await;
        // Two crashes in a row at the same point: the second resumes the first's unit.
        for _ in 0..2 {
            let crashed = compact_with_failure_point(&raw, &lake, &config, point);
            let stderr = String::from_utf8_lossy(&crashed.stderr);
            assert!(
                !crashed.status.success(),
                "{point}: the run should have crashed"
            );
            assert!(
                stderr.contains(&format!("failure point {point}")),
                "{point}: the run stopped elsewhere: {stderr}"
            );
        }
        compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
        // Also checks each ledger row against what the tables hold for its object.
        assert_lake_matches(&lake, &summary).await;
    }
}

async fn a_worker_panic_fails_the_run_and_a_rerun_is_exact(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let config = small_units(&dir);
    let summary = generate(&raw, &failure_point_input()).await;
    let failed = compact_with_failure_point(&raw, &lake, &config, "worker-panic");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not finish"), "{stderr}");
    assert_eq!(
        count(&lake, "SELECT count(*) FROM source_objects").await,
        0,
        "no object is marked committed while its worker failed"
    );
    compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_lake_matches(&lake, &summary).await;
}

async fn runs_at_once_do_not_double_ingest(backend: Backend) {
    // The runs must really overlap: in some round, two of them each commit units.
    let mut overlapped_rounds = 0;
    for round in 0..3 {
        let dir = temp_dir();
        let (raw, lake) = place(backend, &dir);
        let config = small_units(&dir);
        let options = GenOptions {
            events: 10_000,
            objects: 24,
            seed: round,
            bad_rate: 0.005,
            ..GenOptions::default()
        };
        let summary = generate(&raw, &options).await;
        let runs: Vec<Child> = (0..3)
            .map(|_| {
                let mut command = spawn_compact(&raw, &lake, &config);
                command.stdout(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        let mut runs_that_committed = 0;
        for child in runs {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let metrics: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            if metrics["units"].as_u64().unwrap_or(0) > 0 {
                runs_that_committed += 1;
            }
        }
        overlapped_rounds += u32::from(runs_that_committed >= 2);
        assert_lake_matches(&lake, &summary).await;
    }
    assert!(
        overlapped_rounds > 0,
        "in no round did two runs both commit units: the runs did not overlap"
    );
}

/// A run reads which tables hold its unit (errors, then events) while another run commits that
/// unit between the two reads: the first run sees what the other committed as a prefix of the
/// commit order and finishes, where reading events first would find the unit in errors alone
/// and fail the run (as two runs at once did, now and then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_committed_between_a_runs_two_state_reads_is_finished_not_refused() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 100\n").unwrap();
    let options = GenOptions {
        events: 3_000,
        objects: 6,
        bad_rate: 0.01,
        ..GenOptions::default()
    };
    let summary = generate(&raw, &options).await;
    let mut first = spawn_compact(&raw, &lake, &config);
    first.stdout(Stdio::piped());
    let first = spawn_held(first, "hold-between-state-reads", &dir);
    // The second run finds the unit claimed and commits it to every table.
    let second = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(second["units"], 1, "{second}");
    first.release();
    assert_lake_matches(&lake, &summary).await;
}

/// A unit's txn survives checkpoints: a run that dies after a unit's events commit is finished
/// by the next run from the table's state as a checkpoint holds it (every commit file before
/// it gone, as log cleanup leaves a table), without a second events commit. (The unit's own
/// commit file stays: it holds the counts the ledger row takes, which a checkpoint does not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_known_only_from_a_checkpoint_is_finished_not_written_again() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 1\n").unwrap();
    // Many units first (more than 50 commits a table), then one more that dies mid-way.
    let summary = generate(
        &raw,
        &GenOptions {
            events: 2_000,
            objects: 60,
            dup_rate: 0.0,
            bad_rate: 0.01,
            ..GenOptions::default()
        },
    )
    .await;
    let mut objects: Vec<_> = walk_files(std::path::Path::new(&raw.uri));
    objects.sort();
    let last = objects.pop().unwrap();
    let aside = path(&dir, "aside");
    std::fs::rename(&last, &aside).unwrap();
    compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    let events = || async { lake.lake().open("events").await.unwrap().unwrap() };
    let before = events().await.version().unwrap();
    assert!(before > 50, "{before} commits");
    std::fs::rename(&aside, &last).unwrap();
    let crashed = compact_with_failure_point(&raw, &lake, &config, "after-events-commit");
    assert!(!crashed.status.success(), "the run should have crashed");
    let crashed_at = events().await.version().unwrap();
    assert_eq!(crashed_at, before + 1);

    // A checkpoint at the crashed unit's commit, and no commit file before it.
    eventlake_checkpoint(&events().await).await;
    let log = std::path::Path::new(&lake.uri).join("events/_delta_log");
    for version in 0..crashed_at {
        std::fs::remove_file(log.join(format!("{version:020}.json"))).unwrap();
    }
    assert_eq!(events().await.version().unwrap(), crashed_at);

    let rerun = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(
        events().await.version().unwrap(),
        crashed_at,
        "the rerun committed the unit's events again: {rerun}"
    );
    assert_eq!(rerun["duplicates"], 0, "{rerun}");
    assert_lake_matches(&lake, &summary).await;
}

async fn eventlake_checkpoint(table: &deltalake::DeltaTable) {
    deltalake::checkpoints::create_checkpoint(table, None)
        .await
        .unwrap();
}

/// Every file under `dir`, recursively.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}
