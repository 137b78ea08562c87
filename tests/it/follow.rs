//! `compact --follow`: objects that land while it runs are committed exactly once, in
//! micro-batches; SIGTERM commits and exits 0; SIGKILL and a restart, duplicate notifications
//! and a batch `compact` beside it leave the lake exact. On S3 it reads bucket notifications
//! from SQS (moto delivers them); locally it lists the folder.

use std::process::{Child, Stdio};
use std::time::Duration;

use eventlake::generate::{GenOptions, GenSummary};

use crate::common::*;

fn batch(seed: u64) -> GenOptions {
    GenOptions {
        events: 1_500,
        objects: 3,
        seed,
        dup_rate: 0.02,
        bad_rate: 0.01,
        ..GenOptions::default()
    }
}

fn add(total: &mut GenSummary, more: &GenSummary) {
    total.objects += more.objects;
    total.events += more.events;
    total.duplicates += more.duplicates;
    total.bad_records += more.bad_records;
}

/// A queue that gets the bucket's notifications for `raw`'s keys (S3 only).
fn notifications_queue(raw: &Loc) -> Option<String> {
    let endpoint = raw.endpoint.clone()?;
    let (bucket, prefix) = raw.uri.trim_start_matches("s3://").split_once('/')?;
    Some(python_s3_notifications(&[
        "setup",
        &endpoint,
        bucket,
        &format!("{prefix}/"),
    ]))
}

fn python_s3_notifications(args: &[&str]) -> String {
    python_script("s3_notifications.py", args)
}

/// A running `--follow`, killed if the test ends (or panics) before it is stopped.
pub(crate) struct Following(pub(crate) Option<Child>);

impl Drop for Following {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::ops::Deref for Following {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("running")
    }
}

impl std::ops::DerefMut for Following {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }
}

fn spawn_follow(raw: &Loc, lake: &Loc, queue: Option<&str>) -> Following {
    let mut command = eventlake(lake);
    command
        .args(["compact", "--follow", "--json", "--commit-interval", "1s"])
        // The generator writes keys over past days, not at the current hour as Firehose does:
        // a lookback that reaches them all (the watermark itself is unit-tested in source/).
        .args(["--lookback", "3650d"])
        .args(["--source", &raw.uri, "--lake", &lake.uri])
        .args(["-v", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(queue) = queue {
        command.args(["--queue", queue]);
    }
    Following(Some(command.spawn().unwrap()))
}

pub(crate) fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    let sent = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(sent, 0, "kill {signal}");
}

/// Waits until the ledger holds `objects` rows.
async fn wait_for_ledger(lake: &Loc, objects: u64, child: &mut Child) {
    eventually(
        &format!("{objects} objects in the ledger"),
        Duration::from_secs(90),
        || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("--follow exited early with {status}");
            }
            async move {
                let committed = ledger_rows(lake).await.unwrap_or(0);
                assert!(
                    committed <= objects,
                    "the ledger has {committed} objects, want {objects}"
                );
                committed == objects
            }
        },
    )
    .await;
}

/// SIGTERM: the run commits what it has and exits 0 with its totals.
pub(crate) fn stop(mut following: Following) -> serde_json::Value {
    let mut child = following.0.take().expect("running");
    signal(&child, libc::SIGTERM);
    eventually_blocking(
        "--follow stopping after SIGTERM",
        Duration::from_secs(60),
        || child.try_wait().unwrap().is_some(),
    );
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // --log-format json: every log line is a JSON object.
    for line in stderr.lines().filter(|line| !line.trim().is_empty()) {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(parsed["fields"].is_object(), "{line}");
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("no JSON totals: {stderr}"))
}

async fn objects_landing_while_it_runs_are_committed_once(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let queue = notifications_queue(&raw);
    // Objects before the start are found by the first (full) listing.
    let mut total = generate(&raw, &batch(1)).await;
    let mut child = spawn_follow(&raw, &lake, queue.as_deref());
    for seed in 2..=4 {
        // More objects once the run has committed what it found: they land while it runs.
        wait_for_ledger(&lake, total.objects, &mut child).await;
        let more = generate(&raw, &batch(seed)).await;
        add(&mut total, &more);
        if seed == 3 {
            // `optimize` rewrites files while the appends go on: its commits must not conflict.
            let mut optimize = eventlake(&lake);
            let output = optimize
                .args(["optimize", "--lake", &lake.uri])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    wait_for_ledger(&lake, total.objects, &mut child).await;

    if let Some(queue) = &queue {
        // A notification repeated, a test event and a message that is not S3's add nothing.
        let (bucket, _) = raw.uri.trim_start_matches("s3://").split_once('/').unwrap();
        let committed = sql(&lake, "SELECT source_object FROM source_objects LIMIT 1").await;
        let uri = committed[0][0].clone();
        let key = uri
            .trim_start_matches(&format!("s3://{bucket}/"))
            .to_owned();
        let repeat = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
            "eventTime": "2026-11-25T10:00:00.000Z",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}]});
        let endpoint = raw.endpoint.clone().unwrap();
        python_s3_notifications(&["send", &endpoint, queue, &repeat.to_string()]);
        python_s3_notifications(&["send", &endpoint, queue, r#"{"Event":"s3:TestEvent"}"#]);
        python_s3_notifications(&["send", &endpoint, queue, "not an S3 event"]);
        // The run has received all three (none waits unreceived) before it is stopped.
        eventually_blocking("the run reading the queue", Duration::from_secs(60), || {
            python_s3_notifications(&["visible", &endpoint, queue]) == "0"
        });
    }
    let totals = stop(child);
    assert_eq!(totals["objects"], total.objects, "{totals}");
    assert_lake_matches(&lake, &total).await;
}

async fn a_killed_follow_restarts_exactly_beside_a_batch_run(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let mut total = generate(&raw, &batch(11)).await;
    let mut child = spawn_follow(&raw, &lake, None);
    for seed in 12..=13 {
        wait_for_ledger(&lake, total.objects, &mut child).await;
        add(&mut total, &generate(&raw, &batch(seed)).await);
    }
    // Killed with new objects just landed: mid-listing, mid-unit, or between commits.
    signal(&child, libc::SIGKILL);
    drop(child);

    add(&mut total, &generate(&raw, &batch(14)).await);
    let mut child = spawn_follow(&raw, &lake, None);
    add(&mut total, &generate(&raw, &batch(15)).await);
    // A batch compact on the same lake at the same time.
    let batch_run = compact_cli(&raw, &lake, &[]);
    assert!(batch_run["objects"].as_u64().is_some(), "{batch_run}");
    add(&mut total, &generate(&raw, &batch(16)).await);
    wait_for_ledger(&lake, total.objects, &mut child).await;
    stop(child);
    assert_lake_matches(&lake, &total).await;
}

/// A `--follow` held mid-unit (ids checked, `events` not yet committed) by the test failure
/// point; returns it with the file that releases it, once it is there.
async fn follow_held_mid_unit(
    dir: &tempfile::TempDir,
    raw: &Loc,
    lake: &Loc,
) -> (Following, std::path::PathBuf) {
    let release = path(dir, "release");
    let held = path(dir, "release.held");
    let mut command = eventlake(lake);
    command
        .args(["compact", "--follow", "--json", "--commit-interval", "1s"])
        .args(["--lookback", "3650d"])
        .args(["--source", &raw.uri, "--lake", &lake.uri, "-v"])
        .env("EVENTLAKE_TEST_FAILPOINT", "hold-before-events-commit")
        .env("EVENTLAKE_TEST_FAILPOINT_RELEASE", &release)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Following(Some(command.spawn().unwrap()));
    eventually_blocking("the run held mid-unit", Duration::from_secs(60), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("--follow exited with {status} before its first commit");
        }
        held.exists()
    });
    (child, release)
}

/// A queue message is deleted only after its objects are committed: a run that dies between
/// the commit and the delete leaves the messages, which come back to the next run and are
/// deleted there with nothing ingested twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_queue_delete_doubles_nothing() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    let queue = notifications_queue(&raw).expect("an S3 source has a queue");
    let endpoint = raw.endpoint.clone().unwrap();
    let total = generate(&raw, &batch(41)).await;
    let mut command = eventlake(&lake);
    command
        .args(["compact", "--follow", "--json", "--commit-interval", "1s"])
        .args(["--lookback", "3650d", "--queue", &queue])
        .args(["--source", &raw.uri, "--lake", &lake.uri])
        .env("EVENTLAKE_TEST_FAILPOINT", "before-queue-delete")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut crashing = Following(Some(command.spawn().unwrap()));
    eventually_blocking(
        "the run reaching the failure point",
        Duration::from_secs(60),
        || crashing.try_wait().unwrap().is_some(),
    );
    let crashed = crashing.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert!(
        !crashed.status.success() && stderr.contains("failure point before-queue-delete"),
        "{stderr}"
    );
    assert_lake_matches(&lake, &total).await;
    let left: u64 = python_s3_notifications(&["left", &endpoint, &queue])
        .parse()
        .unwrap();
    assert!(left > 0, "the messages were deleted before the crash");

    let mut child = spawn_follow(&raw, &lake, Some(&queue));
    eventually_blocking(
        "the returned messages deleted",
        Duration::from_secs(60),
        || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("--follow exited with {status}");
            }
            python_s3_notifications(&["left", &endpoint, &queue]) == "0"
        },
    );
    let totals = stop(child);
    assert_eq!(totals["objects"], 0, "the rerun ingested again: {totals}");
    assert_lake_matches(&lake, &total).await;
}

/// The lines of a child's output as they come.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The first SIGTERM or SIGINT while a micro-batch is being written lets it commit, then the
/// run exits 0 with everything committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_mid_batch_commits_that_batch_and_exits_0() {
    for (seed, stop_signal) in [(31, libc::SIGTERM), (32, libc::SIGINT)] {
        let dir = temp_dir();
        let (raw, lake) = place(Backend::Local, &dir);
        let total = generate(&raw, &batch(seed)).await;
        let (mut child, release) = follow_held_mid_unit(&dir, &raw, &lake).await;
        signal(&child, stop_signal);
        assert!(
            child.try_wait().unwrap().is_none(),
            "signal {stop_signal} ended the run before its batch committed"
        );
        std::fs::write(&release, b"").unwrap();
        let output = child.0.take().unwrap().wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "signal {stop_signal}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_lake_matches(&lake, &total).await;
    }
}

/// A second signal exits at once with 130, mid-unit; the next start finishes that unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_next_start_finishes() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    let total = generate(&raw, &batch(21)).await;
    // Held before the events commit: the unit is claimed and written, nothing committed.
    let (mut child, _release) = follow_held_mid_unit(&dir, &raw, &lake).await;
    let stderr = lines_of(child.stderr.take().unwrap());
    signal(&child, libc::SIGTERM);
    // Signals that arrive together are one delivery: the second goes once the first is seen.
    loop {
        let line = stderr
            .recv_timeout(Duration::from_secs(60))
            .expect("the run never said it saw the first signal");
        if line.contains("stop signal") {
            break;
        }
    }
    signal(&child, libc::SIGTERM);
    let status = child.0.take().unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(130), "the second signal exits at once");
    let committed = eventlake::query::table_names(&lake.lake())
        .await
        .unwrap_or_default()
        .iter()
        .any(|name| name == "source_objects");
    let ledger_rows = if committed {
        count(&lake, "SELECT count(*) FROM source_objects").await
    } else {
        0
    };
    assert_eq!(ledger_rows, 0, "the interrupted unit was committed");

    let mut child = spawn_follow(&raw, &lake, None);
    wait_for_ledger(&lake, total.objects, &mut child).await;
    stop(child);
    assert_lake_matches(&lake, &total).await;
}

on_both_backends!(
    objects_landing_while_it_runs_are_committed_once,
    a_killed_follow_restarts_exactly_beside_a_batch_run,
    two_following_shards_commit_every_object_once,
);

/// `--follow --shard K/2` twice at once (listing the source): each commits only its own
/// objects, and together every object once.
async fn two_following_shards_commit_every_object_once(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let mut total = generate(&raw, &batch(31)).await;
    let spawn_shard = |index: u32| {
        let mut command = eventlake(&lake);
        command
            .args(["compact", "--follow", "--json", "--commit-interval", "1s"])
            .args(["--lookback", "3650d", "--shard", &format!("{index}/2")])
            .args(["--log-format", "json"])
            .args(["--source", &raw.uri, "--lake", &lake.uri])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Following(Some(command.spawn().unwrap()))
    };
    let mut first = spawn_shard(0);
    let second = spawn_shard(1);
    for seed in 32..=34 {
        // Both shards' ledger rows for what landed so far, then more.
        wait_for_ledger(&lake, total.objects, &mut first).await;
        add(&mut total, &generate(&raw, &batch(seed)).await);
    }
    wait_for_ledger(&lake, total.objects, &mut first).await;
    let (a, b) = (stop(first), stop(second));
    assert_eq!(
        a["objects"].as_u64().unwrap() + b["objects"].as_u64().unwrap(),
        total.objects,
        "{a} {b}"
    );
    assert!(
        a["objects"].as_u64().unwrap() > 0 && b["objects"].as_u64().unwrap() > 0,
        "{a} {b}"
    );
    assert_lake_matches(&lake, &total).await;
}
