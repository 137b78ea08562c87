//! Exactly once under SIGKILL at many points, and with two runs at once.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use eventlake::gen::GenOptions;

use crate::common::*;

on_both_backends!(
    sigkill_at_many_points_then_rerun_holds_every_record_exactly_once,
    runs_at_once_do_not_double_ingest,
);

fn spawn_compact(raw: &Loc, lake: &Loc, config: &std::path::Path) -> Child {
    eventlake(lake)
        .args([
            "compact", "--json", "--source", &raw.uri, "--lake", &lake.uri,
        ])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
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
        let mut child = spawn_compact(&raw, &lake, &config);
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

async fn runs_at_once_do_not_double_ingest(backend: Backend) {
    for round in 0..3 {
        let dir = temp_dir();
        let (raw, lake) = place(backend, &dir);
        let config = small_units(&dir);
        let options = GenOptions {
            events: 10_000,
            objects: 12,
            seed: round,
            bad_rate: 0.005,
            ..GenOptions::default()
        };
        let summary = generate(&raw, &options).await;
        let runs: Vec<Child> = (0..3)
            .map(|_| spawn_compact(&raw, &lake, &config))
            .collect();
        for child in runs {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert_lake_matches(&lake, &summary).await;
    }
}
