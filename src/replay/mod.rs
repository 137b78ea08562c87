//! `replay`: events chosen with SQL go back into EventBridge (or into PutEvents files), once.
//!
//! ```text
//!  SQL over events ─▶ minus what this replay name already sent ─▶ entry (undo transform, mark)
//!    ─▶ batches (10 entries, size limit) ─▶ rounds of `concurrency` batches:
//!         journal intent ─▶ PutEvents (retry InternalFailure/Throttling alone) ─▶ journal ack
//! ```

pub mod entry;
pub mod journal;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, TimestampMicrosecondType};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::query::{AsOf, LakeSession};
use crate::table::Lake;
use entry::{Batcher, Entry, EntryFormat, StoredEvent};
use journal::{Journal, Outcome, ReplayState, Status};

/// Rounds between folds of the journal into the `replays` table.
const FOLD_EVERY_ROUNDS: i64 = 500;
/// Tries a PutEvents entry gets when it fails with a retryable code.
const MAX_ATTEMPTS: u32 = crate::retry::Backoff::API.tries;

/// Which events to replay.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A predicate over `events` columns.
    Where(String),
    /// A query (a saved one, or a file) whose `id` column names the events.
    Query(String),
}

/// Where the entries go.
pub enum Target {
    /// One JSON array of entries per request, for `aws events put-events --entries file://…`.
    Files {
        dir: PathBuf,
        event_bus: Option<String>,
    },
    EventBus {
        name: String,
        client: aws_sdk_eventbridge::Client,
    },
}

pub struct ReplayOptions {
    pub name: String,
    pub selection: Selection,
    pub params: HashMap<String, ScalarValue>,
    pub format: EntryFormat,
    pub max_request_bytes: usize,
    /// Events a second at most.
    pub rate: Option<f64>,
    pub concurrency: usize,
    pub dry_run: bool,
    pub resend_in_doubt: bool,
    pub as_of: Option<AsOf>,
}

/// Per event type, what went (or would go).
#[derive(Debug, Default, Clone, Serialize)]
pub struct TypeCounts {
    pub events: u64,
    pub bytes: u64,
}

/// What a replay did; `--json` prints it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReplaySummary {
    pub replay_name: String,
    pub dry_run: bool,
    /// Events the selection matched.
    pub selected: u64,
    pub sent: u64,
    pub failed: u64,
    /// Events larger than a request may be: reported, never sent.
    pub too_large: u64,
    pub skipped_already_sent: u64,
    /// Events an interrupted run may or may not have sent (see `--resend-in-doubt`).
    pub skipped_in_doubt: u64,
    /// Events of this run the PutEvents reply did not answer for: EventBridge may have them, and
    /// a rerun skips them unless `--resend-in-doubt`.
    pub in_doubt: u64,
    pub loyalty_purchases: u64,
    pub batches: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub by_event_type: BTreeMap<String, TypeCounts>,
    /// Error code → events that failed with it.
    pub failures: BTreeMap<String, u64>,
    /// The first few failed, too-large or in-doubt event ids, with why.
    pub failed_examples: Vec<(String, String)>,
}

/// Observes a replay as it goes (a progress bar).
pub trait ReplayProgress: Send + Sync {
    /// Before anything is sent: what the selection holds.
    fn planned(&self, _events: u64, _loyalty_purchases: u64) {}
    fn done(&self, _events: u64) {}
}

struct NoProgress;
impl ReplayProgress for NoProgress {}

const COLUMNS: &str = "id, source, detail_type, time, resources, event_type, detail";

/// Whether planning failed because the selection has no `id` column.
fn lacks_id(error: &datafusion::error::DataFusionError) -> bool {
    use datafusion::common::SchemaError;
    use datafusion::error::DataFusionError;
    match error.find_root() {
        DataFusionError::SchemaError(error, _) => {
            matches!(error.as_ref(), SchemaError::FieldNotFound { field, .. } if field.name == "id")
        }
        _ => false,
    }
}

/// The SQL of a selection over `events`, unordered: the count before sending needs no sort,
/// and the send orders it by time.
pub fn selection_sql(selection: &Selection) -> String {
    match selection {
        Selection::Where(predicate) => format!("SELECT {COLUMNS} FROM events WHERE ({predicate})"),
        Selection::Query(sql) => {
            let sql = sql.trim().trim_end_matches(';');
            // A join, not `IN (subquery)`: DataFusion cannot plan the latter with parameters.
            format!(
                "SELECT {} FROM events AS e JOIN (SELECT DISTINCT id AS picked_id FROM ({sql}) AS selection) AS picked \
                 ON e.id = picked.picked_id",
                COLUMNS.split(", ").map(|column| format!("e.{column}")).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

pub async fn replay(
    lake: &Lake,
    options: &ReplayOptions,
    target: Option<&Target>,
    progress: Option<&dyn ReplayProgress>,
) -> Result<ReplaySummary> {
    let progress = progress.unwrap_or(&NoProgress);
    let started = Instant::now();
    let session = LakeSession::open(lake, options.as_of.as_ref()).await?;
    if !session.tables().iter().any(|table| table == "events") {
        return Err(Error::InvalidArgument(format!(
            "{} has no events table: compact into it first",
            lake.root()
        )));
    }
    let sql = selection_sql(&options.selection);
    let mut summary = ReplaySummary {
        replay_name: options.name.clone(),
        dry_run: options.dry_run,
        ..ReplaySummary::default()
    };

    // Count first: the progress bar's total, and the loyalty warning before anything goes.
    let counted = session
        .sql(
            &format!("SELECT count(*), count(*) FILTER (WHERE event_type = 'loyaltypurchase') FROM ({sql}) AS picked"),
            options.params.clone(),
        )
        .await
        .map_err(|error| match (&options.selection, error) {
            (Selection::Query(_), Error::DataFusion(error)) if lacks_id(&error) => Error::Column {
                query: "the replay selection",
                column: "id".into(),
                reason: format!(
                    "is missing: a replay selection must return an `id` column naming the events to send ({error})"
                ),
            },
            (_, error) => error,
        })?
        .collect()
        .await?;
    if let Some(batch) = counted.first() {
        let ints = |column: usize| {
            batch
                .column(column)
                .as_primitive_opt::<arrow::datatypes::Int64Type>()
                .filter(|array| !array.is_empty() && array.is_valid(0))
                .map_or(0, |array| array.value(0) as u64)
        };
        summary.selected = ints(0);
        summary.loyalty_purchases = ints(1);
    }
    progress.planned(summary.selected, summary.loyalty_purchases);

    journal::check_name(&options.name)?;
    let (mut journal, state) = match (options.dry_run, target) {
        (false, Some(_)) => {
            let (journal, state) = Journal::open(lake, &options.name).await?;
            (Some(journal), state)
        }
        _ => (None, ReplayState::default()),
    };
    let mut sender = Sender {
        target: if options.dry_run { None } else { target },
        limiter: RateLimiter::new(options.rate),
        journal: journal.as_mut(),
        summary: &mut summary,
        rounds_since_fold: 0,
    };

    let ordered = format!("SELECT * FROM ({sql}) AS picked ORDER BY time, id");
    let mut stream = session
        .sql(&ordered, options.params.clone())
        .await?
        .execute_stream()
        .await?;
    let mut batcher = Batcher::new(options.max_request_bytes);
    let mut round: Vec<Vec<Entry>> = Vec::with_capacity(options.concurrency);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        for entry in entries_of(
            &batch,
            &options.format,
            &state,
            options.resend_in_doubt,
            sender.summary,
        )? {
            if !batcher.fits(&entry) {
                sender.summary.too_large += 1;
                note_failure(
                    sender.summary,
                    &entry.event_id,
                    &format!(
                        "{} bytes, over the {}-byte request limit",
                        entry.size(),
                        options.max_request_bytes
                    ),
                );
                continue;
            }
            if let Some(closed) = batcher.push(entry) {
                round.push(closed);
                if round.len() >= options.concurrency.max(1) {
                    sender
                        .send_round(std::mem::take(&mut round), progress)
                        .await?;
                }
            }
        }
    }
    if let Some(last) = batcher.finish() {
        round.push(last);
    }
    if !round.is_empty() {
        sender.send_round(round, progress).await?;
    }
    if let Some(journal) = journal.as_mut() {
        journal.fold().await?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let moved = if options.dry_run {
        summary
            .by_event_type
            .values()
            .map(|counts| counts.events)
            .sum::<u64>()
    } else {
        summary.sent
    };
    summary.events_per_second = if summary.seconds > 0.0 {
        moved as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

fn note_failure(summary: &mut ReplaySummary, event_id: &str, why: &str) {
    if summary.failed_examples.len() < 20 {
        summary
            .failed_examples
            .push((event_id.to_owned(), why.to_owned()));
    }
}

/// The entries of one batch of selected rows, minus those this replay already settled.
fn entries_of(
    batch: &RecordBatch,
    format: &EntryFormat,
    state: &ReplayState,
    resend_in_doubt: bool,
    summary: &mut ReplaySummary,
) -> Result<Vec<Entry>> {
    // Delta scans may give view or dictionary strings: one cast to plain UTF-8 per column.
    let utf8 = |index: usize, to: &DataType| -> Result<ArrayRef> {
        Ok(arrow::compute::cast(batch.column(index), to)?)
    };
    let list_of_utf8 = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
    let columns = [
        utf8(0, &DataType::Utf8)?,
        utf8(1, &DataType::Utf8)?,
        utf8(2, &DataType::Utf8)?,
        utf8(5, &DataType::Utf8)?,
        utf8(6, &DataType::Utf8)?,
    ];
    let resources = utf8(4, &list_of_utf8)?;
    let resources = resources.as_list_opt::<i32>();
    let text = |index: usize| {
        columns[index]
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::Column {
                query: "the replay selection",
                column: index.to_string(),
                reason: "is not text".into(),
            })
    };
    let (ids, sources, detail_types, event_types, details) =
        (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
    let times = batch
        .column(3)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| Error::Column {
            query: "the replay selection",
            column: "time".into(),
            reason: "is not a timestamp".into(),
        })?;
    let mut entries = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let id = ids.value(row);
        match state.status(id) {
            Some(Status::Sent) => {
                summary.skipped_already_sent += 1;
                continue;
            }
            Some(Status::InDoubt) if !resend_in_doubt => {
                summary.skipped_in_doubt += 1;
                continue;
            }
            _ => {}
        }
        let row_resources = match resources {
            Some(lists) if !lists.is_null(row) => {
                let values = lists.value(row);
                let values = values.as_string::<i32>();
                values.iter().flatten().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        let stored = StoredEvent {
            id,
            source: sources.value(row),
            detail_type: detail_types.value(row),
            time_micros: times.value(row),
            resources: row_resources,
            event_type: (!event_types.is_null(row)).then(|| event_types.value(row)),
            detail: details.value(row),
        };
        match format.entry(stored) {
            Ok(entry) => entries.push(entry),
            Err(reason) => {
                summary.failed += 1;
                *summary.failures.entry("unformattable".into()).or_default() += 1;
                note_failure(summary, id, &reason);
            }
        }
    }
    Ok(entries)
}

struct Sender<'a> {
    target: Option<&'a Target>,
    limiter: RateLimiter,
    journal: Option<&'a mut Journal>,
    summary: &'a mut ReplaySummary,
    rounds_since_fold: i64,
}

impl Sender<'_> {
    async fn send_round(
        &mut self,
        batches: Vec<Vec<Entry>>,
        progress: &dyn ReplayProgress,
    ) -> Result<()> {
        for batch in &batches {
            self.summary.batches += 1;
            for entry in batch {
                let size = entry.size() as u64;
                self.summary.bytes += size;
                let counts = self
                    .summary
                    .by_event_type
                    .entry(entry.event_type.clone().unwrap_or_default())
                    .or_default();
                counts.events += 1;
                counts.bytes += size;
            }
        }
        let (Some(target), Some(journal)) = (self.target, self.journal.as_deref_mut()) else {
            progress.done(batches.iter().map(|batch| batch.len() as u64).sum());
            return Ok(()); // a dry run
        };
        let ids = batches
            .iter()
            .flatten()
            .map(|entry| entry.event_id.clone())
            .collect();
        let round = journal.intent(ids).await?;
        let events: usize = batches.iter().map(Vec::len).sum();
        self.limiter.wait(events).await;
        let sends = batches
            .iter()
            .enumerate()
            .map(|(index, batch)| send_batch(target, round, index, batch));
        let mut outcomes = Vec::with_capacity(events);
        let mut first_error = None;
        // The slowest first reply of the round's throttled requests.
        let mut throttled_after: Option<Duration> = None;
        for result in futures::future::join_all(sends).await {
            match result {
                Ok((batch_outcomes, throttled)) => {
                    if let Some(reply) = throttled {
                        throttled_after = Some(throttled_after.map_or(reply, |t| t.max(reply)));
                    }
                    outcomes.extend(batch_outcomes);
                }
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        // Once a round, however many of its requests were throttled: the batches went at once,
        // so each throttle is the same excess, not another halving.
        if let Some(reply) = throttled_after {
            self.limiter.slow_down(events, reply);
        }
        if let Some(error) = first_error {
            // The round's intent stays without an ack: its ids are in doubt on the next run.
            return Err(error);
        }
        for outcome in &outcomes {
            match outcome.status {
                Status::Sent => self.summary.sent += 1,
                Status::InDoubt => {
                    self.summary.in_doubt += 1;
                    note_failure(
                        self.summary,
                        &outcome.event_id,
                        "no answer from PutEvents: EventBridge may have it (in doubt)",
                    );
                }
                Status::Failed => {
                    self.summary.failed += 1;
                    let code = outcome
                        .error_code
                        .clone()
                        .unwrap_or_else(|| "unknown".into());
                    note_failure(self.summary, &outcome.event_id, &code);
                    *self.summary.failures.entry(code).or_default() += 1;
                }
            }
        }
        progress.done(outcomes.len() as u64);
        journal.ack(round, outcomes).await?;
        self.rounds_since_fold += 1;
        if self.rounds_since_fold >= FOLD_EVERY_ROUNDS {
            journal.fold().await?;
            self.rounds_since_fold = 0;
        }
        Ok(())
    }
}

/// Sends one request's entries; returns each entry's outcome and whether EventBridge throttled.
async fn send_batch(
    target: &Target,
    round: i64,
    index: usize,
    entries: &[Entry],
) -> Result<(Vec<Outcome>, Option<Duration>)> {
    match target {
        Target::Files { dir, event_bus } => {
            let path = dir.join(format!("round-{round:08}-{index:02}.json"));
            let body: Vec<serde_json::Value> = entries
                .iter()
                .map(|entry| entry.to_json(event_bus.as_deref()))
                .collect();
            let text = serde_json::to_vec_pretty(&body)
                .map_err(|error| Error::InvalidArgument(error.to_string()))?;
            std::fs::write(&path, text).map_err(|source| Error::ReadObject {
                object: path.display().to_string(),
                source,
            })?;
            let outcomes = entries
                .iter()
                .map(|entry| Outcome {
                    event_id: entry.event_id.clone(),
                    status: Status::Sent,
                    error_code: None,
                    eventbridge_id: None,
                })
                .collect();
            Ok((outcomes, None))
        }
        Target::EventBus { name, client } => put_events(client, name, entries).await,
    }
}

fn retryable(code: &str) -> bool {
    matches!(code, "InternalFailure" | "ThrottlingException")
}

/// PutEvents with the failed entries retried alone (only the retryable codes), with
/// exponential backoff and jitter. With the outcomes: when EventBridge throttled, how long its
/// first reply took (the rate the batch went at, before any backoff).
async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    entries: &[Entry],
) -> Result<(Vec<Outcome>, Option<Duration>)> {
    use aws_sdk_eventbridge::error::ProvideErrorMetadata;
    use aws_sdk_eventbridge::primitives::DateTime;
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;

    let mut outcomes: Vec<Option<Outcome>> = vec![None; entries.len()];
    let mut pending: Vec<usize> = (0..entries.len()).collect();
    let mut throttled = false;
    let first_sent = Instant::now();
    let mut first_reply = None;
    let settle = |outcomes: &mut Vec<Option<Outcome>>,
                  index: usize,
                  status,
                  code: Option<&str>,
                  id: Option<&str>| {
        outcomes[index] = Some(Outcome {
            event_id: entries[index].event_id.clone(),
            status,
            error_code: code.map(str::to_owned),
            eventbridge_id: id.map(str::to_owned),
        });
    };
    for attempt in 0..MAX_ATTEMPTS {
        let last = attempt + 1 == MAX_ATTEMPTS;
        let request: Vec<PutEventsRequestEntry> = pending
            .iter()
            .map(|&index| {
                let entry = &entries[index];
                let seconds = chrono::DateTime::parse_from_rfc3339(&entry.time)
                    .map_or(0, |time| time.timestamp());
                PutEventsRequestEntry::builder()
                    .time(DateTime::from_secs(seconds))
                    .source(&entry.source)
                    .detail_type(&entry.detail_type)
                    .detail(&entry.detail)
                    .set_resources(Some(entry.resources.clone()))
                    .event_bus_name(bus)
                    .build()
            })
            .collect();
        let mut retry = Vec::new();
        let reply = client.put_events().set_entries(Some(request)).send().await;
        first_reply.get_or_insert_with(|| first_sent.elapsed());
        match reply {
            Ok(output) => {
                for (&index, verdict) in
                    pending
                        .iter()
                        .zip(read_reply(output.entries(), pending.len(), last))
                {
                    match verdict {
                        Verdict::Settled {
                            status,
                            error_code,
                            eventbridge_id,
                        } => settle(
                            &mut outcomes,
                            index,
                            status,
                            error_code.as_deref(),
                            eventbridge_id.as_deref(),
                        ),
                        Verdict::Retry {
                            throttled: by_throttling,
                        } => {
                            throttled |= by_throttling;
                            retry.push(index);
                        }
                    }
                }
            }
            Err(error) => {
                let code = error.code().map(str::to_owned);
                match code.as_deref() {
                    Some(
                        code @ ("ThrottlingException" | "InternalException" | "InternalFailure"),
                    ) if !last => {
                        throttled |= code == "ThrottlingException";
                        retry = pending.clone();
                    }
                    Some(code) if error.as_service_error().is_some() => {
                        for &index in &pending {
                            settle(&mut outcomes, index, Status::Failed, Some(code), None);
                        }
                    }
                    _ => {
                        return Err(Error::EventBridge {
                            source: Box::new(error),
                        })
                    }
                }
            }
        }
        if retry.is_empty() {
            break;
        }
        pending = retry;
        tokio::time::sleep(crate::retry::Backoff::API.delay(attempt + 1)).await;
    }
    // Every entry gets an outcome: one left out of the ack would count as never sent.
    let outcomes = outcomes
        .into_iter()
        .zip(entries)
        .map(|(outcome, entry)| {
            outcome.unwrap_or_else(|| Outcome {
                event_id: entry.event_id.clone(),
                status: Status::InDoubt,
                error_code: Some(NO_ANSWER.to_owned()),
                eventbridge_id: None,
            })
        })
        .collect();
    Ok((outcomes, throttled.then(|| first_reply.unwrap_or_default())))
}

/// The error code an entry gets when the PutEvents reply does not answer for it.
pub const NO_ANSWER: &str = "NoAnswer";

/// What one PutEvents reply says of one entry sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Settled {
        status: Status,
        error_code: Option<String>,
        eventbridge_id: Option<String>,
    },
    Retry {
        throttled: bool,
    },
}

/// One verdict per entry sent, from the reply's `Entries`. PutEvents answers each entry at its
/// position, with an `EventId` when it was taken and an `ErrorCode` when not
/// (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>). A reply
/// with more or fewer entries than were sent cannot be matched to them: every entry is then in
/// doubt, as one without an id or a code is. In doubt is what the journal says of a request cut
/// off mid-flight: EventBridge may have the event, so a rerun does not resend it unless told to.
fn read_reply(
    results: &[aws_sdk_eventbridge::types::PutEventsResultEntry],
    sent: usize,
    last_attempt: bool,
) -> Vec<Verdict> {
    let no_answer = || Verdict::Settled {
        status: Status::InDoubt,
        error_code: Some(NO_ANSWER.to_owned()),
        eventbridge_id: None,
    };
    if results.len() != sent {
        tracing::warn!(
            sent,
            answered = results.len(),
            "a PutEvents reply does not answer each entry; the entries are in doubt"
        );
        return vec![no_answer(); sent];
    }
    results
        .iter()
        .map(|result| match (result.error_code(), result.event_id()) {
            (Some(code), _) if retryable(code) && !last_attempt => Verdict::Retry {
                throttled: code == "ThrottlingException",
            },
            (Some(code), _) => Verdict::Settled {
                status: Status::Failed,
                error_code: Some(code.to_owned()),
                eventbridge_id: None,
            },
            (None, Some(id)) => Verdict::Settled {
                status: Status::Sent,
                error_code: None,
                eventbridge_id: Some(id.to_owned()),
            },
            (None, None) => no_answer(),
        })
        .collect()
}

/// The slowest throttling makes a replay go: one full PutEvents request a second.
const MIN_RATE: f64 = 10.0;

/// Spaces sends so no more than `rate` events a second go; throttling halves the rate.
struct RateLimiter {
    rate: Option<f64>,
    started: Instant,
    granted: f64,
}

impl RateLimiter {
    fn new(rate: Option<f64>) -> Self {
        Self {
            rate: rate.filter(|rate| *rate > 0.0),
            started: Instant::now(),
            granted: 0.0,
        }
    }

    async fn wait(&mut self, events: usize) {
        if self.granted == 0.0 {
            // The clock starts at the first send, so the rate measured before a throttle is
            // the sending rate, not one diluted by the time the selection took.
            self.started = Instant::now();
        }
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.granted / rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        self.granted += events as f64;
    }

    /// A round of `events` was throttled; its requests' first replies took `reply`. Without a
    /// set rate, the rate it went at is `events / reply` (retries' backoff is not sending).
    fn slow_down(&mut self, events: usize, reply: Duration) {
        let sending = events as f64 / reply.as_secs_f64().max(0.001);
        let current = self.rate.unwrap_or(sending);
        // Never below one full request a second.
        let slower = (current / 2.0).max(MIN_RATE);
        tracing::warn!("EventBridge is throttling: slowing to {slower:.0} events/s");
        // Restart the schedule at the new rate from now.
        self.rate = Some(slower);
        self.started = Instant::now();
        self.granted = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    fn taken(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    fn refused(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("no")
            .build()
    }

    fn in_doubt() -> Verdict {
        Verdict::Settled {
            status: Status::InDoubt,
            error_code: Some(NO_ANSWER.to_owned()),
            eventbridge_id: None,
        }
    }

    #[test]
    fn a_reply_answering_each_entry_settles_or_retries_each() {
        let verdicts = read_reply(
            &[
                taken("eb-1"),
                refused("ThrottlingException"),
                refused("MalformedDetail"),
                PutEventsResultEntry::builder().build(),
            ],
            4,
            false,
        );
        assert_eq!(
            verdicts,
            vec![
                Verdict::Settled {
                    status: Status::Sent,
                    error_code: None,
                    eventbridge_id: Some("eb-1".into())
                },
                Verdict::Retry { throttled: true },
                Verdict::Settled {
                    status: Status::Failed,
                    error_code: Some("MalformedDetail".into()),
                    eventbridge_id: None
                },
                // Neither an id nor a code: no answer.
                in_doubt(),
            ]
        );
        // On the last try a retryable code is final.
        assert!(matches!(
            read_reply(&[refused("InternalFailure")], 1, true)[0],
            Verdict::Settled {
                status: Status::Failed,
                ..
            }
        ));
    }

    #[test]
    fn a_short_put_events_reply_leaves_every_entry_in_doubt() {
        // Two answers for three entries: which two is unknowable, so none counts as sent.
        assert_eq!(
            read_reply(&[taken("eb-1"), taken("eb-2")], 3, false),
            vec![in_doubt(); 3]
        );
        assert_eq!(read_reply(&[], 10, false), vec![in_doubt(); 10]);
        // More answers than entries cannot be matched either.
        assert_eq!(
            read_reply(&[taken("a"), taken("b")], 1, false),
            vec![in_doubt()]
        );
    }

    fn entry(id: &str) -> Entry {
        Entry {
            event_id: id.to_owned(),
            event_type: Some("purchase".into()),
            time: "2026-11-01T12:00:00Z".into(),
            source: "clientevents".into(),
            detail_type: "prod".into(),
            resources: vec!["c-1".into()],
            detail: r#"{"eventType":"purchase"}"#.into(),
        }
    }

    /// Answers one HTTP request with `body` as EventBridge's JSON, on a loopback port.
    async fn one_reply_server(body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then as many body bytes as Content-Length says.
            loop {
                let read = stream.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .map_or(0, |value| value.trim().parse().unwrap());
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                assert!(read > 0, "the client closed before sending its request");
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
        });
        format!("http://{address}")
    }

    fn client(endpoint: &str) -> aws_sdk_eventbridge::Client {
        use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }

    #[tokio::test]
    async fn put_events_with_a_short_reply_reports_the_entries_in_doubt() {
        let endpoint =
            one_reply_server(r#"{"FailedEntryCount":0,"Entries":[{"EventId":"eb-1"}]}"#).await;
        let entries = [entry("e-1"), entry("e-2"), entry("e-3")];
        let (outcomes, throttled) = put_events(&client(&endpoint), "bus", &entries)
            .await
            .unwrap();
        assert!(throttled.is_none());
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        for (outcome, entry) in outcomes.iter().zip(&entries) {
            assert_eq!(outcome.event_id, entry.event_id);
            assert_eq!(outcome.status, Status::InDoubt);
            assert_eq!(outcome.error_code.as_deref(), Some(NO_ANSWER));
        }
    }

    #[tokio::test]
    async fn put_events_with_no_entries_in_its_reply_reports_them_in_doubt() {
        let endpoint = one_reply_server(r#"{"FailedEntryCount":0}"#).await;
        let (outcomes, _) = put_events(&client(&endpoint), "bus", &[entry("e-1")])
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].status, Status::InDoubt);
    }
}
