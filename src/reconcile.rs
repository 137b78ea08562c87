//! `reconcile`: each loyalty purchase against the Zendesk ticket it should have opened.
//!
//! ```text
//! queries/reconcile/candidates.sql (SQL an analyst can read and override)
//!   ├─ purchase + the ticket naming its event id ──────────── event_id ──────┐
//!   ├─ purchase + a ticket naming its client, in the window ─ client_window ─┤
//!   ├─ purchase without a ticket ───┐                                        ├─► a class per purchase
//!   ├─ ticket carrying no reference ┴─ here: one to one in time order ───────┤
//!   │                                  (a weak match, said so: time_order)   │
//!   └─ ticket whose reference named no purchase ──────────── none ───────────┴─► orphan_ticket
//! ```
//!
//! What it promises: each purchase in the window is one row with one class; each ticket is
//! counted once, under how it was matched (`matched_by`); a ticket that carries a reference (an
//! event or client id) is never paired by time, so a ticket naming nothing in the window shows
//! as an orphan instead of hiding a purchase's missing ticket.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, PrimitiveArray, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::query::LakeSession;

/// `matched_by` of a ticket paired here, by time order alone.
pub const TIME_ORDER: &str = "time_order";
/// `matched_by` of an orphan ticket, and of a purchase without a ticket.
pub const NONE: &str = "none";

/// The candidates query's columns, read by name: an override may order them as it likes and
/// return others besides.
const CANDIDATE_COLUMNS: [&str; 7] = [
    "purchase_id",
    "client_id",
    "purchase_time",
    "ticket_id",
    "ticket_created_at",
    "matched_by",
    "ticket_has_reference",
];

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
    /// Distinct tickets: paired with a purchase, or orphans.
    pub tickets: u64,
    pub matched: u64,
    pub missing_ticket: u64,
    pub orphan_ticket: u64,
    pub duplicate_ticket: u64,
    pub late_ticket: u64,
    /// Tickets by how they were matched: event_id, client_window, time_order (weak), or none
    /// (orphans). The counts add up to `tickets`.
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
    /// How the row's (first) ticket was matched: event_id, client_window, time_order, or none.
    pub matched_by: String,
    pub lag_seconds: Option<i64>,
}

/// A purchase in the window and the tickets paired with it.
#[derive(Debug)]
struct Purchase {
    id: String,
    client_id: Option<String>,
    time: i64,
    tickets: Vec<PairedTicket>,
}

#[derive(Debug)]
struct PairedTicket {
    id: i64,
    created_at: i64,
    matched_by: String,
}

/// A ticket the candidates query paired with no purchase.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LeftoverTicket {
    id: i64,
    created_at: i64,
    has_reference: bool,
}

/// What the candidates query returned, gathered.
#[derive(Debug, Default)]
struct Candidates {
    purchases: HashMap<String, Purchase>,
    leftovers: Vec<LeftoverTicket>,
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
    let columns = CandidateColumns::find(&stream.schema())?;
    let mut candidates = Candidates::default();
    while let Some(batch) = stream.next().await {
        columns.read(&batch?, &mut candidates)?;
    }
    Ok(settle(candidates, options))
}

/// Where each of [`CANDIDATE_COLUMNS`] is in the query's result.
struct CandidateColumns {
    purchase_id: usize,
    client_id: usize,
    purchase_time: usize,
    ticket_id: usize,
    ticket_created_at: usize,
    matched_by: usize,
    ticket_has_reference: usize,
}

impl CandidateColumns {
    fn find(schema: &Schema) -> Result<Self> {
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| {
                let returned: Vec<&str> = schema
                    .fields()
                    .iter()
                    .map(|field| field.name().as_str())
                    .collect();
                Error::Column {
                    query: "reconcile/candidates",
                    column: name.to_owned(),
                    reason: format!(
                        "is missing: the query returns {}; reconcile reads {}",
                        returned.join(", "),
                        CANDIDATE_COLUMNS.join(", ")
                    ),
                }
            })
        };
        Ok(Self {
            purchase_id: index("purchase_id")?,
            client_id: index("client_id")?,
            purchase_time: index("purchase_time")?,
            ticket_id: index("ticket_id")?,
            ticket_created_at: index("ticket_created_at")?,
            matched_by: index("matched_by")?,
            ticket_has_reference: index("ticket_has_reference")?,
        })
    }

    fn read(&self, batch: &RecordBatch, candidates: &mut Candidates) -> Result<()> {
        let utc_micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let purchase_ids = Column::cast(batch, "purchase_id", self.purchase_id, &DataType::Utf8)?;
        let client_ids = Column::cast(batch, "client_id", self.client_id, &DataType::Utf8)?;
        let purchase_times = Column::cast(batch, "purchase_time", self.purchase_time, &utc_micros)?;
        let ticket_ids = Column::cast(batch, "ticket_id", self.ticket_id, &DataType::Int64)?;
        let created = Column::cast(
            batch,
            "ticket_created_at",
            self.ticket_created_at,
            &utc_micros,
        )?;
        let matched_by = Column::cast(batch, "matched_by", self.matched_by, &DataType::Utf8)?;
        let references = Column::cast(
            batch,
            "ticket_has_reference",
            self.ticket_has_reference,
            &DataType::Boolean,
        )?;
        let (purchase_ids, client_ids, matched_by) = (
            purchase_ids.strings()?,
            client_ids.strings()?,
            matched_by.strings()?,
        );
        let (purchase_times, created) = (purchase_times.times()?, created.times()?);
        let ticket_ids = ticket_ids.integers()?;
        let references = references.booleans()?;
        for row in 0..batch.num_rows() {
            let ticket = (ticket_ids.is_valid(row) && created.is_valid(row))
                .then(|| (ticket_ids.value(row), created.value(row)));
            if purchase_ids.is_null(row) {
                if let Some((id, created_at)) = ticket {
                    candidates.leftovers.push(LeftoverTicket {
                        id,
                        created_at,
                        has_reference: references.is_valid(row) && references.value(row),
                    });
                }
                continue;
            }
            let id = purchase_ids.value(row);
            if purchase_times.is_null(row) {
                return Err(Error::Column {
                    query: "reconcile/candidates",
                    column: "purchase_time".into(),
                    reason: format!("is null for purchase {id}"),
                });
            }
            let purchase = candidates
                .purchases
                .entry(id.to_owned())
                .or_insert_with(|| Purchase {
                    id: id.to_owned(),
                    client_id: client_ids
                        .is_valid(row)
                        .then(|| client_ids.value(row).to_owned()),
                    time: purchase_times.value(row),
                    tickets: Vec::new(),
                });
            if let Some((ticket_id, created_at)) = ticket {
                let mode = if matched_by.is_valid(row) {
                    matched_by.value(row)
                } else {
                    "unknown"
                };
                purchase.tickets.push(PairedTicket {
                    id: ticket_id,
                    created_at,
                    matched_by: mode.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// One candidates column cast to the type reconcile reads it as; errors name the column.
struct Column {
    name: &'static str,
    array: ArrayRef,
}

impl Column {
    fn cast(batch: &RecordBatch, name: &'static str, index: usize, to: &DataType) -> Result<Self> {
        let column = batch.columns().get(index).ok_or_else(|| Error::Column {
            query: "reconcile/candidates",
            column: name.to_owned(),
            reason: "is missing from a batch of the query's result".into(),
        })?;
        // Not `safe`: a value that does not convert is an error, not a null that loses a ticket.
        let strict = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let array = arrow::compute::cast_with_options(column, to, &strict).map_err(|source| {
            Error::Column {
                query: "reconcile/candidates",
                column: name.to_owned(),
                reason: format!("cannot be read as {to}: {source}"),
            }
        })?;
        Ok(Self { name, array })
    }

    fn mistyped(&self) -> Error {
        Error::Column {
            query: "reconcile/candidates",
            column: self.name.to_owned(),
            reason: format!("was cast to {} yet is not one", self.array.data_type()),
        }
    }

    fn strings(&self) -> Result<&StringArray> {
        self.array.as_string_opt().ok_or_else(|| self.mistyped())
    }

    fn times(&self) -> Result<&PrimitiveArray<TimestampMicrosecondType>> {
        self.array.as_primitive_opt().ok_or_else(|| self.mistyped())
    }

    fn integers(&self) -> Result<&PrimitiveArray<Int64Type>> {
        self.array.as_primitive_opt().ok_or_else(|| self.mistyped())
    }

    fn booleans(&self) -> Result<&BooleanArray> {
        self.array.as_boolean_opt().ok_or_else(|| self.mistyped())
    }
}

/// Pairs what the strong matches left, classes each purchase and counts.
fn settle(candidates: Candidates, options: &ReconcileOptions) -> (ReconcileSummary, Vec<Row>) {
    let Candidates {
        mut purchases,
        leftovers,
    } = candidates;
    let paired: HashSet<i64> = purchases
        .values()
        .flat_map(|purchase| purchase.tickets.iter().map(|ticket| ticket.id))
        .collect();
    // A ticket that carries a reference named its purchase, or nothing in the window: time
    // order is only for tickets that name nothing at all.
    let (mut orphans, mut unreferenced): (Vec<_>, Vec<_>) = leftovers
        .into_iter()
        .filter(|ticket| !paired.contains(&ticket.id))
        .partition(|ticket| ticket.has_reference);
    unreferenced.sort_by_key(|ticket| (ticket.created_at, ticket.id));
    unreferenced.dedup_by_key(|ticket| ticket.id);
    orphans.extend(pair_in_time_order(
        &mut purchases,
        unreferenced,
        options.window_seconds,
    ));
    orphans.sort_by_key(|ticket| (ticket.created_at, ticket.id));
    orphans.dedup_by_key(|ticket| ticket.id);

    let mut summary = ReconcileSummary::default();
    let mut rows = Vec::with_capacity(purchases.len() + orphans.len());
    let mut lags = Vec::new();
    let mut counted = HashSet::new();
    let mut ordered: Vec<Purchase> = purchases.into_values().collect();
    ordered.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    for mut purchase in ordered {
        summary.purchases += 1;
        purchase
            .tickets
            .sort_by_key(|ticket| (ticket.created_at, ticket.id));
        purchase.tickets.dedup_by_key(|ticket| ticket.id);
        for ticket in &purchase.tickets {
            // A ticket naming two purchases is paired with both but is one ticket.
            if counted.insert(ticket.id) {
                summary.tickets += 1;
                *summary
                    .by_match_mode
                    .entry(ticket.matched_by.clone())
                    .or_default() += 1;
            }
        }
        let first = purchase.tickets.first();
        let lag = first.map(|ticket| ticket.created_at.saturating_sub(purchase.time) / 1_000_000);
        let class = match (purchase.tickets.len(), lag) {
            (0, _) => "missing_ticket",
            (1, Some(lag)) if lag > options.sla_seconds => "late_ticket",
            (1, _) => "matched",
            _ => "duplicate_ticket",
        };
        *match class {
            "missing_ticket" => &mut summary.missing_ticket,
            "late_ticket" => &mut summary.late_ticket,
            "matched" => &mut summary.matched,
            _ => &mut summary.duplicate_ticket,
        } += 1;
        lags.extend(lag);
        rows.push(Row {
            class,
            purchase_id: Some(purchase.id),
            client_id: purchase.client_id,
            purchase_time: Some(purchase.time),
            ticket_id: first.map(|ticket| ticket.id),
            ticket_created_at: first.map(|ticket| ticket.created_at),
            tickets: purchase.tickets.len() as i64,
            matched_by: first
                .map_or(NONE, |ticket| ticket.matched_by.as_str())
                .to_owned(),
            lag_seconds: lag,
        });
    }
    for ticket in orphans {
        summary.orphan_ticket += 1;
        summary.tickets += 1;
        *summary.by_match_mode.entry(NONE.to_owned()).or_default() += 1;
        rows.push(Row {
            class: "orphan_ticket",
            purchase_id: None,
            client_id: None,
            purchase_time: None,
            ticket_id: Some(ticket.id),
            ticket_created_at: Some(ticket.created_at),
            tickets: 0,
            matched_by: NONE.to_owned(),
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
    (summary, rows)
}

/// The weak pass: tickets that carry no reference (in creation order) to purchases without a
/// ticket, one to one, each ticket to the oldest open purchase at most `window_seconds` before
/// it. Returns the tickets it could not place.
fn pair_in_time_order(
    purchases: &mut HashMap<String, Purchase>,
    unreferenced: Vec<LeftoverTicket>,
    window_seconds: i64,
) -> Vec<LeftoverTicket> {
    let mut open: Vec<&mut Purchase> = purchases
        .values_mut()
        .filter(|purchase| purchase.tickets.is_empty())
        .collect();
    open.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let mut queue: VecDeque<&mut Purchase> = open.into();
    let window_micros = window_seconds.saturating_mul(1_000_000);
    let mut unplaced = Vec::new();
    for ticket in unreferenced {
        while queue
            .front()
            .is_some_and(|purchase| purchase.time.saturating_add(window_micros) < ticket.created_at)
        {
            queue.pop_front(); // too old for this ticket, so for every later one too
        }
        match queue.pop_front() {
            Some(purchase) if purchase.time <= ticket.created_at => {
                purchase.tickets.push(PairedTicket {
                    id: ticket.id,
                    created_at: ticket.created_at,
                    matched_by: TIME_ORDER.to_owned(),
                });
            }
            // A ticket older than every open purchase explains none of them.
            Some(purchase) => {
                queue.push_front(purchase);
                unplaced.push(ticket);
            }
            None => unplaced.push(ticket),
        }
    }
    unplaced
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
        Field::new("matched_by", DataType::Utf8, false),
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
    let mut matched_by = StringBuilder::new();
    let mut lag = Int64Builder::new();
    for row in rows {
        class.append_value(row.class);
        purchase.append_option(row.purchase_id.as_deref());
        client.append_option(row.client_id.as_deref());
        purchase_time.append_option(row.purchase_time);
        ticket.append_option(row.ticket_id);
        created.append_option(row.ticket_created_at);
        tickets.append_value(row.tickets);
        matched_by.append_value(&row.matched_by);
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
        Arc::new(matched_by.finish()),
        Arc::new(lag.finish()),
    ];
    Ok(RecordBatch::try_new(rows_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn options() -> ReconcileOptions {
        ReconcileOptions {
            from_micros: 0,
            to_micros: 86_400 * SECOND,
            window_seconds: 3_600,
            sla_seconds: 900,
        }
    }

    fn purchase(id: &str, seconds: i64, tickets: &[(i64, i64, &str)]) -> (String, Purchase) {
        let tickets = tickets
            .iter()
            .map(|&(id, seconds, matched_by)| PairedTicket {
                id,
                created_at: seconds * SECOND,
                matched_by: matched_by.to_owned(),
            })
            .collect();
        (
            id.to_owned(),
            Purchase {
                id: id.to_owned(),
                client_id: None,
                time: seconds * SECOND,
                tickets,
            },
        )
    }

    fn leftover(id: i64, seconds: i64, has_reference: bool) -> LeftoverTicket {
        LeftoverTicket {
            id,
            created_at: seconds * SECOND,
            has_reference,
        }
    }

    fn class_of<'a>(rows: &'a [Row], purchase_id: &str) -> (&'a str, &'a str) {
        rows.iter()
            .find(|row| row.purchase_id.as_deref() == Some(purchase_id))
            .map(|row| (row.class, row.matched_by.as_str()))
            .unwrap_or(("absent", "absent"))
    }

    #[test]
    fn a_ticket_with_a_reference_that_names_nothing_is_an_orphan_never_paired_by_time() {
        // Purchase a has no ticket; ticket 7 comes two minutes later naming an unknown event,
        // ticket 8 a minute after purchase b naming nothing at all.
        let candidates = Candidates {
            purchases: HashMap::from([purchase("a", 1_000, &[]), purchase("b", 5_000, &[])]),
            leftovers: vec![leftover(7, 1_120, true), leftover(8, 5_060, false)],
        };
        let (summary, rows) = settle(candidates, &options());
        assert_eq!(class_of(&rows, "a"), ("missing_ticket", NONE));
        assert_eq!(class_of(&rows, "b"), ("matched", TIME_ORDER));
        assert_eq!(
            (
                summary.missing_ticket,
                summary.matched,
                summary.orphan_ticket
            ),
            (1, 1, 1)
        );
        let orphan = rows.iter().find(|row| row.class == "orphan_ticket");
        assert_eq!(orphan.and_then(|row| row.ticket_id), Some(7));
        assert_eq!(orphan.map(|row| row.matched_by.as_str()), Some(NONE));
        assert_eq!(
            summary.by_match_mode,
            BTreeMap::from([(NONE.to_owned(), 1), (TIME_ORDER.to_owned(), 1)])
        );
    }

    #[test]
    fn orphan_rows_come_in_creation_order_and_every_ticket_is_counted_once() {
        // Ticket 5 names both purchases (two event ids); orphans arrive out of order.
        let candidates = Candidates {
            purchases: HashMap::from([
                purchase("a", 1_000, &[(5, 1_100, "event_id")]),
                purchase("b", 2_000, &[(5, 1_100, "event_id")]),
            ]),
            leftovers: vec![
                leftover(30, 9_000, true),
                leftover(10, 9_000, true),
                leftover(20, 8_000, true),
                leftover(10, 9_000, true),
            ],
        };
        let (summary, rows) = settle(candidates, &options());
        let orphans: Vec<Option<i64>> = rows
            .iter()
            .filter(|row| row.class == "orphan_ticket")
            .map(|row| row.ticket_id)
            .collect();
        assert_eq!(orphans, [Some(20), Some(10), Some(30)]);
        assert_eq!(summary.tickets, 4);
        assert_eq!(summary.by_match_mode.values().sum::<u64>(), summary.tickets);
    }

    #[test]
    fn time_order_skips_purchases_older_than_the_window_and_leaves_tickets_before_any() {
        let candidates = Candidates {
            purchases: HashMap::from([purchase("old", 0, &[]), purchase("new", 10_000, &[])]),
            // Ticket 1 is more than an hour after `old` and before `new`: it explains neither.
            leftovers: vec![leftover(1, 4_000, false), leftover(2, 10_030, false)],
        };
        let (summary, rows) = settle(candidates, &options());
        assert_eq!(class_of(&rows, "old"), ("missing_ticket", NONE));
        assert_eq!(class_of(&rows, "new"), ("matched", TIME_ORDER));
        assert_eq!(summary.orphan_ticket, 1);
    }
}
