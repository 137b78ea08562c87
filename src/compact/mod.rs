//! `compact`: raw objects → `events` + `errors`, committed exactly once.
//!
//! ```text
//!  list source ─▶ minus ledger ─▶ claim unit N (manifest.rs: create-only)
//!                                      │
//!   object ─▶ [workers.rs × cores: read ─▶ pipeline.rs: frame ─▶ parse+transform ─▶ partition ─▶ batch]
//!                                      │ bounded channel
//!                                      ▼
//!        sink (unit.rs): id_index.rs, first of each id ─▶ writers.rs (Delta, Parquet, zstd)
//!                                      │
//!        commit.rs: ids `events` holds (bloom filters, confirmed) dropped ─▶ events(txn N)
//!          ─▶ errors(txn N) ─▶ source_objects(txn N)
//! ```
//!
//! Guarantees: every framed record of a committed object is in `events`, in `errors`, or counted as
//! a duplicate of an id `events` holds (see `unit.rs` for how a crash at any instant keeps this).
//! Memory is bounded by the channel, the batch size and the writers' open row groups, not by the
//! input; the id index holds 16 bytes an event of the current unit and nothing per stored event
//! (bloom filters are read a few files at a time).

mod commit;
mod follow;
mod id_index;
mod manifest;
mod metrics;
mod pipeline;
mod queue;
mod shard;
mod sort;
mod stream;
mod unit;
mod workers;
mod writers;

use std::sync::Arc;
use std::time::Instant;

use deltalake::DeltaTable;
use futures::TryStreamExt;
use serde::Serialize;

use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::retry::Backoff;
use crate::source::{Source, SourceObject};
use crate::table::ledger::CommittedObjects;
use crate::table::{self, committed_unit, Lake};
pub use follow::{FollowOptions, StopSignal};
use id_index::TableIds;
use manifest::UnitManifest;
pub use metrics::FollowMetrics;
pub use shard::Shard;
pub use stream::StreamCompaction;
use workers::UnitInput;

/// Raw bytes a record is assumed to take before a run has seen one, when the first object's
/// head tells nothing (a gzip-compressed event of about 300 bytes): the first unit stays within
/// its events whatever the compression.
const FIRST_UNIT_BYTES_PER_RECORD: f64 = 48.0;

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
    /// Times an `events` commit found another writer (a shard) had committed first, and
    /// checked its ids before trying again.
    pub commit_races: u64,
    /// Whether `max_runtime` stopped the run before the source was exhausted.
    pub stopped_early: bool,
    pub seconds: f64,
    /// CPU seconds the whole process used.
    pub cpu_seconds: f64,
    /// Where the time went, stage by stage.
    pub stages: StageSeconds,
}

/// Seconds per stage of a run. Worker and writer-lane stages are the CPU time of their
/// threads, summed; the sink's (dedup, commit, closing files) are the wall time of the one sink
/// task (it is CPU-bound, so close to its CPU).
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct StageSeconds {
    /// Reading and decompressing objects (workers).
    pub read: f64,
    /// Framing, parsing, the transform, partitioning and building Arrow batches (workers).
    pub parse: f64,
    /// Dropping ids already written (sink).
    pub dedup: f64,
    /// Sorting runs, Parquet encoding and zstd (the writer lanes' CPU), and closing files.
    pub write: f64,
    /// Delta commits and ledger rows (sink).
    pub commit: f64,
}

impl StageSeconds {
    fn add(&mut self, other: &StageSeconds) {
        self.read += other.read;
        self.parse += other.parse;
        self.dedup += other.dedup;
        self.write += other.write;
        self.commit += other.commit;
    }
}

/// Progress callbacks, so the library needs no terminal.
pub trait CompactProgress: Send + Sync {
    fn planned(&self, _objects: u64, _bytes: u64) {}
    fn object_done(&self, _bytes: u64, _records: u64) {}
}

struct NoProgress;
impl CompactProgress for NoProgress {}

/// A unit this run committed (or finished for another run).
pub struct UnitDone {
    pub metrics: CompactMetrics,
    pub objects: Vec<SourceObject>,
}

/// The lake's tables, open for a run, and what its ledger holds.
pub(crate) struct LakeState {
    events: DeltaTable,
    errors: DeltaTable,
    ledger: DeltaTable,
    committed: CommittedObjects,
    /// The highest unit whose objects `committed` holds.
    known_unit: i64,
    /// The lake's root as a path, to keep a lake inside the source folder out of the input.
    lake_root: String,
    /// The table side of the id index (with `--follow`, the bloom filters it has read).
    table_ids: TableIds,
    /// Raw bytes a record took in the last unit, to size the next by events.
    bytes_per_record: Option<f64>,
}

impl LakeState {
    /// Opens (or creates) the lake's tables for a run whose units are `app_id`'s.
    async fn open(units: &Units, app_id: &str) -> Result<Self> {
        let lake = &units.lake;
        // Partition values are cut to fit S3's key length after a prefix of at most this much.
        if lake.root().path().len() > crate::partition::MAX_LAKE_PREFIX_BYTES {
            return Err(Error::InvalidLocation {
                location: lake.root().to_string(),
                reason: format!(
                    "a lake's path may be at most {} bytes, so that every data file's key fits in 1,024",
                    crate::partition::MAX_LAKE_PREFIX_BYTES
                ),
            });
        }
        let template = &units.plan.template;
        let events = lake
            .open_or_create(
                table::EVENTS,
                table::events_columns(template),
                template.column_names(),
            )
            .await?;
        units.check_partitioning(&events)?;
        let errors = lake
            .open_or_create(table::ERRORS, table::errors_columns(), vec!["dt".into()])
            .await?;
        let ledger = lake
            .open_or_create(
                table::SOURCE_OBJECTS,
                table::source_objects_columns(),
                vec![],
            )
            .await?;
        let known_unit = committed_unit(&ledger, app_id).await?;
        Ok(Self {
            events,
            errors,
            ledger,
            committed: CommittedObjects::default(),
            known_unit,
            lake_root: lake
                .root()
                .as_str()
                .trim_start_matches("file://")
                .to_owned(),
            table_ids: TableIds::new(0),
            bytes_per_record: None,
        })
    }

    fn is_inside_lake(&self, object: &SourceObject) -> bool {
        object
            .uri
            .trim_start_matches("file://")
            .starts_with(&self.lake_root)
    }
}

/// What processing a unit needs, whatever its input: the lake, the plan and the progress
/// callbacks (`unit.rs`).
pub(crate) struct Units {
    lake: Lake,
    plan: CompactPlan,
    progress: Arc<dyn CompactProgress>,
}

impl Units {
    fn new(lake: Lake, plan: CompactPlan) -> Self {
        Self {
            lake,
            plan,
            progress: Arc::new(NoProgress),
        }
    }

    fn check_partitioning(&self, events: &DeltaTable) -> Result<()> {
        let snapshot = events
            .snapshot()
            .map_err(|source| table::delta(events, source))?;
        let existing = snapshot.metadata().partition_columns().to_vec();
        let wanted = self.plan.template.column_names();
        if existing != wanted {
            return Err(Error::PartitioningChanged { existing, wanted });
        }
        Ok(())
    }
}

/// A `compact` run over one source and one lake.
pub struct Compaction {
    source: Source,
    units: Units,
    shard: Shard,
}

impl Compaction {
    pub fn new(source: Source, lake: Lake, plan: CompactPlan) -> Self {
        Self {
            source,
            units: Units::new(lake, plan),
            shard: Shard::default(),
        }
    }

    /// Compacts only the objects of `shard` (see `shard.rs`).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    pub fn with_progress(mut self, progress: Arc<dyn CompactProgress>) -> Self {
        self.units.progress = progress;
        self
    }

    /// Runs until every object under the source is committed (or `max_runtime` passes).
    pub async fn run(self) -> Result<CompactMetrics> {
        let started = Instant::now();
        let mut metrics = CompactMetrics::default();
        let mut state = LakeState::open(&self.units, &self.shard.app_id()).await?;
        self.finish_other_shard_counts(&mut state).await?;
        let mut already_committed = 0;
        let mut pending = Vec::new();
        // A page of the listing at a time: memory holds what is new, not what was ever listed.
        let mut pages = self.source.pages(None)?;
        while let Some(page) = pages.try_next().await? {
            let page: Vec<SourceObject> = page
                .into_iter()
                .filter(|object| self.shard.owns(&object.uri) && !state.is_inside_lake(object))
                .collect();
            let (new, committed) = state.committed.split_committed(&state.ledger, page).await?;
            already_committed += committed.len() as u64;
            pending.extend(new);
        }
        drop(pages);
        pending.sort_by(|a, b| a.path.cmp(&b.path));
        metrics.objects_skipped = already_committed;
        self.units.progress.planned(
            pending.len() as u64,
            pending.iter().map(|object| object.size).sum(),
        );
        loop {
            // Every run commits at least one unit before it stops for time, so a scheduled
            // job with a short limit still makes progress.
            if metrics.units > 0
                && self
                    .units
                    .plan
                    .max_runtime
                    .is_some_and(|limit| started.elapsed() >= limit)
            {
                metrics.stopped_early = !pending.is_empty();
                break;
            }
            match self.step(&mut state, &mut pending).await? {
                Some(done) => metrics.add(&done.metrics),
                None => break,
            }
        }
        metrics.seconds = started.elapsed().as_secs_f64();
        metrics.cpu_seconds = pipeline::process_cpu_seconds();
        let gigabytes = (metrics.bytes_in as f64 / 1e9).max(1e-9);
        let stages = &metrics.stages;
        tracing::info!(
            "CPU seconds per GB read: read+decompress {:.2}, parse {:.2}, dedup {:.2}, write {:.2}, commit {:.2}; process total {:.2}",
            stages.read / gigabytes,
            stages.parse / gigabytes,
            stages.dedup / gigabytes,
            stages.write / gigabytes,
            stages.commit / gigabytes,
            metrics.cpu_seconds / gigabytes,
        );
        Ok(metrics)
    }

    /// Commits the next unit: one another run claimed and did not finish, else a new one of
    /// `pending`'s first objects (which it removes). `None` when there is nothing to do.
    async fn step(
        &self,
        state: &mut LakeState,
        pending: &mut Vec<SourceObject>,
    ) -> Result<Option<UnitDone>> {
        let app_id = self.shard.app_id();
        loop {
            // Reading where the lake stands changes nothing: storage failures get more tries.
            let mut attempt = 1;
            let unit = loop {
                let read = match state.ledger.update_state().await {
                    Ok(()) => committed_unit(&state.ledger, &app_id).await,
                    Err(source) => Err(table::delta(&state.ledger, source)),
                };
                match read
                    .as_ref()
                    .err()
                    .and_then(|error| Backoff::STORAGE.pause_after(error, attempt))
                {
                    Some(pause) => {
                        let error = read
                            .err()
                            .map(|error| error.to_string())
                            .unwrap_or_default();
                        tracing::warn!(attempt, %error, "reading the ledger failed; retrying in {pause:?}");
                        tokio::time::sleep(pause).await;
                        attempt += 1;
                    }
                    None => break read? + 1,
                }
            };
            if unit - 1 > state.known_unit {
                // Another run committed units we did not see: their objects are not pending.
                let committed = state
                    .committed
                    .committed_among(&state.ledger, pending)
                    .await?;
                let mut committed = committed.into_iter();
                pending.retain(|_| !committed.next().unwrap_or(false));
                state.known_unit = unit - 1;
            }
            let (manifest, ours) =
                match manifest::read_manifest(&self.units.lake, &app_id, unit).await? {
                    Some(manifest) => (manifest, false),
                    None => {
                        pending.retain(|object| !state.committed.is_known(&object.uri));
                        if pending.is_empty() {
                            return Ok(None);
                        }
                        if let (None, Some(first)) = (state.bytes_per_record, pending.first()) {
                            state.bytes_per_record = Some(self.first_bytes_per_record(first).await);
                        }
                        let take = self.unit_size(pending, state.bytes_per_record);
                        let manifest = UnitManifest {
                            app_id: app_id.clone(),
                            unit,
                            source_root: self.source.root().to_string(),
                            objects: pending[..take].to_vec(),
                            stream: None,
                        };
                        if !manifest::claim(&self.units.lake, &manifest).await? {
                            continue; // Another run claimed this unit first: finish it with them.
                        }
                        failpoint::hit("after-claim");
                        (manifest, true)
                    }
                };
            state
                .table_ids
                .set_last_check(ours && manifest.objects.len() == pending.len());
            let input = UnitInput::Objects(self.manifest_source(&manifest)?);
            let metrics = self
                .units
                .process_unit_with_retries(&input, &manifest, state)
                .await?;
            for object in &manifest.objects {
                state.committed.insert(&object.uri);
            }
            if ours {
                pending.drain(..manifest.objects.len().min(pending.len()));
            }
            state.known_unit = state.known_unit.max(unit);
            if metrics.records_in > 0 && metrics.bytes_in > 0 {
                state.bytes_per_record = Some(metrics.bytes_in as f64 / metrics.records_in as f64);
            }
            return Ok(Some(UnitDone {
                metrics,
                objects: manifest.objects,
            }));
        }
    }

    /// The source a manifest's objects are read from: ours, unless it names another.
    fn manifest_source(&self, manifest: &UnitManifest) -> Result<Source> {
        if manifest.source_root == self.source.root().as_str() {
            return Ok(self.source.clone());
        }
        let root = url::Url::parse(&manifest.source_root).map_err(|error| Error::Manifest {
            path: format!("{} unit {}", manifest.app_id, manifest.unit),
            reason: error.to_string(),
        })?;
        Source::from_url(root, self.units.lake.storage_options())
    }

    /// Finishes the unit a run of another shard count claimed and did not commit (N changed
    /// between runs), before listing: its objects are not in the ledger, and no shard of this
    /// count owns its sequence. Shards of this count finish their own units themselves.
    async fn finish_other_shard_counts(&self, state: &mut LakeState) -> Result<()> {
        for app_id in manifest::claimed_app_ids(&self.units.lake).await? {
            let Some(other) = Shard::from_app_id(&app_id) else {
                continue;
            };
            if other.count() == self.shard.count() {
                continue;
            }
            state
                .ledger
                .update_state()
                .await
                .map_err(|source| table::delta(&state.ledger, source))?;
            let unit = committed_unit(&state.ledger, &app_id).await? + 1;
            let Some(manifest) = manifest::read_manifest(&self.units.lake, &app_id, unit).await?
            else {
                continue;
            };
            tracing::info!(%app_id, unit, "finishing a unit another shard count left unfinished");
            let source = self.manifest_source(&manifest)?;
            self.units
                .process_unit_with_retries(&UnitInput::Objects(source), &manifest, state)
                .await?;
            for object in &manifest.objects {
                if self.shard.owns(&object.uri) {
                    state.committed.insert(&object.uri);
                }
            }
        }
        Ok(())
    }

    /// The raw bytes a record is assumed to take in the run's first unit: as many as in the
    /// first object's head. A unit sized too small splits the input, and an id in both parts
    /// makes the second unit rewrite its files (2 s of an 11 s run over 1.9 GB of 2 KB
    /// records). Where the head tells nothing, a small compressed record, so that the first
    /// unit stays within its events; a failed look is only a smaller first unit.
    async fn first_bytes_per_record(&self, first: &SourceObject) -> f64 {
        match self
            .source
            .head_bytes_per_record(first, self.units.plan.max_record_bytes)
            .await
        {
            Ok(Some(bytes_per_record)) => bytes_per_record,
            Ok(None) => FIRST_UNIT_BYTES_PER_RECORD,
            Err(error) => {
                tracing::debug!(%error, "could not read the first object's head; sizing the first unit for compressed input");
                FIRST_UNIT_BYTES_PER_RECORD
            }
        }
    }

    /// How many of `pending`'s first objects the next unit takes: within the object and byte
    /// limits, and within `unit_max_events` at the bytes a record took in this run's earlier
    /// units (before the first, [`FIRST_UNIT_BYTES_PER_RECORD`], a small compressed record).
    fn unit_size(&self, pending: &[SourceObject], bytes_per_record: Option<f64>) -> usize {
        let bytes_per_record = bytes_per_record.unwrap_or(FIRST_UNIT_BYTES_PER_RECORD);
        let event_bytes = (self.units.plan.unit_max_events as f64 * bytes_per_record) as u64;
        let max_bytes = self.units.plan.unit_max_bytes.min(event_bytes.max(1));
        let mut bytes = 0;
        let mut take = 0;
        for object in pending.iter().take(self.units.plan.unit_max_objects) {
            if take > 0 && bytes + object.size > max_bytes {
                break;
            }
            bytes += object.size;
            take += 1;
        }
        take.max(1)
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
        self.commit_races += other.commit_races;
        self.stages.add(&other.stages);
    }
}
