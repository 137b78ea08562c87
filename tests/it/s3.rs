//! S3 only: faults between eventlake and the server, retries that run out, what a run over an
//! already-compacted prefix requests, and multipart uploads.

use eventlake::generate::GenOptions;

use crate::common::*;

fn small_units(dir: &tempfile::TempDir, extra: &str) -> std::path::PathBuf {
    let config = path(dir, "eventlake.toml");
    std::fs::write(&config, format!("[limits]\nunit_max_objects = 3\n{extra}")).unwrap();
    config
}

/// Faster backoff than the defaults, so a test with many injected faults stays short.
const QUICK_RETRIES: &str =
    "[storage]\nmax_retries = \"10\"\n\"backoff_config.init_backoff\" = \"20ms\"\n\"backoff_config.max_backoff\" = \"500ms\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_queries_ride_out_injected_faults_with_the_exact_result() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 6_000,
            objects: 10,
            bad_rate: 0.005,
            ..GenOptions::default()
        },
    )
    .await;
    let proxy = FaultProxy::start(0.2, 7, "slowdown,internal,drop,cut,slow,lost_reply");
    let config = small_units(&dir, QUICK_RETRIES);
    let (raw_faulty, lake_faulty) = (raw.via(&proxy.endpoint), lake.via(&proxy.endpoint));

    compact_cli(
        &raw_faulty,
        &lake_faulty,
        &["--config", config.to_str().unwrap()],
    );
    let output = eventlake(&lake_faulty)
        .args([
            "query",
            "--lake",
            &lake.uri,
            "--config",
            config.to_str().unwrap(),
        ])
        .arg("SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("n,ids\n{0},{0}\n", summary.events)
    );

    let stats = proxy.stats();
    let faults: u64 = stats["faults"]
        .as_object()
        .unwrap()
        .values()
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert!(
        faults >= 20,
        "the proxy should have injected many faults: {stats}"
    );
    for kind in ["slowdown", "internal", "drop", "lost_reply"] {
        assert!(
            stats["faults"][kind].as_u64().unwrap_or(0) > 0,
            "no {kind} fault: {stats}"
        );
    }
    assert_lake_matches(&lake, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_retries_run_out_the_command_fails_clearly_and_a_rerun_is_exact() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events: 6_000,
            objects: 12,
            bad_rate: 0.005,
            ..GenOptions::default()
        },
    )
    .await;
    // No retries at all, and a third of the requests failing: runs die at varied points.
    let config = small_units(
        &dir,
        "[storage]\nmax_retries = \"0\"\nretry_timeout = \"1s\"\n",
    );
    let mut failures = 0;
    for seed in 0..6 {
        let proxy = FaultProxy::start(0.35, seed, "slowdown,internal,drop,lost_reply");
        let output = eventlake(&lake.via(&proxy.endpoint))
            .args([
                "compact", "--json", "--source", &raw.uri, "--lake", &lake.uri,
            ])
            .args(["--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        if !output.status.success() {
            failures += 1;
            assert_eq!(output.status.code(), Some(1));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with("error: "), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                !stderr.contains("eventlake-test-secret"),
                "a secret in: {stderr}"
            );
        }
    }
    assert!(failures > 0, "with no retries some run should have failed");
    let rerun = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert!(rerun["objects"].as_u64().unwrap() <= summary.objects);
    assert_lake_matches(&lake, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_a_compacted_prefix_reads_only_the_new_objects() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    let first = generate(
        &raw,
        &GenOptions {
            events: 4_000,
            objects: 40,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    // New objects arrive later (another seed names other keys).
    let second = generate(
        &raw,
        &GenOptions {
            events: 500,
            objects: 5,
            seed: 99,
            ..GenOptions::default()
        },
    )
    .await;

    let proxy = FaultProxy::start(0.0, 1, "");
    let metrics = compact_cli(raw.via(&proxy.endpoint), lake.via(&proxy.endpoint), &[]);
    assert_eq!(metrics["objects"], second.objects);
    assert_eq!(metrics["objects_skipped"], first.objects);
    let stats = proxy.stats();
    let raw_prefix = format!(
        "/{}/raw/",
        raw.uri
            .trim_start_matches("s3://")
            .split('/')
            .next()
            .unwrap()
    );
    let raw_reads: Vec<u64> = stats["gets"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with(&raw_prefix))
        .map(|(_, count)| count.as_u64().unwrap())
        .collect();
    // Each new object once, and the first one's head once more (its records' size sizes the
    // first unit).
    assert_eq!(
        raw_reads.len() as u64,
        second.objects,
        "only new objects are read: {stats}"
    );
    assert_eq!(
        raw_reads.iter().sum::<u64>(),
        second.objects + 1,
        "each new object is read once, the first one's head once more: {stats}"
    );
    eprintln!(
        "requests for a run over {} objects, {} new: {}",
        first.objects + second.objects,
        second.objects,
        stats["requests"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_larger_than_a_part_go_up_in_parts_and_read_back_whole() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    let proxy = FaultProxy::start(0.0, 1, "");
    // One plain NDJSON object of ~12 MB: more than one 8 MiB part.
    let summary = generate(
        &raw.via(&proxy.endpoint),
        &GenOptions {
            events: 40_000,
            objects: 1,
            layout: eventlake::generate::Layout::Ndjson,
            ..GenOptions::default()
        },
    )
    .await;
    assert!(
        summary.bytes > eventlake::generate::PART_BYTES as u64,
        "{} bytes",
        summary.bytes
    );
    let stats = proxy.stats();
    assert!(
        stats["requests"]["POST"].as_u64().unwrap_or(0) >= 2,
        "create + complete: {stats}"
    );
    compact_cli(&raw, &lake, &[]);
    assert_lake_matches(&lake, &summary).await;
}
