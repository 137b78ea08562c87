//! `zendesk sync` against a Zendesk that misbehaves: a page that is not JSON, a `Retry-After`
//! that is not a number. The sync fails with a message naming the URL and status, or rides it
//! out; it never panics, and a failed sync leaves the table and its cursor as they were.

use std::io::{Read, Write};
use std::process::{Child, Output};

use serde_json::{json, Value};

use crate::common::*;

/// `tests/python/zendesk_server.py`, killed on drop.
struct MisbehavingZendesk {
    child: Child,
    url: String,
}

impl MisbehavingZendesk {
    fn start() -> Self {
        let (child, url) = python_server(
            "zendesk_server.py",
            &["--email", "agent@example.com", "--token", "s3cr3t-token"],
        );
        MisbehavingZendesk { child, url }
    }

    fn post(&self, target: &str, body: &Value) {
        let body = body.to_string();
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "POST {target} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    /// The next export requests get these replies, in order.
    fn queue_replies(&self, replies: Value) {
        self.post("/__test/replies", &replies);
    }

    fn sync(&self, lake: &Loc) -> Output {
        eventlake(lake)
            .args(["zendesk", "sync", "--json", "--lake", &lake.uri])
            .args([
                "--zendesk-url",
                &self.url,
                "--start-time",
                "2026-11-01T00:00:00Z",
            ])
            .env("ZENDESK_EMAIL", "agent@example.com")
            .env("ZENDESK_API_TOKEN", "s3cr3t-token")
            .output()
            .unwrap()
    }
}

impl Drop for MisbehavingZendesk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tickets() -> Value {
    Value::Array(
        (1..=6)
            .map(|id| {
                json!({"id": id, "subject": "Loyalty customer purchase", "status": "new",
                       "tags": ["loyalty"], "custom_fields": [],
                       "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z"})
            })
            .collect(),
    )
}

fn assert_no_panic(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(
        output.status.code(),
        Some(101),
        "a panic's exit code: {stderr}"
    );
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zendesk_page_that_is_not_json_fails_the_sync_naming_url_and_status() {
    let zendesk = MisbehavingZendesk::start();
    let dir = temp_dir();
    let (_, lake) = place(Backend::Local, &dir);
    zendesk.post("/__test/tickets", &tickets());
    let html = |status: u16| {
        json!({"status": status, "headers": [["Content-Type", "text/html"]],
               "body": "<html><body>Down for maintenance</body></html>"})
    };
    for reply in [
        html(200),
        json!({"status": 200, "headers": [["Content-Type", "application/json"]], "body": "[1, 2, 3]"}),
        json!({"status": 200, "headers": [["Content-Type", "application/json"]], "body": "{\"tickets\": [1"}),
        json!({"status": 200, "body": ""}),
    ] {
        zendesk.queue_replies(json!([reply]));
        let failed = zendesk.sync(&lake);
        let stderr = assert_no_panic(&failed);
        assert_eq!(failed.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{}/api/v2/incremental/tickets/cursor.json",
                zendesk.url
            )),
            "names the URL: {stderr}"
        );
        assert!(stderr.contains("200 OK"), "names the status: {stderr}");
        assert!(stderr.contains("not an export page"), "{stderr}");
        assert!(!stderr.contains("s3cr3t"), "{stderr}");
    }
    // A failing status with an HTML body is a clear failure too.
    zendesk.queue_replies(json!([html(418)]));
    let failed = zendesk.sync(&lake);
    let stderr = assert_no_panic(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("418") && stderr.contains("maintenance"),
        "{stderr}"
    );

    // Nothing was written: the next, well-behaved sync starts from the start time.
    let synced = zendesk.sync(&lake);
    let stderr = assert_no_panic(&synced);
    assert!(synced.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!(summary["resumed"], false, "{summary}");
    assert_eq!(summary["tickets_changed"], 6, "{summary}");
    assert_eq!(
        count(&lake, "SELECT count(*) FROM zendesk_tickets").await,
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_that_is_not_a_number_gets_the_usual_backoff() {
    let zendesk = MisbehavingZendesk::start();
    let dir = temp_dir();
    let (_, lake) = place(Backend::Local, &dir);
    zendesk.post("/__test/tickets", &tickets());
    let throttled = |retry_after: &str| {
        json!({"status": 429, "headers": [["Retry-After", retry_after], ["Content-Type", "application/json"]],
               "body": "{\"error\": \"APIRateLimitExceeded\"}"})
    };
    // Each of these once used to panic (negative, NaN, infinite) or is simply unreadable.
    zendesk.queue_replies(json!([
        throttled("-5"),
        throttled("NaN"),
        throttled("inf"),
        throttled("soon"),
        throttled(""),
    ]));
    let started = std::time::Instant::now();
    let synced = zendesk.sync(&lake);
    let stderr = assert_no_panic(&synced);
    assert!(synced.status.success(), "{stderr}");
    // Five backoffs from 250 ms doubling (with jitter), and the server's own one-second 429.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let summary: Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!(summary["tickets_changed"], 6, "{summary}");
}
