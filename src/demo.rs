//! `eventlake demo`: a sample generated, compacted, queried and reconciled, end to end.
//!
//! ```text
//! generate ─► <dir>/raw ─► compact ─► <dir>/lake ─► saved triage queries
//!                                          │
//!     loyalty purchases ─► generated tickets ─► zendesk_tickets ─► reconcile
//! ```
//!
//! The demo checks itself: the ticket generator knows what reconcile must find, and
//! [`DemoSummary::check`] fails when reconcile reports anything else. The same options give the
//! same numbers on every run (one seed for events and tickets).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use futures::StreamExt;

use crate::compact::{CompactMetrics, CompactProgress, Compaction};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::generate::{ComparedCount, GenOptions, GenSummary, Layout, TicketOptions};
use crate::query::saved::SavedQuery;
use crate::query::LakeSession;
use crate::reconcile::{ReconcileOptions, ReconcileSummary};
use crate::source::Source;
use crate::table::Lake;

/// The first day of the demo's events (the generator's default start), the day the triage
/// queries are asked about.
pub const DAY: &str = "2026-11-01";
/// Days of events generated, all of them reconciled.
const DAYS: u64 = 2;
const CLIENTS: u64 = 500;
/// One seed for the events and the tickets, so that every run shows the same numbers.
const SEED: u64 = 7;
/// How long after its purchase a ticket may come and still match (1h), and when it is late
/// (15m): what the demo's summary line announces.
pub const WINDOW_SECONDS: i64 = 3_600;
pub const SLA_SECONDS: i64 = 900;
/// Rows of each query's result the demo keeps to show: five results fit a screen or two.
pub const ROWS_SHOWN: usize = 8;

/// The saved queries the demo runs, with their parameters.
const QUERIES: [(&str, &[(&str, &str)]); 5] = [
    ("triage/overview", &[("day", DAY)]),
    ("triage/errors", &[]),
    (
        "triage/late-events",
        &[("day", DAY), ("threshold_minutes", "60")],
    ),
    ("triage/schema-drift", &[]),
    ("loyalty/purchases", &[("from", DAY), ("to", DAY)]),
];

/// Where the demo works and how much it generates.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Folder of the raw objects (`raw/`) and the lake (`lake/`).
    pub dir: PathBuf,
    /// Records to generate.
    pub events: u64,
}

impl DemoOptions {
    pub fn raw_location(&self) -> String {
        self.dir.join("raw").to_string_lossy().into_owned()
    }

    pub fn lake_location(&self) -> String {
        self.dir.join("lake").to_string_lossy().into_owned()
    }
}

/// A step of the demo, reported when it starts and, with what it found, when it ends.
#[derive(Debug)]
pub enum DemoStep<'a> {
    Generating {
        events: u64,
        raw_location: &'a str,
    },
    Generated {
        summary: &'a GenSummary,
        raw_location: &'a str,
    },
    Compacting {
        lake_location: &'a str,
    },
    Compacted {
        metrics: &'a CompactMetrics,
        lake_location: &'a str,
    },
    Querying,
    Queried(&'a QueryShown),
    Reconciling,
}

/// What the demo reports as it goes, so that a terminal shows each step when it happens rather
/// than all of them at the end. An error from [`DemoProgress::step`] stops the demo.
pub trait DemoProgress: Sync {
    fn step(&self, _step: DemoStep<'_>) -> Result<()> {
        Ok(())
    }

    /// Where the compaction step reports objects done (a progress bar on a terminal).
    fn compaction(&self) -> Option<Arc<dyn CompactProgress>> {
        None
    }
}

/// Reports nothing.
pub struct Quiet;

impl DemoProgress for Quiet {}

/// A saved query's result as the demo shows it: the first rows, and how many there were.
#[derive(Debug)]
pub struct QueryShown {
    pub name: String,
    pub description: String,
    pub schema: SchemaRef,
    /// The first [`ROWS_SHOWN`] rows.
    pub first_rows: Vec<RecordBatch>,
    /// Rows the query returned in all.
    pub rows: u64,
}

impl QueryShown {
    /// Whether rows were left out of [`QueryShown::first_rows`].
    pub fn truncated(&self) -> bool {
        self.rows > ROWS_SHOWN as u64
    }
}

/// What each step of the demo found.
#[derive(Debug)]
pub struct DemoSummary {
    pub raw_location: String,
    pub lake_location: String,
    pub generated: GenSummary,
    pub compacted: CompactMetrics,
    pub queries: Vec<QueryShown>,
    pub reconciled: ReconcileSummary,
    /// Each count reconcile reported beside the one the ticket generator made.
    pub compared: Vec<ComparedCount>,
}

impl DemoSummary {
    /// Fails when reconcile reported other counts than the generator made: that is a bug.
    pub fn check(&self) -> Result<()> {
        let differing: Vec<&str> = self
            .compared
            .iter()
            .filter(|count| count.generated != count.reported)
            .map(|count| count.name.as_str())
            .collect();
        if differing.is_empty() {
            return Ok(());
        }
        Err(Error::DemoMismatch {
            counts: differing.join(", "),
        })
    }
}

/// Generates a sample into `<dir>/raw`, compacts it into `<dir>/lake`, runs the saved triage
/// queries over the lake, and reconciles its loyalty purchases with generated Zendesk tickets.
/// Reads no config file: the demo is the same wherever it runs.
pub async fn run(options: &DemoOptions, progress: &dyn DemoProgress) -> Result<DemoSummary> {
    let raw_location = options.raw_location();
    let lake_location = options.lake_location();

    progress.step(DemoStep::Generating {
        events: options.events,
        raw_location: &raw_location,
    })?;
    let generated = crate::generate::generate_to(
        &raw_location,
        &HashMap::new(),
        &GenOptions {
            events: options.events,
            clients: CLIENTS,
            days: DAYS,
            seed: SEED,
            dup_rate: 0.01,
            bad_rate: 0.001,
            late_rate: 0.01,
            layout: Layout::Firehose,
            gzip: true,
            zstd: false,
            objects: 0,
            ..GenOptions::default()
        },
    )
    .await?;
    progress.step(DemoStep::Generated {
        summary: &generated,
        raw_location: &raw_location,
    })?;

    progress.step(DemoStep::Compacting {
        lake_location: &lake_location,
    })?;
    let lake = Lake::new(&lake_location)?;
    let mut compaction = Compaction::new(
        Source::new(&raw_location, &HashMap::new())?,
        lake.clone(),
        Config::default().compact_plan()?,
    );
    if let Some(bar) = progress.compaction() {
        compaction = compaction.with_progress(bar);
    }
    let compacted = compaction.run().await?;
    progress.step(DemoStep::Compacted {
        metrics: &compacted,
        lake_location: &lake_location,
    })?;

    progress.step(DemoStep::Querying)?;
    let session = LakeSession::open(&lake, None).await?;
    let catalog = crate::query::saved::catalog(None)?;
    let mut queries = Vec::with_capacity(QUERIES.len());
    for (name, params) in QUERIES {
        let shown = show(&session, shipped(&catalog, name)?, params).await?;
        progress.step(DemoStep::Queried(&shown))?;
        queries.push(shown);
    }

    progress.step(DemoStep::Reconciling)?;
    let reconcile_options = ReconcileOptions {
        from_micros: first_micros(),
        to_micros: first_micros() + DAYS as i64 * 86_400 * 1_000_000,
        window_seconds: WINDOW_SECONDS,
        sla_seconds: SLA_SECONDS,
    };
    // The purchases reconcile looks at, so that what the generator made is what it must find.
    let purchases = loyalty_purchases(&session, &reconcile_options).await?;
    let (tickets, truth) = crate::generate::tickets_for(
        &purchases,
        &TicketOptions {
            seed: SEED,
            window_seconds: WINDOW_SECONDS,
            sla_seconds: SLA_SECONDS,
        },
    )?;
    crate::zendesk::import(&lake, tickets).await?;
    // A new session: the first one registered the tables as they were before the import.
    let session = LakeSession::open(&lake, None).await?;
    let candidates = shipped(&catalog, "reconcile/candidates")?;
    let (reconciled, _) =
        crate::reconcile::reconcile(&session, &candidates.sql, &reconcile_options).await?;
    let compared = truth.against(&reconciled);

    Ok(DemoSummary {
        raw_location,
        lake_location,
        generated,
        compacted,
        queries,
        reconciled,
        compared,
    })
}

/// The first generated event's time, in microseconds: the start of [`DAY`].
fn first_micros() -> i64 {
    GenOptions::default().start_seconds * 1_000_000
}

fn shipped<'a>(catalog: &'a BTreeMap<String, SavedQuery>, name: &str) -> Result<&'a SavedQuery> {
    catalog.get(name).ok_or_else(|| {
        Error::InvalidArgument(format!("no saved query {name} (it ships with eventlake)"))
    })
}

/// Runs a saved query, keeping its first [`ROWS_SHOWN`] rows and counting the rest.
async fn show(
    session: &LakeSession,
    saved: &SavedQuery,
    params: &[(&str, &str)],
) -> Result<QueryShown> {
    let given = params
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let mut stream = session
        .sql(&saved.sql, saved.bind(&given)?)
        .await?
        .execute_stream()
        .await?;
    let mut shown = QueryShown {
        name: saved.name.clone(),
        description: saved.description.clone(),
        schema: stream.schema(),
        first_rows: Vec::new(),
        rows: 0,
    };
    let mut kept = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        shown.rows += batch.num_rows() as u64;
        if kept < ROWS_SHOWN {
            let take = (ROWS_SHOWN - kept).min(batch.num_rows());
            kept += take;
            shown.first_rows.push(batch.slice(0, take));
        }
    }
    Ok(shown)
}

/// Loyalty purchases in the reconcile window as `(event id, client id, time in micros)`, the
/// input of [`crate::generate::tickets_for`].
async fn loyalty_purchases(
    session: &LakeSession,
    window: &ReconcileOptions,
) -> Result<Vec<(String, String, i64)>> {
    let mut stream = session
        .sql(
            "SELECT id, client_id, time FROM events WHERE event_type = 'loyaltypurchase' ORDER BY time, id",
            HashMap::new(),
        )
        .await?
        .execute_stream()
        .await?;
    let mut purchases = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        // Whatever types the lake stores them as (views, dictionaries, a time zone), read as
        // text and UTC microseconds.
        let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let clients = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
        let times = arrow::compute::cast(
            batch.column(2),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let (ids, clients) = (ids.as_string::<i32>(), clients.as_string::<i32>());
        let times = times.as_primitive::<TimestampMicrosecondType>();
        for row in 0..batch.num_rows() {
            let time = times.value(row);
            if ids.is_valid(row)
                && times.is_valid(row)
                && (window.from_micros..window.to_micros).contains(&time)
            {
                purchases.push((
                    ids.value(row).to_owned(),
                    clients.value(row).to_owned(),
                    time,
                ));
            }
        }
    }
    Ok(purchases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triage_day_is_the_first_generated_day() {
        let day = chrono::NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
        let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
        assert_eq!(start * 1_000_000, first_micros());
    }

    #[test]
    fn the_shipped_catalog_has_every_query_the_demo_runs_and_takes_its_parameters() {
        let catalog = crate::query::saved::catalog(None).unwrap();
        for (name, params) in QUERIES {
            let given = params
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect();
            shipped(&catalog, name).unwrap().bind(&given).unwrap();
        }
        shipped(&catalog, "reconcile/candidates").unwrap();
    }
}
