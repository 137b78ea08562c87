//! `zendesk sync` against a local server that behaves like Zendesk's export API, and
//! `reconcile` on hand-built purchases and tickets with a known answer for each matching mode.

use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

use crate::common::*;

struct FakeZendesk {
    child: Child,
    url: String,
}

impl FakeZendesk {
    fn start() -> Self {
        let python = crate::interop::python().expect("the Zendesk tests need the test Python");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/zendesk_server.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .args(["--email", "agent@example.com", "--token", "s3cr3t-token"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        FakeZendesk {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
        }
    }

    fn add(&self, tickets: &[Value]) {
        let body = serde_json::to_string(tickets).unwrap();
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "POST /__test/tickets HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "{response}"
        );
    }

    fn requests(&self) -> Vec<String> {
        let (status, body) = http(&self.url, "GET", "/__test/requests");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for FakeZendesk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ticket(
    id: i64,
    created: i64,
    updated: i64,
    external_id: Option<&str>,
    fields: Value,
    status: &str,
) -> Value {
    let time = |seconds: i64| {
        chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    json!({
        "id": id, "external_id": external_id, "subject": "Loyalty customer purchase",
        "description": "This customer has made a loyalty purchase", "status": status,
        "tags": ["loyalty"], "custom_fields": fields, "requester_id": 1000 + id,
        "created_at": time(created), "updated_at": time(updated),
    })
}

fn eventlake_cmd(lake: &Loc, args: &[&str]) -> Output {
    eventlake(lake).args(args).output().unwrap()
}

const DAY: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_follows_cursors_rides_out_a_429_keeps_the_latest_versions_and_resumes() {
    let dir = temp_dir();
    let (_, lake) = place(Backend::Local, &dir);
    let zendesk = FakeZendesk::start();
    let tickets: Vec<Value> = (1..=10)
        .map(|id| ticket(id, DAY + id * 60, DAY + id * 60, None, json!([]), "new"))
        .collect();
    zendesk.add(&tickets);
    // Ticket 3 is updated later: it reappears in a later page.
    zendesk.add(&[ticket(3, DAY + 180, DAY + 3_600, None, json!([]), "solved")]);
    let secret = path(&dir, "zendesk.json");
    // The pipeline's docs spell the token `apiKey` too.
    std::fs::write(
        &secret,
        r#"{"username": "agent@example.com", "apiKey": "s3cr3t-token"}"#,
    )
    .unwrap();
    let sync = |extra: &[&str]| {
        let mut args = vec![
            "zendesk",
            "sync",
            "--json",
            "--lake",
            &lake.uri,
            "--zendesk-url",
            &zendesk.url,
            "--start-time",
            "2026-11-01T00:00:00Z",
        ];
        args.extend_from_slice(extra);
        eventlake_cmd(&lake, &args)
    };
    let first = sync(&["--secret", secret.to_str().unwrap()]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!String::from_utf8_lossy(&first.stderr).contains("s3cr3t"));
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["tickets_fetched"], 11);
    assert_eq!(first["tickets_changed"], 10);
    assert_eq!(first["pages"], 3);
    assert_eq!(first["resumed"], false);
    assert_eq!(
        count(&lake, "SELECT count(*) FROM zendesk_tickets").await,
        10
    );
    assert_eq!(
        sql(&lake, "SELECT status FROM zendesk_tickets WHERE id = 3").await[0][0],
        "solved"
    );

    // The second sync starts from the stored cursor and fetches only what changed since.
    zendesk.add(&[
        ticket(11, DAY + 7_200, DAY + 7_200, None, json!([]), "new"),
        ticket(5, DAY + 300, DAY + 7_300, None, json!([]), "pending"),
    ]);
    let before = zendesk.requests().len();
    let second = sync(&["--secret", secret.to_str().unwrap()]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(second["resumed"], true);
    assert_eq!(second["tickets_fetched"], 2, "only the new changes");
    let asked = &zendesk.requests()[before..];
    assert!(
        asked.iter().all(|query| query.starts_with("cursor=")),
        "{asked:?}"
    );
    assert_eq!(
        count(&lake, "SELECT count(*) FROM zendesk_tickets").await,
        11
    );
    assert_eq!(
        sql(&lake, "SELECT status FROM zendesk_tickets WHERE id = 5").await[0][0],
        "pending"
    );

    // A bad token is a clear failure that names no secret.
    let bad = path(&dir, "bad.json");
    std::fs::write(
        &bad,
        r#"{"username": "agent@example.com", "apiToken": "wrong-token"}"#,
    )
    .unwrap();
    let denied = sync(&["--secret", bad.to_str().unwrap()]);
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-token"), "{stderr}");
}

/// 30 loyalty purchases two hours apart, each by its own client; tickets in three modes.
fn purchases_object() -> (String, Vec<(String, String, i64)>) {
    let mut body = String::new();
    let mut purchases = Vec::new();
    for index in 0..30i64 {
        let id = format!("6f1c2a4e-0000-4000-8000-{index:012}");
        let client = format!("c0ffee00-0000-4000-8000-{index:012}");
        let time = DAY + index * 7_200;
        let stamp = chrono::DateTime::from_timestamp(time, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        body.push_str(&json!({
            "version": "0", "id": id, "detail-type": "prod", "source": "clientevents", "account": "1",
            "time": stamp.to_string(), "region": "us-east-1", "resources": [client],
            "detail": {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": index},
                       "ticket": {"ticket": {"subject": "Loyalty customer purchase", "comment": {"body": "x"}}}}
        }).to_string());
        body.push('\n');
        purchases.push((id, client, time));
    }
    (body, purchases)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_missing_duplicate_late_and_orphan_tickets_in_each_matching_mode() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    std::fs::create_dir_all(path(&dir, "raw")).unwrap();
    let (body, purchases) = purchases_object();
    std::fs::write(path(&dir, "raw").join("purchases.json"), body).unwrap();
    compact_cli(&raw, &lake, &[]);

    // Per purchase: class by index % 5 (missing, duplicate, late, matched, matched) and mode by
    // block of five (event id, client id, nothing).
    let mut tickets = Vec::new();
    let mut next_id = 1;
    for (index, (event_id, client, time)) in purchases.iter().enumerate() {
        let mode = (index / 5) % 3;
        let (external_id, fields) = match mode {
            0 => (Some(event_id.as_str()), json!([])),
            1 => (None, json!([{"id": 360001, "value": client}])),
            _ => (None, json!([{"id": 360001, "value": null}])),
        };
        let lags: &[i64] = match index % 5 {
            0 => &[],
            1 => &[90, 600],
            2 => &[2_400],
            _ => &[120],
        };
        for lag in lags {
            tickets.push(ticket(
                next_id,
                time + lag,
                time + lag,
                external_id,
                fields.clone(),
                "new",
            ));
            next_id += 1;
        }
    }
    // Orphans: 70 minutes after a purchase (outside the 1-hour window), one naming an unknown event.
    for (index, external_id) in [
        (3usize, Some("6f1c2a4e-0000-4000-8000-999999999999")),
        (13, None),
        (27, None),
    ] {
        tickets.push(ticket(
            next_id,
            purchases[index].2 + 4_200,
            purchases[index].2 + 4_200,
            external_id,
            json!([]),
            "new",
        ));
        next_id += 1;
    }
    let export = path(&dir, "tickets.json");
    std::fs::write(&export, serde_json::to_string(&tickets).unwrap()).unwrap();
    let imported = eventlake_cmd(
        &lake,
        &[
            "zendesk",
            "sync",
            "--lake",
            &lake.uri,
            "--tickets",
            export.to_str().unwrap(),
        ],
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );

    let reconcile = |extra: &[&str]| {
        let mut args = vec![
            "reconcile",
            "--lake",
            &lake.uri,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-03",
            "--window",
            "1h",
            "--sla",
            "15m",
        ];
        args.extend_from_slice(extra);
        eventlake_cmd(&lake, &args)
    };
    let output = reconcile(&["--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["purchases"], 30);
    assert_eq!(summary["missing_ticket"], 6, "{summary}");
    assert_eq!(summary["late_ticket"], 6, "{summary}");
    // Strong modes see both tickets of a duplicate; the weak mode cannot tell the second ticket
    // from an orphan, and says so by pairing one and leaving the other.
    assert_eq!(summary["duplicate_ticket"], 4, "{summary}");
    assert_eq!(summary["matched"], 14, "{summary}");
    assert_eq!(summary["orphan_ticket"], 3 + 2, "{summary}");
    assert_eq!(summary["by_match_mode"]["event_id"], 8, "{summary}");
    assert_eq!(summary["by_match_mode"]["client_window"], 8, "{summary}");
    assert_eq!(summary["by_match_mode"]["time_order"], 8, "{summary}");
    assert_eq!(summary["time_to_ticket_seconds_p50"], 120);
    assert_eq!(summary["time_to_ticket_seconds_p99"], 2_400);

    // Rows: the missing purchases by id, as CSV.
    let rows = reconcile(&["--class", "missing_ticket", "--format", "csv"]);
    assert!(
        rows.status.success(),
        "{}",
        String::from_utf8_lossy(&rows.stderr)
    );
    let text = String::from_utf8_lossy(&rows.stdout);
    for index in [0usize, 5, 10, 15, 20, 25] {
        assert!(
            text.contains(&purchases[index].0),
            "purchase {index} should be missing: {text}"
        );
    }
    assert_eq!(text.lines().count(), 1 + 6);
}
