//! `compact`: raw objects → `events` + `errors`, committed exactly once.
//!
//! ```text
//!  list source ─▶ minus ledger ─▶ claim unit N (create-only manifest)
//!                                      │
//!   object ─▶ [blocking worker × cores: decompress ─▶ frame ─▶ parse+transform ─▶ partition ─▶ batch]
//!                                      │ bounded channel
//!                                      ▼
//!        sink: dedup by id (this run + the table's touched partitions) ─▶ streaming Delta writers
//!                                      │
//!        commit events(txn N) ─▶ commit errors(txn N) ─▶ commit source_objects(txn N)
//! ```
//!
//! Guarantees: every framed record of a committed object is in `events`, in `errors`, or counted as
//! a duplicate of an id `events` holds. A unit's manifest is written before any data, so a run that
//! dies at any instant leaves a unit the next run (or a concurrent one) finishes: it re-reads the
//! manifest's objects and commits only to the tables whose txn version is still below N.
//! Memory is bounded by the channel, the batch size and the writers' open row groups, not by the
//! input; the id sets hold 16 bytes an event of the current unit and of the partitions it touches.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::prelude::{col, lit, SessionContext};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use futures::StreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::CompactPlan;
use crate::failpoint;
use crate::error::{Error, Result};
use crate::partition::PartitionContext;
use crate::record::{parse_record, ErrorCode, Parsed};
use crate::source::framing::{BrokenKind, FrameKind, Framer};
use crate::source::{arrival_time_from_name, is_store_error, Source, SourceObject};
use crate::table::batch::{
    events_schema, source_objects_schema, ErrorBatchBuilder, ErrorRow, EventBatchBuilder,
};
use crate::table::{self, commit_unit, committed_unit, CommitOutcome, Lake};

/// Tries a unit (or a claim) gets when storage keeps failing after object_store's own retries.
const UNIT_ATTEMPTS: u32 = 4;

/// What a `compact` run did; `--json` prints it.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct CompactMetrics {
    /// Source objects committed by this run.
    pub objects: u64,
    /// Records framed in them (good, bad and duplicate; an object's undecompressable rest
    /// counts as one bad record).
    pub records_in: u64,
    /// Records added to `events`.
    pub records_written: u64,
    /// Records dropped because `events` (or this run) already had their id.
    pub duplicates: u64,
    /// Records added to `errors`.
    pub errors: u64,
    /// Parquet files added to `events` and `errors`.
    pub files_written: u64,
    /// Raw (compressed) bytes read.
    pub bytes_in: u64,
    /// Units (Delta commits per table) this run committed.
    pub units: u64,
    /// Source objects found already committed.
    pub objects_skipped: u64,
    /// Whether `max_runtime` stopped the run before the source was exhausted.
    pub stopped_early: bool,
    pub seconds: f64,
}

/// Progress callbacks, so the library needs no terminal.
pub trait CompactProgress: Send + Sync {
    fn planned(&self, _objects: u64, _bytes: u64) {}
    fn object_done(&self, _bytes: u64, _records: u64) {}
}

struct NoProgress;
impl CompactProgress for NoProgress {}

/// A `compact` run over one source and one lake.
pub struct Compaction {
    source: Source,
    lake: Lake,
    plan: CompactPlan,
    progress: Arc<dyn CompactProgress>,
}

/// The manifest a unit claims its objects with.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UnitManifest {
    unit: i64,
    source_root: String,
    objects: Vec<SourceObject>,
}

/// Per-object counts, kept for the ledger.
#[derive(Debug, Default, Clone, Copy)]
struct ObjectCounts {
    records: u64,
    events: u64,
    duplicates: u64,
    errors: u64,
}

/// The key of eventlake's entry in a unit's Delta commit metadata.
const COMMIT_METADATA_KEY: &str = "eventlake";
/// How far back in a table's history a unit's commit is looked for.
const COMMIT_SEARCH_DEPTH: usize = 200;

/// A unit's per-object counts as its commits record them, in manifest order.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UnitCounts {
    records: Vec<u64>,
    events: Vec<u64>,
    duplicates: Vec<u64>,
    errors: Vec<u64>,
    /// False when the run that made these counts did not know the committed duplicates.
    events_known: bool,
}

impl From<&[ObjectCounts]> for UnitCounts {
    fn from(counts: &[ObjectCounts]) -> Self {
        Self {
            records: counts.iter().map(|c| c.records).collect(),
            events: counts.iter().map(|c| c.events).collect(),
            duplicates: counts.iter().map(|c| c.duplicates).collect(),
            errors: counts.iter().map(|c| c.errors).collect(),
            events_known: true,
        }
    }
}

impl UnitCounts {
    fn len(&self) -> usize {
        [&self.records, &self.events, &self.duplicates, &self.errors]
            .into_iter()
            .map(Vec::len)
            .min()
            .unwrap_or(0)
    }

    /// Takes the committed event counts, and the rest too when `all`.
    fn apply(&self, counts: &mut [ObjectCounts], all: bool) {
        for (index, object) in counts.iter_mut().enumerate() {
            object.events = self.events[index];
            object.duplicates = self.duplicates[index];
            if all {
                object.records = self.records[index];
                object.errors = self.errors[index];
            }
        }
    }
}

/// Copies the counts unit `unit`'s commit to `table` recorded into `counts` (the event counts,
/// and the rest too when `all`); returns whether the event counts are now the committed ones.
async fn take_committed_counts(
    table: &DeltaTable,
    unit: i64,
    counts: &mut [ObjectCounts],
    all: bool,
) -> Result<bool> {
    match committed_counts(table, unit).await? {
        Some(committed) if committed.len() == counts.len() => {
            committed.apply(counts, all);
            Ok(committed.events_known)
        }
        _ => {
            tracing::warn!(
                unit,
                "the unit's committed counts were not found; its ledger rows leave event counts empty"
            );
            Ok(false)
        }
    }
}

/// The counts unit `unit`'s commit to `table` recorded, if it is among the recent commits.
async fn committed_counts(table: &DeltaTable, unit: i64) -> Result<Option<UnitCounts>> {
    use futures::TryStreamExt;
    let mut history = table.history(Some(COMMIT_SEARCH_DEPTH));
    while let Some(commit) = history
        .try_next()
        .await
        .map_err(|source| table::delta(table, source))?
    {
        let Some(summary) = commit.info.get(COMMIT_METADATA_KEY) else {
            continue;
        };
        if summary["unit"].as_i64() == Some(unit) {
            return Ok(serde_json::from_value(summary["counts"].clone()).ok());
        }
    }
    Ok(None)
}

enum WorkerMessage {
    Events {
        object: usize,
        batch: RecordBatch,
    },
    Errors {
        batch: RecordBatch,
    },
    Done {
        object: usize,
        counts: ObjectCounts,
        bytes: u64,
    },
    Failed(Error),
}

/// How data files are written: zstd level 1 (compaction is CPU-bound) and bounded row groups.
/// Turning dictionaries off for unique columns (`id`, `detail`) was tried and dropped: Python
/// `deltalake`/pyarrow then aborted reading the hostile-record lake.
fn data_file_properties(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(row_group_rows))
        .build()
}

/// Rows per batch a worker sends to the sink.
const BATCH_ROWS: usize = 16 * 1024;
const BATCH_BYTES: usize = 16 << 20;

impl Compaction {
    pub fn new(source: Source, lake: Lake, plan: CompactPlan) -> Self {
        Self {
            source,
            lake,
            plan,
            progress: Arc::new(NoProgress),
        }
    }

    pub fn with_progress(mut self, progress: Arc<dyn CompactProgress>) -> Self {
        self.progress = progress;
        self
    }

    /// Runs until every object under the source is committed (or `max_runtime` passes).
    pub async fn run(self) -> Result<CompactMetrics> {
        let started = Instant::now();
        let mut metrics = CompactMetrics::default();
        // Partition values are cut to fit S3's key length after a prefix of at most this much.
        let lake_prefix = self.lake.root().path();
        if lake_prefix.len() > crate::partition::MAX_LAKE_PREFIX_BYTES {
            return Err(Error::InvalidLocation {
                location: self.lake.root().to_string(),
                reason: format!(
                    "a lake's path may be at most {} bytes, so that every data file's key fits in 1,024",
                    crate::partition::MAX_LAKE_PREFIX_BYTES
                ),
            });
        }
        let mut events = self
            .lake
            .open_or_create(
                table::EVENTS,
                table::events_columns(&self.plan.template),
                self.plan.template.column_names(),
            )
            .await?;
        self.check_partitioning(&events)?;
        let mut errors = self
            .lake
            .open_or_create(table::ERRORS, table::errors_columns(), vec!["dt".into()])
            .await?;
        let mut ledger = self
            .lake
            .open_or_create(
                table::SOURCE_OBJECTS,
                table::source_objects_columns(),
                vec![],
            )
            .await?;

        let mut committed = committed_objects(&ledger).await?;
        // The highest unit whose objects `committed` holds.
        let mut known_unit = committed_unit(&ledger).await?;
        let listing = self.source.list().await?;
        // A lake inside the source folder is not input.
        let lake_root = self
            .lake
            .root()
            .as_str()
            .trim_start_matches("file://")
            .to_owned();
        let mut pending: Vec<SourceObject> = listing
            .into_iter()
            .filter(|object| {
                !object
                    .uri
                    .trim_start_matches("file://")
                    .starts_with(&lake_root)
            })
            .filter(|object| !committed.contains(&object.uri))
            .collect();
        metrics.objects_skipped = committed.len() as u64;
        self.progress.planned(
            pending.len() as u64,
            pending.iter().map(|object| object.size).sum(),
        );

        loop {
            // Every run commits at least one unit before it stops for time, so a scheduled
            // job with a short limit still makes progress.
            if metrics.units > 0
                && self
                    .plan
                    .max_runtime
                    .is_some_and(|limit| started.elapsed() >= limit)
            {
                metrics.stopped_early = !pending.is_empty();
                break;
            }
            // Reading where the lake stands changes nothing: storage failures get more tries.
            let mut attempt = 1;
            let unit = loop {
                let read = match ledger.update_state().await {
                    Ok(()) => committed_unit(&ledger).await,
                    Err(source) => Err(table::delta(&ledger, source)),
                };
                match read {
                    Err(error) if error.is_transient() && attempt < UNIT_ATTEMPTS => {
                        tracing::warn!(attempt, %error, "reading the ledger failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
                        attempt += 1;
                    }
                    read => break read? + 1,
                }
            };
            if unit - 1 > known_unit {
                // Another run committed units we did not see: their objects are not pending.
                committed = committed_objects(&ledger).await?;
                known_unit = unit - 1;
            }
            let manifest = match self.read_manifest_with_retries(unit).await? {
                Some(manifest) => manifest,
                None => {
                    pending.retain(|object| !committed.contains(&object.uri));
                    if pending.is_empty() {
                        break;
                    }
                    let take = self.unit_size(&pending);
                    let manifest = UnitManifest {
                        unit,
                        source_root: self.source.root().to_string(),
                        objects: pending[..take].to_vec(),
                    };
                    if !self.claim(&manifest).await? {
                        continue; // Another run claimed this unit first: finish it with them.
                    }
                    failpoint::hit("after-claim");
                    manifest
                }
            };
            let source = if manifest.source_root == self.source.root().as_str() {
                self.source.clone()
            } else {
                let root =
                    url::Url::parse(&manifest.source_root).map_err(|error| Error::Manifest {
                        path: format!("unit {unit}"),
                        reason: error.to_string(),
                    })?;
                Source::from_url(root, self.lake.storage_options())?
            };
            let unit_metrics = self
                .process_unit_with_retries(
                    &source,
                    &manifest,
                    &mut events,
                    &mut errors,
                    &mut ledger,
                )
                .await?;
            committed.extend(manifest.objects.iter().map(|object| object.uri.clone()));
            known_unit = known_unit.max(unit);
            metrics.add(&unit_metrics);
        }
        metrics.seconds = started.elapsed().as_secs_f64();
        Ok(metrics)
    }

    fn check_partitioning(&self, events: &DeltaTable) -> Result<()> {
        let snapshot = events
            .snapshot()
            .map_err(|source| table::delta(events, source))?;
        let existing = snapshot.metadata().partition_columns().to_vec();
        let wanted = self.plan.template.column_names();
        if existing != wanted {
            return Err(Error::Partitioning(format!(
                "the lake's events table is partitioned by {existing:?}, but the prefix gives {wanted:?}; use a new lake or the same prefix"
            )));
        }
        Ok(())
    }

    fn unit_size(&self, pending: &[SourceObject]) -> usize {
        let mut bytes = 0;
        let mut take = 0;
        for object in pending.iter().take(self.plan.unit_max_objects) {
            if take > 0 && bytes + object.size > self.plan.unit_max_bytes {
                break;
            }
            bytes += object.size;
            take += 1;
        }
        take.max(1)
    }

    fn manifest_path(
        &self,
        unit: i64,
    ) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        let (store, root) = self.lake.store()?;
        let path = root
            .join("_eventlake")
            .join("compact")
            .join(format!("unit-{unit:020}.json"));
        Ok((store, path))
    }

    async fn read_manifest_with_retries(&self, unit: i64) -> Result<Option<UnitManifest>> {
        crate::storage::retry_transient("reading a unit manifest", UNIT_ATTEMPTS, || {
            self.read_manifest(unit)
        })
        .await
    }

    async fn read_manifest(&self, unit: i64) -> Result<Option<UnitManifest>> {
        let (store, path) = self.manifest_path(unit)?;
        match store.get(&path).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(|source| Error::ObjectStore {
                    location: path.to_string(),
                    source,
                })?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| Error::Manifest {
                        path: path.to_string(),
                        reason: error.to_string(),
                    })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(Error::ObjectStore {
                location: path.to_string(),
                source,
            }),
        }
    }

    /// Writes the manifest if no run has; false when another run got there first.
    async fn claim(&self, manifest: &UnitManifest) -> Result<bool> {
        let (store, path) = self.manifest_path(manifest.unit)?;
        let body = serde_json::to_vec(manifest).map_err(|error| Error::Manifest {
            path: path.to_string(),
            reason: error.to_string(),
        })?;
        let mut attempt = 1;
        loop {
            let options = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let result = store
                .put_opts(&path, PutPayload::from(body.clone()), options)
                .await;
            match result {
                Ok(_) => return Ok(true),
                // "Already there" can also mean our own write landed and its reply was lost.
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => return Ok(self.read_manifest(manifest.unit).await?.as_ref() == Some(manifest)),
                Err(source) if attempt < UNIT_ATTEMPTS => {
                    tracing::warn!(unit = manifest.unit, attempt, %source, "claiming the unit failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
                    attempt += 1;
                }
                Err(source) => {
                    return Err(Error::ObjectStore {
                        location: path.to_string(),
                        source,
                    })
                }
            }
        }
    }

    /// A unit is idempotent (its txn version guards each table), so a storage failure that
    /// outlasted the object store's own retries is retried here, whole, with a longer backoff.
    async fn process_unit_with_retries(
        &self,
        source: &Source,
        manifest: &UnitManifest,
        events: &mut DeltaTable,
        errors: &mut DeltaTable,
        ledger: &mut DeltaTable,
    ) -> Result<CompactMetrics> {
        let mut attempt = 1;
        loop {
            match self
                .process_unit(source, manifest, events, errors, ledger)
                .await
            {
                Err(error) if error.is_transient() && attempt < UNIT_ATTEMPTS => {
                    let pause = std::time::Duration::from_millis(500 << attempt);
                    tracing::warn!(unit = manifest.unit, attempt, %error, "unit failed; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn process_unit(
        &self,
        source: &Source,
        manifest: &UnitManifest,
        events: &mut DeltaTable,
        errors: &mut DeltaTable,
        ledger: &mut DeltaTable,
    ) -> Result<CompactMetrics> {
        let unit = manifest.unit;
        events
            .update_state()
            .await
            .map_err(|source| table::delta(events, source))?;
        errors
            .update_state()
            .await
            .map_err(|source| table::delta(errors, source))?;
        let write_events = committed_unit(events).await? < unit;
        let write_errors = committed_unit(errors).await? < unit;
        let ingested_at = chrono::Utc::now();
        let mut metrics = CompactMetrics::default();
        let mut counts = vec![ObjectCounts::default(); manifest.objects.len()];
        let mut reported_done = vec![false; manifest.objects.len()];
        // Whether `counts` holds the committed event and duplicate counts.
        let mut events_counted = write_events;

        if write_events || write_errors {
            let properties = data_file_properties(self.plan.row_group_rows);
            let mut events_writer = RecordBatchWriter::for_table(events)
                .map_err(|source| table::delta(events, source))?
                .with_writer_properties(properties.clone())
                .with_target_file_size(self.plan.target_file_size);
            let mut errors_writer = RecordBatchWriter::for_table(errors)
                .map_err(|source| table::delta(errors, source))?
                .with_writer_properties(properties)
                .with_target_file_size(self.plan.target_file_size);
            let mut deduplicator = Deduplicator::new(events, &self.plan).await?;

            let (sender, mut receiver) = mpsc::channel::<WorkerMessage>(self.plan.workers * 2);
            let feeder =
                self.spawn_workers(source, manifest, ingested_at.timestamp_micros(), sender);
            let mut failure = None;
            while let Some(message) = receiver.recv().await {
                match message {
                    WorkerMessage::Events { object, batch } => {
                        if !write_events {
                            continue;
                        }
                        let (kept, dropped) = deduplicator.filter(batch).await?;
                        counts[object].duplicates += dropped;
                        if kept.num_rows() > 0 {
                            events_writer
                                .write(kept)
                                .await
                                .map_err(|source| table::delta(events, source))?;
                        }
                    }
                    WorkerMessage::Errors { batch } => {
                        if write_errors {
                            errors_writer
                                .write(batch)
                                .await
                                .map_err(|source| table::delta(errors, source))?;
                        }
                    }
                    WorkerMessage::Done {
                        object,
                        counts: object_counts,
                        bytes,
                    } => {
                        reported_done[object] = true;
                        let entry = &mut counts[object];
                        entry.records = object_counts.records;
                        entry.events = object_counts.events;
                        entry.errors = object_counts.errors;
                        metrics.bytes_in += bytes;
                        self.progress.object_done(bytes, object_counts.records);
                    }
                    WorkerMessage::Failed(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            drop(receiver);
            feeder
                .await
                .map_err(|error| Error::Worker(error.to_string()))?;
            // Commit only when every object of the manifest reported done, with counts that
            // add up: a worker that panicked or vanished must fail the unit, never shrink it.
            let incomplete = manifest
                .objects
                .iter()
                .zip(&reported_done)
                .zip(&counts)
                .find(|((_, &done), counts)| !done || counts.records != counts.events + counts.errors)
                .map(|((object, &done), counts)| Error::WorkerLost {
                    object: object.uri.clone(),
                    reason: if done {
                        format!(
                            "{} records framed, but {} events and {} errors counted",
                            counts.records, counts.events, counts.errors
                        )
                    } else {
                        "it never reported the object done".to_owned()
                    },
                });
            if let Some(error) = failure.or(incomplete) {
                events_writer.reset();
                errors_writer.reset();
                return Err(error);
            }

            // Each commit carries the unit's per-object counts, so a run that finishes a unit
            // another run began writes the ledger with the counts that were committed: the
            // events commit's duplicates when `events` already holds the unit.
            if !write_events {
                events_counted = take_committed_counts(events, unit, &mut counts, false).await?;
            }
            let mut unit_counts = UnitCounts::from(&counts[..]);
            unit_counts.events_known = events_counted;
            let summary = serde_json::json!({
                "unit": unit,
                "objects": manifest.objects.len(),
                "source": manifest.source_root,
                "counts": unit_counts,
            });
            let metadata = HashMap::from([(COMMIT_METADATA_KEY.to_owned(), summary)]);
            if write_events {
                let adds = events_writer
                    .flush()
                    .await
                    .map_err(|source| table::delta(events, source))?;
                let files = adds.len() as u64;
                if commit_unit(events, adds, unit, metadata.clone()).await?
                    == CommitOutcome::Committed
                {
                    metrics.files_written += files;
                    metrics.records_written +=
                        counts.iter().map(|c| c.events - c.duplicates).sum::<u64>();
                    metrics.duplicates += counts.iter().map(|c| c.duplicates).sum::<u64>();
                }
                failpoint::hit("after-events-commit");
            }
            if write_errors {
                let adds = errors_writer
                    .flush()
                    .await
                    .map_err(|source| table::delta(errors, source))?;
                let files = adds.len() as u64;
                if commit_unit(errors, adds, unit, metadata).await? == CommitOutcome::Committed {
                    metrics.files_written += files;
                    metrics.errors += counts.iter().map(|c| c.errors).sum::<u64>();
                }
                failpoint::hit("after-errors-commit");
            }
        }

        // When both tables already held the unit no worker ran: all counts come from the
        // errors commit, the last one made.
        if !write_events && !write_errors {
            events_counted = take_committed_counts(errors, unit, &mut counts, true).await?;
        }
        let ledger_batch = ledger_batch(
            manifest,
            &counts,
            events_counted,
            ingested_at.timestamp_micros(),
        )?;
        let mut ledger_writer =
            RecordBatchWriter::for_table(ledger).map_err(|source| table::delta(ledger, source))?;
        ledger_writer
            .write(ledger_batch)
            .await
            .map_err(|source| table::delta(ledger, source))?;
        let adds = ledger_writer
            .flush()
            .await
            .map_err(|source| table::delta(ledger, source))?;
        if commit_unit(ledger, adds, unit, HashMap::new()).await? == CommitOutcome::Committed {
            metrics.objects += manifest.objects.len() as u64;
            metrics.records_in += counts.iter().map(|c| c.records).sum::<u64>();
            metrics.units += 1;
        }
        tracing::info!(unit, objects = manifest.objects.len(), "unit committed");
        Ok(metrics)
    }

    /// Parses the manifest's objects on blocking threads, `workers` at a time, into `sender`.
    fn spawn_workers(
        &self,
        source: &Source,
        manifest: &UnitManifest,
        ingested_at_micros: i64,
        sender: mpsc::Sender<WorkerMessage>,
    ) -> tokio::task::JoinHandle<()> {
        let objects = manifest.objects.clone();
        let source = source.clone();
        let plan = Arc::new(self.plan.clone());
        let schema = events_schema(&plan.template);
        let runtime = tokio::runtime::Handle::current();
        tokio::spawn(async move {
            let limit = Arc::new(tokio::sync::Semaphore::new(plan.workers.max(1)));
            let mut handles = Vec::new();
            for (index, object) in objects.into_iter().enumerate() {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                if sender.is_closed() {
                    break;
                }
                let (source, plan, schema, runtime, sender) = (
                    source.clone(),
                    plan.clone(),
                    schema.clone(),
                    runtime.clone(),
                    sender.clone(),
                );
                let object_uri = object.uri.clone();
                let handle = tokio::task::spawn_blocking(move || {
                    let worker = ObjectWorker {
                        source: &source,
                        plan: &plan,
                        schema,
                        runtime: &runtime,
                        sender: &sender,
                        ingested_at_micros,
                    };
                    if let Err(error) = worker.run(index, &object) {
                        let _ = sender.blocking_send(WorkerMessage::Failed(error));
                    }
                    drop(permit);
                });
                handles.push((object_uri, handle));
            }
            for (object, handle) in handles {
                if let Err(join_error) = handle.await {
                    let reason = match join_error.try_into_panic() {
                        Ok(panic) => panic
                            .downcast_ref::<&str>()
                            .map(|text| text.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .map_or_else(|| "it panicked".to_owned(), |text| format!("it panicked: {text}")),
                        Err(join_error) => join_error.to_string(),
                    };
                    let _ = sender
                        .send(WorkerMessage::Failed(Error::WorkerLost { object, reason }))
                        .await;
                }
            }
        })
    }
}

impl CompactMetrics {
    fn add(&mut self, other: &CompactMetrics) {
        self.objects += other.objects;
        self.records_in += other.records_in;
        self.records_written += other.records_written;
        self.duplicates += other.duplicates;
        self.errors += other.errors;
        self.files_written += other.files_written;
        self.bytes_in += other.bytes_in;
        self.units += other.units;
    }
}

/// One object's pass: read, frame, parse, partition, batch.
struct ObjectWorker<'a> {
    source: &'a Source,
    plan: &'a CompactPlan,
    schema: arrow::datatypes::SchemaRef,
    runtime: &'a tokio::runtime::Handle,
    sender: &'a mpsc::Sender<WorkerMessage>,
    ingested_at_micros: i64,
}

impl ObjectWorker<'_> {
    fn run(&self, index: usize, object: &SourceObject) -> Result<()> {
        let mut reader = self.source.open_blocking(object, self.runtime)?;
        let extra_columns = self.plan.template.extra_columns().count();
        let mut events = EventBatchBuilder::new(self.schema.clone(), extra_columns);
        let mut errors = ErrorBatchBuilder::new();
        let mut counts = ObjectCounts::default();
        let ingest_date = date_of(self.ingested_at_micros);
        let object_random = format!("{:08x}", fnv(object.uri.as_bytes()) as u32);
        let context = PartitionContext {
            arrival_micros: arrival_time_from_name(&object.path)
                .unwrap_or(object.last_modified_micros),
            object_random: &object_random,
        };
        let mut framer = Framer::new(self.plan.max_record_bytes);
        let mut chunk = vec![0u8; 1 << 20];
        let mut partition_values = Vec::new();
        let mut scratch = String::new();
        let mut message = String::new();
        let mut finished = false;

        while !finished {
            framer.compact();
            match reader.read(&mut chunk) {
                Ok(0) => {
                    framer.finish();
                    finished = true;
                }
                Ok(read) => framer.buffer_mut().extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) if is_store_error(&error) => {
                    return Err(Error::ReadObject {
                        object: object.uri.clone(),
                        source: error,
                    });
                }
                Err(error) => {
                    // Corrupt compression: what was framed stays; the unreadable rest is one error.
                    framer.finish();
                    finished = true;
                    message = format!("the object cannot be decompressed past this point: {error}");
                }
            }
            while let Some(frame) = framer.next_frame() {
                counts.records += 1;
                let mut error_row = |code: &str, text: &str| {
                    counts.errors += 1;
                    let row = ErrorRow {
                        source_object: &object.uri,
                        byte_offset: Some(frame.offset),
                        error_code: code,
                        error_message: text,
                        raw_record: frame.bytes,
                    };
                    errors.append(&row, self.ingested_at_micros, &ingest_date);
                };
                match frame.kind {
                    FrameKind::Record => {
                        match parse_record(frame.bytes, &self.plan.transform, &mut scratch) {
                            Ok(Parsed::Event(mut event)) => match self.plan.template.evaluate(
                                &event,
                                &context,
                                &mut partition_values,
                            ) {
                                Ok(()) => {
                                    self.plan.template.make_typed_values_safe(&mut event);
                                    counts.events += 1;
                                    events.append(
                                        &event,
                                        &partition_values,
                                        &object.uri,
                                        self.ingested_at_micros,
                                    );
                                }
                                Err(reason) => {
                                    error_row(ErrorCode::MissingPartitionKey.as_str(), &reason)
                                }
                            },
                            Ok(Parsed::Firehose(failure)) => {
                                counts.errors += 1;
                                let text =
                                    format!("Firehose {}: {}", failure.error_code, failure.message);
                                let row = ErrorRow {
                                    source_object: &object.uri,
                                    byte_offset: Some(frame.offset),
                                    error_code: ErrorCode::FirehoseError.as_str(),
                                    error_message: &text,
                                    raw_record: &failure.raw_record,
                                };
                                errors.append(&row, self.ingested_at_micros, &ingest_date);
                            }
                            Err(error) => error_row(error.code.as_str(), &error.message),
                        }
                    }
                    FrameKind::Broken(BrokenKind::NotAnObject) => {
                        let code = if std::str::from_utf8(frame.bytes).is_err() {
                            ErrorCode::InvalidUtf8
                        } else {
                            ErrorCode::NotJson
                        };
                        error_row(code.as_str(), "not a JSON object")
                    }
                    FrameKind::Broken(BrokenKind::Truncated) => error_row(
                        ErrorCode::Truncated.as_str(),
                        "the record ends before its object closes",
                    ),
                    FrameKind::Oversized => error_row(
                        ErrorCode::Oversized.as_str(),
                        &format!(
                            "the record exceeds max_record_bytes ({}); its first bytes are kept",
                            self.plan.max_record_bytes
                        ),
                    ),
                }
                if events.len() >= BATCH_ROWS || events.approximate_bytes() >= BATCH_BYTES {
                    self.send(WorkerMessage::Events {
                        object: index,
                        batch: events.finish()?,
                    })?;
                }
                if counts.records == 100 {
                    failpoint::hit("mid-object");
                    failpoint::hit("worker-panic");
                }
                if errors.len() >= 4096 {
                    self.send(WorkerMessage::Errors {
                        batch: errors.finish()?,
                    })?;
                }
            }
        }
        if !message.is_empty() {
            // The unreadable rest of the object is one bad record.
            counts.records += 1;
            counts.errors += 1;
            let row = ErrorRow {
                source_object: &object.uri,
                byte_offset: None,
                error_code: "corrupt_object",
                error_message: &message,
                raw_record: &[],
            };
            errors.append(&row, self.ingested_at_micros, &ingest_date);
        }
        if !events.is_empty() {
            self.send(WorkerMessage::Events {
                object: index,
                batch: events.finish()?,
            })?;
        }
        if !errors.is_empty() {
            self.send(WorkerMessage::Errors {
                batch: errors.finish()?,
            })?;
        }
        self.send(WorkerMessage::Done {
            object: index,
            counts,
            bytes: object.size,
        })
    }

    fn send(&self, message: WorkerMessage) -> Result<()> {
        self.sender
            .blocking_send(message)
            .map_err(|_| Error::Worker("the writer stopped".to_owned()))
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn date_of(micros: i64) -> String {
    let (year, month, day) = crate::partition::civil_from_days(micros.div_euclid(86_400_000_000));
    format!("{year:04}-{month:02}-{day:02}")
}

fn ledger_batch(
    manifest: &UnitManifest,
    counts: &[ObjectCounts],
    counted_events: bool,
    now_micros: i64,
) -> Result<RecordBatch> {
    use arrow::array::{ArrayRef, TimestampMicrosecondArray};
    let objects = &manifest.objects;
    let long = |values: Vec<Option<i64>>| Arc::new(Int64Array::from(values)) as ArrayRef;
    let timestamps = |values: Vec<Option<i64>>| {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")) as ArrayRef
    };
    // When another run committed this unit's events, our event counts are not the committed ones.
    let events = |value: u64| counted_events.then_some(value as i64);
    let batch = RecordBatch::try_new(
        source_objects_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                objects.iter().map(|object| object.uri.as_str()),
            )),
            long(
                objects
                    .iter()
                    .map(|object| Some(object.size as i64))
                    .collect(),
            ),
            timestamps(
                objects
                    .iter()
                    .map(|object| Some(object.last_modified_micros))
                    .collect(),
            ),
            long(counts.iter().map(|c| Some(c.records as i64)).collect()),
            long(
                counts
                    .iter()
                    .map(|c| events(c.events - c.duplicates))
                    .collect(),
            ),
            long(counts.iter().map(|c| events(c.duplicates)).collect()),
            long(counts.iter().map(|c| Some(c.errors as i64)).collect()),
            long(vec![Some(manifest.unit); objects.len()]),
            timestamps(vec![Some(now_micros); objects.len()]),
        ],
    )?;
    Ok(batch)
}

/// The set of source objects the ledger holds.
async fn committed_objects(ledger: &DeltaTable) -> Result<HashSet<String>> {
    let mut committed = HashSet::new();
    if ledger
        .snapshot()
        .map(|snapshot| snapshot.log_data().num_files())
        .unwrap_or(0)
        == 0
    {
        return Ok(committed);
    }
    let context = SessionContext::new();
    ledger.update_datafusion_session(&context.state())?;
    let provider = ledger.table_provider().await?;
    let frame = context
        .read_table(provider)?
        .select_columns(&["source_object"])?;
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let column = batch.column(0);
        let values = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
        let values = values
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Worker("source_object is not text".into()))?;
        committed.extend(values.iter().flatten().map(str::to_owned));
    }
    Ok(committed)
}

/// Ids already seen: UUIDs as 16 bytes, anything else as text. aHash, seeded per run, is a
/// fraction of SipHash's cost per row and still resists crafted collisions.
#[derive(Default)]
struct IdSet {
    uuids: HashSet<u128, ahash::RandomState>,
    others: HashSet<Box<str>, ahash::RandomState>,
}

impl IdSet {
    /// True if the id was not in the set.
    fn insert(&mut self, id: &str) -> bool {
        match parse_uuid(id) {
            Some(uuid) => self.uuids.insert(uuid),
            None => self.others.insert(id.into()),
        }
    }

    fn contains(&self, id: &str) -> bool {
        match parse_uuid(id) {
            Some(uuid) => self.uuids.contains(&uuid),
            None => self.others.contains(id),
        }
    }
}

fn parse_uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if matches!(index, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = (byte as char).to_digit(16)?;
        // Lower and upper case spell the same UUID but not the same id: keep case apart.
        let case_bit = u128::from(byte.is_ascii_uppercase());
        value = (value << 4) | u128::from(digit);
        if case_bit == 1 {
            return None;
        }
    }
    Some(value)
}

/// Drops rows whose id this run already wrote, or that the table holds in the same partition.
struct Deduplicator {
    seen: IdSet,
    /// Existing ids by partition, loaded when the run first touches the partition.
    existing: HashMap<String, IdSet>,
    context: Option<(SessionContext, Arc<dyn datafusion::catalog::TableProvider>)>,
    partition_columns: Vec<String>,
}

impl Deduplicator {
    async fn new(events: &DeltaTable, plan: &CompactPlan) -> Result<Self> {
        let has_files = events
            .snapshot()
            .map(|snapshot| snapshot.log_data().num_files())
            .unwrap_or(0)
            > 0;
        let context = if has_files {
            let context = SessionContext::new();
            events.update_datafusion_session(&context.state())?;
            let provider = events.table_provider().await?;
            Some((context, provider))
        } else {
            None
        };
        Ok(Self {
            seen: IdSet::default(),
            existing: HashMap::new(),
            context,
            partition_columns: plan.template.column_names(),
        })
    }

    /// Returns the kept rows and how many were dropped.
    async fn filter(&mut self, batch: RecordBatch) -> Result<(RecordBatch, u64)> {
        let ids = batch
            .column_by_name("id")
            .and_then(|column| column.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| Error::Worker("events batch without an id column".into()))?
            .clone();
        let partition_arrays: Vec<_> = self
            .partition_columns
            .iter()
            .filter_map(|name| batch.column_by_name(name).cloned())
            .collect();
        let mut keep = Vec::with_capacity(batch.num_rows());
        let mut key = String::new();
        let mut dropped = 0;
        for row in 0..batch.num_rows() {
            let id = ids.value(row);
            let fresh = match self.context {
                // A new table: one hash per row decides.
                None => self.seen.insert(id),
                Some(_) => self.fresh_against_table(id, &partition_arrays, row, &mut key).await?,
            };
            if !fresh {
                dropped += 1;
            }
            keep.push(fresh);
        }
        if dropped == 0 {
            return Ok((batch, 0));
        }
        let kept = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))?;
        Ok((kept, dropped))
    }

    /// Whether `id` is new to this run and to the table's partition of `row`; marks it seen.
    async fn fresh_against_table(
        &mut self,
        id: &str,
        partition_arrays: &[arrow::array::ArrayRef],
        row: usize,
        key: &mut String,
    ) -> Result<bool> {
        if self.seen.contains(id) {
            return Ok(false);
        }
        key.clear();
        for array in partition_arrays {
            key.push_str(&partition_text(array.as_ref(), row));
            key.push('\u{1f}');
        }
        if !self.existing.contains_key(key.as_str()) {
            let loaded = self.load_partition(partition_arrays, row).await?;
            self.existing.insert(key.clone(), loaded);
        }
        let fresh = !self.existing.get(key.as_str()).is_some_and(|set| set.contains(id));
        if fresh {
            self.seen.insert(id);
        }
        Ok(fresh)
    }

    async fn load_partition(
        &self,
        partition_arrays: &[arrow::array::ArrayRef],
        row: usize,
    ) -> Result<IdSet> {
        let mut ids = IdSet::default();
        let Some((context, provider)) = &self.context else {
            return Ok(ids);
        };
        let mut frame = context.read_table(provider.clone())?;
        for (name, array) in self.partition_columns.iter().zip(partition_arrays) {
            // Values are bound as literals in the plan, never pasted into SQL text.
            let value = datafusion::scalar::ScalarValue::try_from_array(array.as_ref(), row)?;
            let column = col(format!("\"{name}\""));
            frame = if value.is_null() {
                frame.filter(column.is_null())?
            } else {
                frame.filter(column.eq(lit(value)))?
            };
        }
        let mut stream = frame.select_columns(&["id"])?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let values = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            if let Some(values) = values.as_any().downcast_ref::<StringArray>() {
                for id in values.iter().flatten() {
                    ids.insert(id);
                }
            }
        }
        Ok(ids)
    }
}

fn partition_text(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "\u{0}".to_owned();
    }
    arrow::util::display::array_value_to_string(array, row).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_pack_into_16_bytes_and_others_stay_text() {
        let mut set = IdSet::default();
        assert!(set.insert("6f1c2a4e-0000-4000-8000-000000000001"));
        assert!(!set.insert("6f1c2a4e-0000-4000-8000-000000000001"));
        assert!(set.insert("6F1C2A4E-0000-4000-8000-000000000001"));
        assert!(set.insert("not-a-uuid"));
        assert!(set.contains("not-a-uuid"));
        assert_eq!(set.uuids.len(), 1);
    }

    #[test]
    fn dates_of_ingest_times() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(
            date_of(crate::record::parse_time("2026-11-20T23:59:59Z").unwrap()),
            "2026-11-20"
        );
    }
}
