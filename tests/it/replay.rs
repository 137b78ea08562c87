//! `eventlake replay`: the entries it builds, the batches it sends, and once-per-name delivery
//! into EventBridge (moto) through a rule to an SQS queue.

use std::collections::{HashMap, HashSet};
use std::process::{Output, Stdio};
use std::time::Duration;

use eventlake::generate::GenOptions;
use serde_json::Value;

use crate::common::*;

async fn small_lake(
    dir: &tempfile::TempDir,
    events: u64,
) -> (Loc, eventlake::generate::GenSummary) {
    let (raw, lake) = place(Backend::Local, dir);
    let summary = generate(
        &raw,
        &GenOptions {
            events,
            clients: 20,
            objects: 4,
            ..GenOptions::default()
        },
    )
    .await;
    compact_cli(&raw, &lake, &[]);
    (lake, summary)
}

fn replay(lake: &Loc, args: &[&str]) -> Output {
    eventlake(lake)
        .args(["replay", "--json", "--lake", &lake.uri])
        .args(args)
        .envs([
            ("AWS_ACCESS_KEY_ID", "eventlake-test"),
            ("AWS_SECRET_ACCESS_KEY", "eventlake-test-secret"),
            ("AWS_REGION", "us-east-1"),
        ])
        .output()
        .unwrap()
}

fn summary_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The events the lake holds for a predicate: id → (client_id, detail as JSON).
async fn stored(lake: &Loc, predicate: &str) -> HashMap<String, (String, Value)> {
    sql(
        lake,
        &format!("SELECT id, client_id, detail FROM events WHERE {predicate}"),
    )
    .await
    .into_iter()
    .map(|row| {
        (
            row[0].clone(),
            (row[1].clone(), serde_json::from_str(&row[2]).unwrap()),
        )
    })
    .collect()
}

fn python_eventbridge(args: &[&str]) -> String {
    python_script("eventbridge.py", args)
}

/// Checks a delivered (or written) entry against the stored event it came from.
fn assert_original(
    stored: &HashMap<String, (String, Value)>,
    original_id: &str,
    resources: &Value,
    detail: &Value,
    name: &str,
) {
    let (client_id, stored_detail) = &stored[original_id];
    assert_eq!(
        resources,
        &serde_json::json!([client_id]),
        "Resources back to [clientId]"
    );
    let mut expected = stored_detail.clone();
    expected.as_object_mut().unwrap().remove("accountNumber");
    expected["replay-name"] = name.into();
    expected["replay-original-id"] = original_id.into();
    assert_eq!(detail, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hold_put_events_batches_and_a_rerun_sends_nothing_twice() {
    let dir = temp_dir();
    let (lake, summary) = small_lake(&dir, 3_000).await;
    let predicate = "event_type IN ('purchase', 'loyaltypurchase')";
    let expected = stored(&lake, predicate).await;
    let out = path(&dir, "batches");

    let dry = summary_of(&replay(
        &lake,
        &["--name", "fix-1", "--where", predicate, "--dry-run"],
    ));
    assert_eq!(dry["selected"], expected.len());
    assert_eq!(dry["sent"], 0);
    assert_eq!(
        dry["by_event_type"]["loyaltypurchase"]["events"],
        summary.by_event_type["loyaltypurchase"]
    );
    assert_eq!(
        dry["batches"].as_u64().unwrap(),
        (expected.len() as u64).div_ceil(10)
    );

    let output = replay(
        &lake,
        &[
            "--name",
            "fix-1",
            "--where",
            predicate,
            "--to-file",
            out.to_str().unwrap(),
        ],
    );
    let first = summary_of(&output);
    assert_eq!(first["sent"], expected.len());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loyalty purchases"));
    let mut seen = HashSet::new();
    for file in std::fs::read_dir(&out).unwrap() {
        let entries: Vec<Value> =
            serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
        assert!(!entries.is_empty() && entries.len() <= 10);
        for entry in entries {
            assert_eq!(entry["Source"], "clientevents");
            let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
            let id = detail["replay-original-id"].as_str().unwrap().to_owned();
            assert_original(&expected, &id, &entry["Resources"], &detail, "fix-1");
            assert!(seen.insert(id), "an event in two batches");
        }
    }
    assert_eq!(seen.len(), expected.len());

    let again = summary_of(&replay(
        &lake,
        &[
            "--name",
            "fix-1",
            "--where",
            predicate,
            "--to-file",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(again["sent"], 0);
    assert_eq!(again["skipped_already_sent"], expected.len());
    let recorded = count(&lake, "SELECT count(DISTINCT event_id) FROM replays WHERE replay_name = 'fix-1' AND status = 'sent'").await;
    assert_eq!(recorded, expected.len() as u64);

    // A saved query names events by id; parameters are bound.
    let by_query = summary_of(&replay(
        &lake,
        &[
            "--name",
            "fix-2",
            "replay/loyalty-purchases",
            "-p",
            "from=2026-11-01T00:00:00Z",
            "-p",
            "to=2026-11-02T00:00:00Z",
            "--dry-run",
        ],
    ));
    assert_eq!(
        by_query["selected"],
        summary.by_event_type["loyaltypurchase"]
    );
    let client = sql(&lake, "SELECT client_id FROM events LIMIT 1").await[0][0].clone();
    let in_window = count(&lake, &format!("SELECT count(*) FROM events WHERE client_id = '{client}' AND time >= '2026-11-01T06:00:00Z' AND time < '2026-11-01T18:00:00Z'")).await;
    let by_client = summary_of(&replay(
        &lake,
        &[
            "--name",
            "fix-3",
            "replay/client-window",
            "-p",
            &format!("client={client}"),
            "-p",
            "from=2026-11-01T06:00:00Z",
            "-p",
            "to=2026-11-01T18:00:00Z",
            "--dry-run",
        ],
    ));
    assert_eq!(by_client["selected"].as_u64().unwrap(), in_window);
    // A selection without an `id` column says so.
    let no_id = replay(
        &lake,
        &["--name", "fix-4", "loyalty/purchases", "--dry-run"],
    );
    assert_eq!(no_id.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_id.stderr).contains("`id` column"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_near_the_size_limits_batch_by_bytes_and_one_too_large_is_reported() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    std::fs::create_dir_all(path(&dir, "raw")).unwrap();
    // 8 events of ~140 KB, one of ~300 KB (over 256 KB, under 1 MB), and one over 1 MB.
    let mut body = String::new();
    let sizes = [
        140_000usize,
        140_000,
        140_000,
        140_000,
        140_000,
        140_000,
        140_000,
        140_000,
        300_000,
        1_100_000,
    ];
    for (index, size) in sizes.iter().enumerate() {
        body.push_str(&serde_json::json!({
            "version": "0", "id": format!("00000000-0000-4000-8000-{index:012}"), "detail-type": "prod",
            "source": "clientevents", "account": "1", "time": "2026-11-01T10:00:00Z", "region": "us-east-1",
            "resources": ["client-1"],
            "detail": {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "x".repeat(*size)}}
        }).to_string());
        body.push('\n');
    }
    std::fs::write(path(&dir, "raw").join("big.json"), body).unwrap();
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nmax_record_bytes = \"4MiB\"\n").unwrap();
    compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);

    let legacy = replay(
        &lake,
        &[
            "--name",
            "big",
            "--where",
            "true",
            "--dry-run",
            "--size-limit",
            "256kb",
        ],
    );
    let legacy: Value = serde_json::from_slice(&legacy.stdout).unwrap();
    assert_eq!(legacy["too_large"], 2, "{legacy}");
    assert_eq!(
        legacy["batches"], 8,
        "one 140 KB event a request under 256 KB"
    );
    let current = replay(&lake, &["--name", "big", "--where", "true", "--dry-run"]);
    assert_eq!(
        current.status.code(),
        Some(3),
        "a too-large event is reported with the exit code for undelivered events"
    );
    let current: Value = serde_json::from_slice(&current.stdout).unwrap();
    assert_eq!(current["too_large"], 1);
    // 8 × 140 KB + 300 KB under 1 MB: 7 to a request (7 × ~140 KB ≤ 1 MiB), then the rest.
    assert_eq!(current["batches"], 2, "{current}");
    let examples = current["failed_examples"].to_string();
    assert!(
        examples.contains("00000000-0000-4000-8000-000000000009"),
        "{examples}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_selected_events_arrive_once_even_across_a_crash() {
    let dir = temp_dir();
    let (lake, _) = small_lake(&dir, 4_000).await;
    let endpoint = s3_endpoint();
    let bus = format!("bus-{}", uuid::Uuid::new_v4().simple());
    let queue = python_eventbridge(&["setup", &endpoint, &bus]);
    // moto slows down as its queue fills: a few hundred events keep this test short.
    let predicate = "event_type IN ('purchase', 'loyaltypurchase')";
    let expected = stored(&lake, predicate).await;
    let with_bus = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--name",
            "incident-7",
            "--where",
            predicate,
            "--event-bus",
            &bus,
            "--region",
            "us-east-1",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect()
    };

    // Killed midway (a slow rate makes "midway" a matter of time), then rerun.
    let mut child = eventlake(&lake.via(&endpoint))
        .args(["replay", "--json", "--lake", &lake.uri])
        .args(with_bus(&["--rate", "150"]))
        .envs([
            ("AWS_ACCESS_KEY_ID", "eventlake-test"),
            ("AWS_SECRET_ACCESS_KEY", "eventlake-test-secret"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Midway: once a few rounds are acknowledged in the journal, while it still runs.
    let (store, root) = lake.via(&endpoint).store();
    let journal = root
        .clone()
        .join("_eventlake")
        .join("replay")
        .join("incident-7");
    eventually("three acknowledged rounds", Duration::from_secs(60), || {
        let (store, journal) = (store.clone(), journal.clone());
        let running = child.try_wait().unwrap().is_none();
        async move {
            use futures::TryStreamExt;
            assert!(running, "the replay ended before it could be killed midway");
            let entries: Vec<_> = store
                .list(Some(&journal))
                .try_collect()
                .await
                .unwrap_or_default();
            entries
                .iter()
                .filter(|entry| {
                    entry
                        .location
                        .filename()
                        .is_some_and(|name| name.starts_with("ack-"))
                })
                .count()
                >= 3
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let rerun_args = with_bus(&[]);
    let rerun_args: Vec<&str> = rerun_args.iter().map(String::as_str).collect();
    let rerun = summary_of(&replay(&lake.via(&endpoint), &rerun_args));
    assert!(
        rerun["skipped_already_sent"].as_u64().unwrap() > 0,
        "{rerun}"
    );

    let delivered: Vec<Value> =
        serde_json::from_str(&python_eventbridge(&["drain", &endpoint, &queue])).unwrap();
    let mut seen = HashSet::new();
    for event in &delivered {
        assert_eq!(event["source"], "clientevents");
        assert_eq!(event["detail-type"], "prod");
        let id = event["detail"]["replay-original-id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_original(
            &expected,
            &id,
            &event["resources"],
            &event["detail"],
            "incident-7",
        );
        assert!(seen.insert(id.clone()), "event {id} arrived twice");
    }
    let missing = expected.len() - seen.len();
    assert!(
        missing as u64 <= rerun["skipped_in_doubt"].as_u64().unwrap(),
        "{missing} events missing, only {} reported in doubt",
        rerun["skipped_in_doubt"]
    );
    assert_eq!(
        rerun["skipped_already_sent"].as_u64().unwrap()
            + rerun["sent"].as_u64().unwrap()
            + rerun["skipped_in_doubt"].as_u64().unwrap(),
        expected.len() as u64
    );
}

/// PutEvents failures as EventBridge answers them (tests/python/eventbridge_faults.py): entries
/// answered `InternalFailure` are retried alone up to the eight tries, throttling halves the send
/// rate, a final error code is reported (exit 3) and a rerun of the same name sends exactly the
/// entries that failed. Every event is accepted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_are_retried_eight_times_throttling_slows_and_a_rerun_sends_the_failed() {
    let dir = temp_dir();
    let (lake, _) = small_lake(&dir, 3_000).await;
    let predicate = "event_type IN ('purchase', 'loyaltypurchase')";
    let expected = stored(&lake, predicate).await;
    let ends_in = |digit: char| expected.keys().filter(|id| id.ends_with(digit)).count();
    assert!(
        ends_in('1') >= 3 && ends_in('2') >= 3 && ends_in('3') >= 1,
        "a selection too small for the stand-in's roles"
    );

    let (mut server, endpoint) = python_server("eventbridge_faults.py", &[]);
    let stats = || -> Value {
        let (status, body) = http(&endpoint, "GET", "/__stats");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    };
    let run = || {
        eventlake(&lake.via(&endpoint))
            .args(["replay", "--json", "--lake", &lake.uri, "--name", "faults"])
            .args([
                "--where",
                predicate,
                "--event-bus",
                "bus",
                "--region",
                "us-east-1",
            ])
            .envs([
                ("AWS_ACCESS_KEY_ID", "eventlake-test"),
                ("AWS_SECRET_ACCESS_KEY", "eventlake-test-secret"),
            ])
            .output()
            .unwrap()
    };

    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("EventBridge is throttling: slowing to"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&first.stdout).unwrap();
    let seen = stats();
    let role = |name: &str| -> Vec<String> {
        serde_json::from_value(seen["roles"][name].clone()).unwrap()
    };
    let (flaky, refused, dead) = (role("flaky"), role("refused"), role("dead"));
    assert_eq!(
        (flaky.len(), refused.len(), dead.len()),
        (3, 3, 1),
        "{seen}"
    );
    assert_eq!(summary["failed"], 4, "{summary}");
    assert_eq!(summary["failures"]["MalformedDetail"], 3, "{summary}");
    assert_eq!(summary["failures"]["InternalFailure"], 1, "{summary}");
    assert_eq!(
        seen["attempts"][&dead[0]], 8,
        "InternalFailure every time gets eight tries"
    );
    for id in &flaky {
        assert_eq!(
            seen["accepted"][id], 1,
            "{id} retried past its two InternalFailures"
        );
    }

    let rerun = run();
    assert_eq!(rerun.status.code(), Some(3), "the dead one fails again");
    let rerun: Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert_eq!(
        rerun["skipped_already_sent"],
        expected.len() as u64 - 4,
        "a rerun sends the failed ones only: {rerun}"
    );
    assert_eq!(rerun["failed"], 1, "{rerun}");
    let seen = stats();
    for id in expected.keys() {
        let times = seen["accepted"][id].as_u64().unwrap_or(0);
        assert_eq!(
            times,
            u64::from(id != &dead[0]),
            "{id} accepted {times} times"
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
