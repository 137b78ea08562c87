//! `reconcile`: each loyalty purchase against the Zendesk ticket it should have opened.
//!
//! The strong matches (event id, then client id within the window) are SQL an analyst can read:
//! `queries/reconcile/candidates.sql`. What they leave is paired here, one to one in time order
//! (a ticket goes to the oldest open purchase at most `window` before it): a weak match, said so.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::query::LakeSession;

pub struct ReconcileOptions {
    pub from_micros: i64,
    pub to_micros: i64,
    pub window_seconds: i64,
    pub sla_seconds: i64,
}

/// Counts by class and time-to-ticket percentiles; `--json` prints it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReconcileSummary {
    pub purchases: u64,
    pub tickets: u64,
    pub matched: u64,
    pub missing_ticket: u64,
    pub orphan_ticket: u64,
    pub duplicate_ticket: u64,
    pub late_ticket: u64,
    /// Purchases paired by each mode: event_id, client_window, time_order (weak).
    pub by_match_mode: BTreeMap<String, u64>,
    pub time_to_ticket_seconds_p50: Option<i64>,
    pub time_to_ticket_seconds_p90: Option<i64>,
    pub time_to_ticket_seconds_p99: Option<i64>,
}

/// One reported row: a purchase with its class, or an orphan ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub class: &'static str,
    pub purchase_id: Option<String>,
    pub client_id: Option<String>,
    pub purchase_time: Option<i64>,
    pub ticket_id: Option<i64>,
    pub ticket_created_at: Option<i64>,
    pub tickets: i64,
    pub match_mode: Option<String>,
    pub lag_seconds: Option<i64>,
}

struct Purchase {
    id: String,
    client_id: Option<String>,
    time: i64,
    /// (ticket id, created at, mode)
    tickets: Vec<(i64, i64, String)>,
}

pub async fn reconcile(
    session: &LakeSession,
    candidates_sql: &str,
    options: &ReconcileOptions,
) -> Result<(ReconcileSummary, Vec<Row>)> {
    for table in ["events", "zendesk_tickets"] {
        if !session.tables().iter().any(|name| name == table) {
            return Err(Error::InvalidArgument(format!(
                "the lake has no {table} table yet ({})",
                if table == "events" {
                    "run eventlake compact"
                } else {
                    "run eventlake zendesk sync"
                }
            )));
        }
    }
    let timestamp = |micros| ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()));
    let params = HashMap::from([
        ("from".to_owned(), timestamp(options.from_micros)),
        ("to".to_owned(), timestamp(options.to_micros)),
        (
            "window_seconds".to_owned(),
            ScalarValue::Int64(Some(options.window_seconds)),
        ),
    ]);
    let mut stream = session
        .sql(candidates_sql, params)
        .await?
        .execute_stream()
        .await?;
    let mut purchases: HashMap<String, Purchase> = HashMap::new();
    let mut orphans: Vec<(i64, i64)> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text = |index: usize| -> Result<ArrayRef> {
            Ok(arrow::compute::cast(batch.column(index), &DataType::Utf8)?)
        };
        let micros = |index: usize| -> Result<ArrayRef> {
            Ok(arrow::compute::cast(
                batch.column(index),
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            )?)
        };
        let (ids, clients, modes) = (text(0)?, text(1)?, text(5)?);
        let (ids, clients, modes) = (
            ids.as_string::<i32>(),
            clients.as_string::<i32>(),
            modes.as_string::<i32>(),
        );
        let (times, created) = (micros(2)?, micros(4)?);
        let (times, created) = (
            times.as_primitive::<TimestampMicrosecondType>(),
            created.as_primitive::<TimestampMicrosecondType>(),
        );
        let tickets = arrow::compute::cast(batch.column(3), &DataType::Int64)?;
        let tickets = tickets.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let ticket = (!tickets.is_null(row) && !created.is_null(row))
                .then(|| (tickets.value(row), created.value(row)));
            if ids.is_null(row) {
                if let Some(ticket) = ticket {
                    orphans.push(ticket);
                }
                continue;
            }
            let purchase = purchases
                .entry(ids.value(row).to_owned())
                .or_insert_with(|| Purchase {
                    id: ids.value(row).to_owned(),
                    client_id: (!clients.is_null(row)).then(|| clients.value(row).to_owned()),
                    time: times.value(row),
                    tickets: Vec::new(),
                });
            if let Some((ticket_id, created_at)) = ticket {
                let mode = if modes.is_null(row) {
                    "unknown"
                } else {
                    modes.value(row)
                };
                purchase
                    .tickets
                    .push((ticket_id, created_at, mode.to_owned()));
            }
        }
    }

    // Weak pass: leftover tickets to leftover purchases, one to one in time order.
    let mut open: Vec<&mut Purchase> = purchases
        .values_mut()
        .filter(|p| p.tickets.is_empty())
        .collect();
    open.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let mut queue: VecDeque<&mut Purchase> = open.into_iter().collect();
    orphans.sort();
    orphans.sort_by_key(|&(id, created)| (created, id));
    let window_micros = options.window_seconds * 1_000_000;
    let mut still_orphan = Vec::new();
    for (ticket_id, created_at) in orphans {
        while queue
            .front()
            .is_some_and(|p| p.time + window_micros < created_at)
        {
            queue.pop_front(); // too old for this ticket, so for every later one too
        }
        match queue.pop_front() {
            Some(purchase) if purchase.time <= created_at => {
                purchase
                    .tickets
                    .push((ticket_id, created_at, "time_order".to_owned()));
            }
            // A ticket older than every open purchase explains none of them.
            Some(purchase) => {
                queue.push_front(purchase);
                still_orphan.push((ticket_id, created_at));
            }
            None => still_orphan.push((ticket_id, created_at)),
        }
    }

    let mut summary = ReconcileSummary::default();
    let mut rows = Vec::new();
    let mut lags = Vec::new();
    let mut ordered: Vec<&Purchase> = purchases.values().collect();
    ordered.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    for purchase in ordered {
        summary.purchases += 1;
        let mut tickets = purchase.tickets.clone();
        tickets.sort_by_key(|&(id, created, _)| (created, id));
        tickets.dedup_by_key(|ticket| ticket.0);
        summary.tickets += tickets.len() as u64;
        let first = tickets.first();
        let lag = first.map(|(_, created, _)| (created - purchase.time) / 1_000_000);
        let class = match (tickets.len(), lag) {
            (0, _) => "missing_ticket",
            (1, Some(lag)) if lag > options.sla_seconds => "late_ticket",
            (1, _) => "matched",
            _ => "duplicate_ticket",
        };
        match class {
            "missing_ticket" => summary.missing_ticket += 1,
            "late_ticket" => summary.late_ticket += 1,
            "matched" => summary.matched += 1,
            _ => summary.duplicate_ticket += 1,
        }
        if let Some((_, _, mode)) = first {
            *summary.by_match_mode.entry(mode.clone()).or_default() += 1;
        }
        lags.extend(lag);
        rows.push(Row {
            class,
            purchase_id: Some(purchase.id.clone()),
            client_id: purchase.client_id.clone(),
            purchase_time: Some(purchase.time),
            ticket_id: first.map(|ticket| ticket.0),
            ticket_created_at: first.map(|ticket| ticket.1),
            tickets: tickets.len() as i64,
            match_mode: first.map(|ticket| ticket.2.clone()),
            lag_seconds: lag,
        });
    }
    for (ticket_id, created_at) in still_orphan {
        summary.orphan_ticket += 1;
        summary.tickets += 1;
        rows.push(Row {
            class: "orphan_ticket",
            purchase_id: None,
            client_id: None,
            purchase_time: None,
            ticket_id: Some(ticket_id),
            ticket_created_at: Some(created_at),
            tickets: 0,
            match_mode: None,
            lag_seconds: None,
        });
    }
    lags.sort_unstable();
    let percentile = |p: f64| -> Option<i64> {
        // Nearest rank.
        let rank = ((p * lags.len() as f64).ceil() as usize).max(1);
        lags.get(rank - 1).copied()
    };
    summary.time_to_ticket_seconds_p50 = percentile(0.50);
    summary.time_to_ticket_seconds_p90 = percentile(0.90);
    summary.time_to_ticket_seconds_p99 = percentile(0.99);
    Ok((summary, rows))
}

pub fn rows_schema() -> SchemaRef {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    let timestamp = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        )
    };
    Arc::new(Schema::new(vec![
        utf8("class"),
        utf8("purchase_id"),
        utf8("client_id"),
        timestamp("purchase_time"),
        Field::new("ticket_id", DataType::Int64, true),
        timestamp("ticket_created_at"),
        Field::new("tickets", DataType::Int64, false),
        utf8("match_mode"),
        Field::new("lag_seconds", DataType::Int64, true),
    ]))
}

pub fn rows_batch(rows: &[Row]) -> Result<RecordBatch> {
    let mut class = StringBuilder::new();
    let mut purchase = StringBuilder::new();
    let mut client = StringBuilder::new();
    let mut purchase_time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut ticket = Int64Builder::new();
    let mut created = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut tickets = Int64Builder::new();
    let mut mode = StringBuilder::new();
    let mut lag = Int64Builder::new();
    for row in rows {
        class.append_value(row.class);
        purchase.append_option(row.purchase_id.as_deref());
        client.append_option(row.client_id.as_deref());
        purchase_time.append_option(row.purchase_time);
        ticket.append_option(row.ticket_id);
        created.append_option(row.ticket_created_at);
        tickets.append_value(row.tickets);
        mode.append_option(row.match_mode.as_deref());
        lag.append_option(row.lag_seconds);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(class.finish()),
        Arc::new(purchase.finish()),
        Arc::new(client.finish()),
        Arc::new(purchase_time.finish()),
        Arc::new(ticket.finish()),
        Arc::new(created.finish()),
        Arc::new(tickets.finish()),
        Arc::new(mode.finish()),
        Arc::new(lag.finish()),
    ];
    Ok(RecordBatch::try_new(rows_schema(), columns)?)
}
