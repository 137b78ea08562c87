//! `zendesk sync` against a local server that behaves like Zendesk's export API, and
//! `reconcile` on hand-built purchases and tickets with a known answer for each matching mode.

use std::io::{Read, Write};
use std::process::{Child, Output};

use serde_json::{json, Value};

use crate::common::*;

struct FakeZendesk {
    child: Child,
    url: String,
}

impl FakeZendesk {
    fn start() -> Self {
        let (child, url) = python_server(
            "zendesk_server.py",
            &["--email", "agent@example.com", "--token", "s3cr3t-token"],
        );
        FakeZendesk { child, url }
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

/// Loyalty purchases `(event id, client id, time in seconds)` as raw NDJSON records.
fn purchases_body(purchases: &[(String, String, i64)]) -> String {
    let mut body = String::new();
    for (index, (id, client, time)) in purchases.iter().enumerate() {
        let stamp = chrono::DateTime::from_timestamp(*time, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        body.push_str(&json!({
            "version": "0", "id": id, "detail-type": "prod", "source": "clientevents", "account": "1",
            "time": stamp.to_string(), "region": "us-east-1", "resources": [client],
            "detail": {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": index},
                       "ticket": {"ticket": {"subject": "Loyalty customer purchase", "comment": {"body": "x"}}}}
        }).to_string());
        body.push('\n');
    }
    body
}

/// 30 loyalty purchases two hours apart, each by its own client.
fn thirty_purchases() -> Vec<(String, String, i64)> {
    (0..30i64)
        .map(|index| {
            (
                format!("6f1c2a4e-0000-4000-8000-{index:012}"),
                format!("c0ffee00-0000-4000-8000-{index:012}"),
                DAY + index * 7_200,
            )
        })
        .collect()
}

/// A local lake holding `purchases` as compacted events and `tickets` imported as a sync would.
fn lake_with(
    dir: &tempfile::TempDir,
    purchases: &[(String, String, i64)],
    tickets: &[Value],
) -> Loc {
    let (raw, lake) = place(Backend::Local, dir);
    std::fs::create_dir_all(path(dir, "raw")).unwrap();
    std::fs::write(
        path(dir, "raw").join("purchases.json"),
        purchases_body(purchases),
    )
    .unwrap();
    compact_cli(&raw, &lake, &[]);
    let export = path(dir, "tickets.json");
    std::fs::write(&export, serde_json::to_string(tickets).unwrap()).unwrap();
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
    lake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_missing_duplicate_late_and_orphan_tickets_in_each_matching_mode() {
    let dir = temp_dir();
    let purchases = thirty_purchases();

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
    // Orphans that carry a reference naming nothing in the window, five minutes after a purchase
    // without a ticket: an unknown event id, an unknown client id, and the client of a purchase
    // ten hours earlier. Time order would pair each with that purchase and hide both (issue 12).
    for (index, external_id, field) in [
        (
            0usize,
            Some("6f1c2a4e-0000-4000-8000-888888888888"),
            Value::Null,
        ),
        (25, None, json!("c0ffee00-0000-4000-8000-888888888888")),
        (10, None, json!(purchases[5].1)),
    ] {
        tickets.push(ticket(
            next_id,
            purchases[index].2 + 300,
            purchases[index].2 + 300,
            external_id,
            json!([{"id": 360001, "value": field}]),
            "new",
        ));
        next_id += 1;
    }
    let lake = lake_with(&dir, &purchases, &tickets);

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
    assert_eq!(summary["tickets"], 36, "{summary}");
    assert_eq!(summary["missing_ticket"], 6, "{summary}");
    assert_eq!(summary["late_ticket"], 6, "{summary}");
    // Strong modes see both tickets of a duplicate; the weak mode cannot tell the second ticket
    // from an orphan, and says so by pairing one and leaving the other.
    assert_eq!(summary["duplicate_ticket"], 4, "{summary}");
    assert_eq!(summary["matched"], 14, "{summary}");
    assert_eq!(summary["orphan_ticket"], 3 + 2 + 3, "{summary}");
    // Tickets by how they were matched.
    assert_eq!(summary["by_match_mode"]["event_id"], 10, "{summary}");
    assert_eq!(summary["by_match_mode"]["client_window"], 10, "{summary}");
    assert_eq!(summary["by_match_mode"]["time_order"], 8, "{summary}");
    assert_eq!(summary["by_match_mode"]["none"], 8, "{summary}");
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

    // Each row says how its ticket was matched.
    let rows = reconcile(&["--format", "csv"]);
    let text = String::from_utf8_lossy(&rows.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|field| *field == name).unwrap();
    let (purchase_id, matched_by) = (column("purchase_id"), column("matched_by"));
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let expected = match purchases
            .iter()
            .position(|purchase| purchase.0 == fields[purchase_id])
        {
            Some(index) if index % 5 == 0 => "none",
            Some(index) => ["event_id", "client_window", "time_order"][(index / 5) % 3],
            None => "none", // an orphan ticket
        };
        assert_eq!(fields[matched_by], expected, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_exactly_what_the_ticket_generator_made_for_each_seed() {
    use rand::{Rng, SeedableRng};

    let options = eventlake::reconcile::ReconcileOptions {
        from_micros: DAY * 1_000_000,
        to_micros: (DAY + 2 * 86_400) * 1_000_000,
        window_seconds: 3_600,
        sla_seconds: 900,
    };
    let candidates = eventlake::query::saved::catalog(None).unwrap()["reconcile/candidates"]
        .sql
        .clone();
    let mut seen = eventlake::generate::TicketTruth::default();
    for seed in 1..=6u64 {
        // Bursts of purchases seconds to minutes apart, and quiet hours, by a few clients: every
        // way of carrying a reference, and the places where only the event id leaves no doubt.
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let clients = rng.gen_range(2..12);
        let mut purchases = Vec::new();
        let mut time = DAY + 60;
        while time < DAY + 2 * 86_400 - 60 {
            purchases.push((
                format!("6f1c2a4e-0000-4000-8000-{seed:04}{:08}", purchases.len()),
                format!("c0ffee00-0000-4000-8000-{:012}", rng.gen_range(0..clients)),
                time,
            ));
            time += if rng.gen_bool(0.8) {
                rng.gen_range(5..600)
            } else {
                rng.gen_range(3_700..9_000)
            };
        }
        let in_micros: Vec<(String, String, i64)> = purchases
            .iter()
            .map(|(id, client, time)| (id.clone(), client.clone(), time * 1_000_000))
            .collect();
        let (tickets, truth) = eventlake::generate::tickets_for(
            &in_micros,
            &eventlake::generate::TicketOptions {
                seed,
                window_seconds: options.window_seconds,
                sla_seconds: options.sla_seconds,
            },
        )
        .unwrap();
        let dir = temp_dir();
        let lake = lake_with(&dir, &purchases, &tickets);
        let session = eventlake::query::LakeSession::open(&lake.lake(), None)
            .await
            .unwrap();
        let (summary, rows) = eventlake::reconcile::reconcile(&session, &candidates, &options)
            .await
            .unwrap();
        for count in truth.against(&summary) {
            assert_eq!(
                count.generated, count.reported,
                "seed {seed}: {} generated {} reported {}\n{truth:?}\n{summary:?}",
                count.name, count.generated, count.reported
            );
        }
        assert_eq!(rows.len() as u64, summary.purchases + summary.orphan_ticket);
        seen.matched += truth.matched;
        seen.missing_ticket += truth.missing_ticket;
        seen.duplicate_ticket += truth.duplicate_ticket;
        seen.late_ticket += truth.late_ticket;
        seen.orphan_ticket += truth.orphan_ticket;
        for (mode, tickets) in truth.by_match_mode {
            *seen.by_match_mode.entry(mode).or_default() += tickets;
        }
    }
    // The seeds between them make every class and every way of matching.
    for (class, made) in [
        ("matched", seen.matched),
        ("missing_ticket", seen.missing_ticket),
        ("duplicate_ticket", seen.duplicate_ticket),
        ("late_ticket", seen.late_ticket),
        ("orphan_ticket", seen.orphan_ticket),
    ] {
        assert!(made > 0, "no {class} made: {seen:?}");
    }
    for mode in ["event_id", "client_window", "time_order", "none"] {
        assert!(
            seen.by_match_mode
                .get(mode)
                .is_some_and(|&tickets| tickets > 0),
            "no ticket matched by {mode}: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_names_the_column_an_overriding_candidates_query_lacks_or_mistypes() {
    let dir = temp_dir();
    let purchases = thirty_purchases();
    let tickets = [ticket(
        1,
        purchases[0].2 + 60,
        purchases[0].2 + 60,
        Some(purchases[0].0.as_str()),
        json!([]),
        "new",
    )];
    let lake = lake_with(&dir, &purchases, &tickets);
    let queries = path(&dir, "queries");
    std::fs::create_dir_all(queries.join("reconcile")).unwrap();
    let header = "-- An override from before matched_by.\n\
                  -- @param from timestamp  First purchase time\n\
                  -- @param to timestamp  End of the purchase window\n\
                  -- @param window_seconds int = 86400  How long a ticket may take\n";
    let reconcile_with = |select: &str| {
        std::fs::write(
            queries.join("reconcile").join("candidates.sql"),
            format!(
                "{header}SELECT {select}\nFROM events e LEFT JOIN zendesk_tickets t ON t.external_id = e.id\n\
                 WHERE e.event_type = 'loyaltypurchase' AND e.time >= $from AND e.time < $to AND $window_seconds > 0"
            ),
        )
        .unwrap();
        eventlake_cmd(
            &lake,
            &[
                "reconcile",
                "--lake",
                &lake.uri,
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-02",
                "--queries",
                queries.to_str().unwrap(),
                "--json",
            ],
        )
    };

    let old = reconcile_with(
        "e.id AS purchase_id, e.client_id, e.time AS purchase_time, t.id AS ticket_id, \
         t.created_at AS ticket_created_at, 'event_id' AS match_mode",
    );
    let stderr = String::from_utf8_lossy(&old.stderr);
    assert_eq!(old.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("column matched_by is missing") && stderr.contains("match_mode"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let mistyped = reconcile_with(
        "e.id AS purchase_id, e.client_id, 'yesterday' AS purchase_time, t.id AS ticket_id, \
         t.created_at AS ticket_created_at, 'event_id' AS matched_by, true AS ticket_has_reference",
    );
    let stderr = String::from_utf8_lossy(&mistyped.stderr);
    assert_eq!(mistyped.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("column purchase_time"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Columns by name: the same columns in another order, and one more, are read as shipped.
    let reordered = reconcile_with(
        "'extra' AS note, true AS ticket_has_reference, 'event_id' AS matched_by, \
         t.created_at AS ticket_created_at, t.id AS ticket_id, e.time AS purchase_time, \
         e.client_id, e.id AS purchase_id",
    );
    assert!(
        reordered.status.success(),
        "{}",
        String::from_utf8_lossy(&reordered.stderr)
    );
    let summary: Value = serde_json::from_slice(&reordered.stdout).unwrap();
    // --to 2026-11-02 ends with that day: the first 24 purchases.
    assert_eq!(summary["purchases"], 24, "{summary}");
    assert_eq!(summary["matched"], 1, "{summary}");
    assert_eq!(summary["missing_ticket"], 23, "{summary}");
}
