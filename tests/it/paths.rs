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

/// `./eventlake.toml` is found on its own, its `lake =` is the default lake of every command,
/// and its custom prefix and transform apply end to end: a query key, `!{timestamp:…}` from the
/// object's last-modified time when its name holds none, `!{firehose:random-string}` fixed per
/// object, a rename, and a record without the key in `errors` as `missing_partition_key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_in_the_working_folder_sets_lake_prefix_and_transform() {
    let dir = temp_dir();
    let work = dir.path().join("work");
    let raw = work.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(
        work.join("eventlake.toml"),
        r#"lake = "my-lake"

[partitioning]
prefix = "kind=!{partitionKeyFromQuery:kind}/arrived=!{timestamp:yyyy-MM-dd}/r=!{firehose:random-string}/"
query = "{kind:.detail.kind}"

[transform]
preset = "none"
operations = [{ op = "rename", from = "detail.sku", to = "detail.itemSku" }]
"#,
    )
    .unwrap();
    let record = |id: &str, kind: Option<&str>| {
        let kind = kind.map_or(String::new(), |kind| format!(r#""kind":"{kind}","#));
        format!(
            r#"{{"version":"0","id":"{id}","detail-type":"prod","source":"clientevents","account":"1","time":"2026-11-20T10:00:00Z","region":"us-east-1","resources":["c1"],"detail":{{{kind}"eventType":"searching","schemaVersion":1,"sku":"S-1"}}}}"#
        )
    };
    let objects = [
        (
            "first.json",
            [
                "6f1c2a4e-0000-4000-8000-000000000001",
                "6f1c2a4e-0000-4000-8000-000000000002",
            ],
        ),
        (
            "second.json",
            [
                "6f1c2a4e-0000-4000-8000-000000000003",
                "6f1c2a4e-0000-4000-8000-000000000004",
            ],
        ),
    ];
    // No time in these names: arrival is the object's last-modified time.
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600); // 2026-01-01
    for (name, ids) in &objects {
        let body = format!(
            "{}\n{}\n{}\n",
            record(ids[0], Some("alpha")),
            record(ids[1], Some("beta")),
            record(&format!("{}-no-kind", ids[0]), None)
        );
        let file = std::fs::File::create(raw.join(name)).unwrap();
        std::io::Write::write_all(&mut &file, body.as_bytes()).unwrap();
        file.set_modified(modified).unwrap();
    }

    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    run_in(
        &work,
        &home,
        &["compact", "--source", "raw", "--json"],
        None,
    );
    assert!(
        work.join("my-lake/events/_delta_log").is_dir(),
        "the lake is where the config says"
    );

    let rows = stdout(&run_in(
        &work,
        &home,
        &[
            "query",
            "--format",
            "csv",
            "SELECT source_object LIKE '%first.json' AS first, kind, arrived, r, json_get_str(detail, 'itemSku') AS sku, json_get_str(detail, 'sku') AS old FROM events ORDER BY id",
        ],
        None,
    ));
    let rows: Vec<Vec<&str>> = rows
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        assert_eq!(row[2], "2026-01-01", "arrival from last-modified: {row:?}");
        assert_eq!((row[4], row[5]), ("S-1", ""), "the rename applied: {row:?}");
        assert!(!row[3].is_empty(), "{row:?}");
    }
    assert_eq!(
        rows.iter().map(|row| row[1]).collect::<Vec<_>>(),
        ["alpha", "beta", "alpha", "beta"]
    );
    // One random string an object, and another for the other object.
    let random_of = |first: &str| {
        let values: std::collections::HashSet<&str> = rows
            .iter()
            .filter(|row| row[0] == first)
            .map(|row| row[3])
            .collect();
        assert_eq!(values.len(), 1, "{rows:?}");
        values.into_iter().next().unwrap().to_owned()
    };
    assert_ne!(random_of("true"), random_of("false"));

    let errors = stdout(&run_in(
        &work,
        &home,
        &[
            "query",
            "--format",
            "csv",
            "SELECT error_code, count(*) AS n FROM errors GROUP BY 1",
        ],
        None,
    ));
    assert_eq!(errors, "error_code,n\nmissing_partition_key,2\n");
}
