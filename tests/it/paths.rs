//! Paths as people type them, given to the real binary run from a working folder of its own:
//! relative with `..`, `~`, spaces and non-ASCII letters, `file://` URIs, through location flags,
//! file flags and EVENTLAKE_LAKE. (Locations once went to the store with `..` still in them.)

use std::path::Path;
use std::process::{Command, Output};

use eventlake::generate::GenOptions;

use crate::common::*;

/// The binary run from `work` with `home` as HOME and no EVENTLAKE_LAKE of the caller's.
fn run_in(work: &Path, home: &Path, args: &[&str], lake_env: Option<&str>) -> Output {
    let mut command = Command::new(binary());
    command
        .current_dir(work)
        .env("HOME", home)
        .env_remove("EVENTLAKE_LAKE")
        .args(args);
    if let Some(lake) = lake_env {
        command.env("EVENTLAKE_LAKE", lake);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "eventlake {args:?} (EVENTLAKE_LAKE={lake_env:?}) failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_home_and_non_ascii_paths_work_for_compact_query_and_file_flags() {
    let dir = temp_dir();
    let home = dir.path().join("home ü");
    let work = dir.path().join("work").join("sub");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let raw = dir.path().join("raw données");
    let summary = generate(
        &raw,
        &GenOptions {
            events: 2_000,
            objects: 3,
            ..GenOptions::default()
        },
    )
    .await;
    let run = |args: &[&str]| run_in(&work, &home, args, None);

    // The issue's own case: a lake and a source beside the working folder's parent.
    let compacted = run(&[
        "compact",
        "--json",
        "--source",
        "../../raw données",
        "--lake",
        "../../my lake/湖",
    ]);
    let metrics: serde_json::Value = serde_json::from_slice(&compacted.stdout).unwrap();
    assert_eq!(metrics["objects"], summary.objects, "{metrics}");
    let lake = dir.path().join("my lake").join("湖");
    assert_lake_matches(&lake, &summary).await;

    // The same folders spelt otherwise are the same folders: nothing is compacted twice.
    let encoded_lake = url::Url::from_directory_path(&lake).unwrap().to_string();
    assert!(
        encoded_lake.contains("my%20lake/%E6%B9%96"),
        "{encoded_lake}"
    );
    let again = run(&[
        "compact",
        "--json",
        "--source",
        raw.to_str().unwrap(),
        "--lake",
        &encoded_lake,
    ]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["objects_skipped"], summary.objects, "{again}");
    assert_eq!(again["records_written"], 0, "{again}");

    let count = "SELECT count(*) AS n FROM events";
    let expected = format!("n\n{}\n", summary.events);
    let plain_uri = format!("file://{}", lake.display());
    for spelling in [
        "../../my lake/湖",
        "./.././../my lake/./湖/",
        "../../my lake/湖/../湖",
        plain_uri.as_str(),
        encoded_lake.as_str(),
    ] {
        let queried = run(&["query", "--format", "csv", "--lake", spelling, count]);
        assert_eq!(stdout(&queried), expected, "--lake {spelling}");
        let queried = run_in(
            &work,
            &home,
            &["query", "--format", "csv", count],
            Some(spelling),
        );
        assert_eq!(stdout(&queried), expected, "EVENTLAKE_LAKE={spelling}");
    }

    // `~` is HOME, for a location flag, EVENTLAKE_LAKE and file flags alike.
    run(&[
        "compact",
        "--json",
        "--source",
        "../../raw données",
        "--lake",
        "~/lake é",
    ]);
    assert_lake_matches(&home.join("lake é"), &summary).await;
    let queried = run_in(
        &work,
        &home,
        &["query", "--format", "csv", count],
        Some("~/lake é"),
    );
    assert_eq!(stdout(&queried), expected);
    std::fs::write(dir.path().join("work").join("count é.sql"), count).unwrap();
    run(&[
        "query",
        "--lake",
        "~/lake é",
        "--format",
        "csv",
        "-f",
        "../count é.sql",
        "--output",
        "~/out put.csv",
    ]);
    assert_eq!(
        std::fs::read_to_string(home.join("out put.csv")).unwrap(),
        expected
    );

    // Tickets from a file under HOME; replay entries into a folder beside the working one.
    std::fs::write(
        home.join("tickets ü.json"),
        r#"[{"id": 1, "status": "new", "created_at": "2026-11-01T10:00:00Z"}]"#,
    )
    .unwrap();
    run(&[
        "zendesk",
        "sync",
        "--lake",
        "../../my lake/湖",
        "--tickets",
        "~/tickets ü.json",
    ]);
    assert_eq!(count_rows(&lake, "zendesk_tickets").await, 1);
    run(&[
        "replay",
        "--lake",
        "../../my lake/湖",
        "--name",
        "paths",
        "--where",
        "event_type = 'purchase'",
        "--to-file",
        "../replayed ö",
    ]);
    let written = std::fs::read_dir(dir.path().join("work").join("replayed ö"))
        .unwrap()
        .count();
    assert!(written > 0, "no PutEvents files in ../replayed ö");
}

async fn count_rows(lake: &Path, table: &str) -> u64 {
    count(lake, &format!("SELECT count(*) FROM {table}")).await
}

#[test]
fn a_location_with_no_home_to_expand_is_a_clear_error() {
    let dir = temp_dir();
    let output = Command::new(binary())
        .current_dir(dir.path())
        .env_remove("HOME")
        .env_remove("EVENTLAKE_LAKE")
        .args(["query", "--lake", "~/lake", "SELECT 1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HOME is not set"), "{stderr}");
}
