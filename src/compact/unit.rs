//! The unit protocol: claim a unit with a create-only manifest, process it, commit it to each
//! table in a fixed order, each commit guarded by the unit's txn version.
//!
//! ```text
//! claim unit N: put <lake>/_eventlake/compact/unit-N.json (create-only)
//! process:      workers ─▶ sink (dedup ─▶ writers)
//! commit:       events(txn N) ─▶ errors(txn N) ─▶ source_objects(txn N)
//! ```
//!
//! Guarantee: a run that dies at any instant leaves a unit whose manifest names its objects; the
//! next run (or a concurrent one) re-reads them and commits only to the tables whose txn version
//! is still below N, so each object's records land once. A unit commits only when every object
//! of its manifest reported done with counts that add up.

use std::sync::Arc;
use std::time::Instant;

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::concurrent;
use super::dedup::Deduplicator;
use super::pipeline::{ObjectDone, WorkerMessage};
use super::writers::data_file_writer;
use super::{workers, CompactMetrics, Compaction, LakeState};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::retry::Backoff;
use crate::source::{Source, SourceObject};
use crate::table::ledger::{self, ObjectCounts};
use crate::table::{self, commit_unit, committed_unit, CommitOutcome, Lake};

/// Ids `--follow` keeps across commits (about 16 bytes each, twice that while a set grows):
/// past this many the next unit reloads its partitions' ids from the table instead.
const RECENT_IDS_MAX: usize = 4_000_000;
/// Kept ids are dropped when other writers committed more than this many times since.
const CATCH_UP_COMMITS_MAX: i64 = 64;

/// The manifest a unit claims its objects with.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct UnitManifest {
    /// The shard's application-transaction id ([`super::Shard::app_id`]); manifests written
    /// before sharding have none and are the unsharded sequence's.
    #[serde(default = "unsharded_app_id")]
    pub app_id: String,
    pub unit: i64,
    pub source_root: String,
    pub objects: Vec<SourceObject>,
}

fn unsharded_app_id() -> String {
    table::COMPACT_APP_ID.to_owned()
}

/// Unsharded runs' manifests are in `_eventlake/compact/`, a shard's in
/// `_eventlake/shards/<app id>/`: listing the shard folders never pages through manifests.
fn manifest_path(
    lake: &Lake,
    app_id: &str,
    unit: i64,
) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
    let (store, root) = lake.store()?;
    let folder = if app_id == table::COMPACT_APP_ID {
        root.join("_eventlake").join("compact")
    } else {
        root.join("_eventlake").join("shards").join(app_id)
    };
    Ok((store, folder.join(format!("unit-{unit:020}.json"))))
}

/// The app ids that have claimed units: the unsharded sequence and each shard's.
pub(super) async fn claimed_app_ids(lake: &Lake) -> Result<Vec<String>> {
    let (store, root) = lake.store()?;
    let shards = root.join("_eventlake").join("shards");
    let listed = Backoff::STORAGE
        .retry_transient("listing shard manifests", || async {
            match store.list_with_delimiter(Some(&shards)).await {
                Ok(listed) => Ok(listed.common_prefixes),
                Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
                Err(source) => Err(Error::ObjectStore {
                    location: shards.to_string(),
                    source,
                }),
            }
        })
        .await?;
    let mut app_ids = vec![table::COMPACT_APP_ID.to_owned()];
    app_ids.extend(
        listed
            .iter()
            .filter_map(|prefix| prefix.filename().map(str::to_owned)),
    );
    Ok(app_ids)
}

/// The manifest of unit `unit` of app id `app_id`, if a run claimed it.
pub(super) async fn read_manifest(
    lake: &Lake,
    app_id: &str,
    unit: i64,
) -> Result<Option<UnitManifest>> {
    Backoff::STORAGE
        .retry_transient("reading a unit manifest", || {
            read_manifest_once(lake, app_id, unit)
        })
        .await
}

async fn read_manifest_once(lake: &Lake, app_id: &str, unit: i64) -> Result<Option<UnitManifest>> {
    let (store, path) = manifest_path(lake, app_id, unit)?;
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
pub(super) async fn claim(lake: &Lake, manifest: &UnitManifest) -> Result<bool> {
    let (store, path) = manifest_path(lake, &manifest.app_id, manifest.unit)?;
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
            ) => {
                return Ok(read_manifest_once(lake, &manifest.app_id, manifest.unit)
                    .await?
                    .as_ref()
                    == Some(manifest))
            }
            Err(source) if attempt < Backoff::STORAGE.tries => {
                let pause = Backoff::STORAGE.delay(attempt);
                tracing::warn!(unit = manifest.unit, attempt, %source, "claiming the unit failed; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
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

impl Compaction {
    /// A unit is idempotent (its txn version guards each table), so a storage failure that
    /// outlasted the object store's own retries is retried here, whole, with a longer backoff.
    pub(super) async fn process_unit_with_retries(
        &self,
        source: &Source,
        manifest: &UnitManifest,
        state: &mut LakeState,
        ours: bool,
    ) -> Result<CompactMetrics> {
        let mut attempt = 1;
        loop {
            // Ids kept from earlier units are trusted only after units this run made whole: a
            // failed attempt may have marked ids it never committed.
            let recent_ids = if state.keep_recent_ids && ours {
                state.recent_ids.take()
            } else {
                None
            };
            let result = self.process_unit(source, manifest, state, recent_ids).await;
            let result = match result {
                Ok((metrics, deduplicator)) => {
                    state.recent_ids = deduplicator
                        .filter(|ids| state.keep_recent_ids && ids.len() <= RECENT_IDS_MAX);
                    Ok(metrics)
                }
                Err(error) => Err(error),
            };
            match result
                .as_ref()
                .err()
                .and_then(|error| Backoff::UNIT.pause_after(error, attempt))
            {
                Some(pause) => {
                    let error = result
                        .err()
                        .map(|error| error.to_string())
                        .unwrap_or_default();
                    tracing::warn!(unit = manifest.unit, attempt, %error, "unit failed; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                None => return result,
            }
        }
    }

    /// Processes and commits one unit; returns its metrics and, when this attempt deduplicated
    /// every event of the unit, the deduplicator holding their ids.
    async fn process_unit(
        &self,
        source: &Source,
        manifest: &UnitManifest,
        state: &mut LakeState,
        recent_ids: Option<Deduplicator>,
    ) -> Result<(CompactMetrics, Option<Deduplicator>)> {
        let unit = manifest.unit;
        let LakeState {
            events,
            errors,
            ledger,
            ..
        } = state;
        events
            .update_state()
            .await
            .map_err(|source| table::delta(events, source))?;
        errors
            .update_state()
            .await
            .map_err(|source| table::delta(errors, source))?;
        let app_id = manifest.app_id.as_str();
        // Kept ids that lag the table by many commits (other shards') would cost a long catch-up
        // at the commit check: a fresh deduplicator reads only the partitions it touches.
        let recent_ids = recent_ids.filter(|ids| {
            concurrent::loaded_version(events) - ids.version() <= CATCH_UP_COMMITS_MAX
        });
        let write_events = committed_unit(events, app_id).await? < unit;
        let write_errors = committed_unit(errors, app_id).await? < unit;
        let ingested_at = chrono::Utc::now();
        let mut metrics = CompactMetrics::default();
        let mut counts = vec![ObjectCounts::default(); manifest.objects.len()];
        let mut reported_done = vec![false; manifest.objects.len()];
        // Whether `counts` holds the committed event and duplicate counts.
        let mut events_counted = write_events;
        // The ids of every event of the unit, when this attempt deduplicated them all.
        let mut unit_ids = None;

        if write_events || write_errors {
            let mut events_writer = data_file_writer(events, &self.plan)?;
            let mut errors_writer = data_file_writer(errors, &self.plan)?;
            let mut deduplicator = match recent_ids {
                Some(deduplicator) => deduplicator,
                None => Deduplicator::new(events, &self.plan).await?,
            };

            let (sender, mut receiver) = mpsc::channel::<WorkerMessage>(self.plan.workers * 2);
            let pool = workers::spawn(
                source,
                &manifest.objects,
                &self.plan,
                ingested_at.timestamp_micros(),
                sender,
            );
            let mut failure = None;
            while let Some(message) = receiver.recv().await {
                match message {
                    WorkerMessage::Events { object, batch } => {
                        if !write_events {
                            continue;
                        }
                        let started = Instant::now();
                        let (kept, dropped) = deduplicator.filter(batch).await?;
                        metrics.stages.dedup += started.elapsed().as_secs_f64();
                        counts[object].duplicates += dropped;
                        if kept.num_rows() > 0 {
                            let started = Instant::now();
                            events_writer
                                .write(kept)
                                .await
                                .map_err(|source| table::delta(events, source))?;
                            metrics.stages.write += started.elapsed().as_secs_f64();
                        }
                    }
                    WorkerMessage::Errors { batch } => {
                        if write_errors {
                            let started = Instant::now();
                            errors_writer
                                .write(batch)
                                .await
                                .map_err(|source| table::delta(errors, source))?;
                            metrics.stages.write += started.elapsed().as_secs_f64();
                        }
                    }
                    WorkerMessage::Done(done) => {
                        let ObjectDone {
                            object,
                            counts: object_counts,
                            bytes,
                            read_seconds,
                            parse_seconds,
                        } = done;
                        reported_done[object] = true;
                        let entry = &mut counts[object];
                        entry.records = object_counts.records;
                        entry.events = object_counts.events;
                        entry.errors = object_counts.errors;
                        metrics.bytes_in += bytes;
                        metrics.stages.read += read_seconds;
                        metrics.stages.parse += parse_seconds;
                        self.progress.object_done(bytes, object_counts.records);
                    }
                    WorkerMessage::Failed(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            drop(receiver);
            pool.await?;
            // Commit only when every object of the manifest reported done, with counts that
            // add up: a worker that panicked or vanished must fail the unit, never shrink it.
            let incomplete = manifest
                .objects
                .iter()
                .zip(&reported_done)
                .zip(&counts)
                .find(|((_, &done), counts)| {
                    !done || counts.records != counts.events + counts.errors
                })
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
            if write_events {
                let started = Instant::now();
                let adds = events_writer
                    .flush()
                    .await
                    .map_err(|source| table::delta(events, source))?;
                metrics.stages.write += started.elapsed().as_secs_f64();
                let started = Instant::now();
                let (outcome, files, races) = concurrent::commit_events(
                    events,
                    &mut deduplicator,
                    adds,
                    manifest,
                    &mut counts,
                    &self.plan,
                )
                .await?;
                metrics.stages.commit += started.elapsed().as_secs_f64();
                metrics.commit_races += races;
                if outcome == CommitOutcome::AlreadyCommitted {
                    // Another run of this shard committed the unit first: its counts stand.
                    events_counted =
                        ledger::take_committed_counts(events, app_id, unit, &mut counts, false)
                            .await?;
                }
                if outcome == CommitOutcome::Committed {
                    metrics.files_written += files;
                    metrics.records_written +=
                        counts.iter().map(|c| c.events - c.duplicates).sum::<u64>();
                    metrics.duplicates += counts.iter().map(|c| c.duplicates).sum::<u64>();
                }
                failpoint::hit("after-events-commit");
            } else {
                events_counted =
                    ledger::take_committed_counts(events, app_id, unit, &mut counts, false).await?;
            }
            let metadata = ledger::unit_commit_metadata(
                app_id,
                unit,
                &manifest.source_root,
                &counts,
                events_counted,
            );
            if write_errors {
                let started = Instant::now();
                let adds = errors_writer
                    .flush()
                    .await
                    .map_err(|source| table::delta(errors, source))?;
                let files = adds.len() as u64;
                let outcome = commit_unit(errors, adds, app_id, unit, metadata).await?;
                metrics.stages.commit += started.elapsed().as_secs_f64();
                if outcome == CommitOutcome::Committed {
                    metrics.files_written += files;
                    metrics.errors += counts.iter().map(|c| c.errors).sum::<u64>();
                }
                failpoint::hit("after-errors-commit");
            }
            unit_ids = write_events.then_some(deduplicator);
        }

        // When both tables already held the unit no worker ran: all counts come from the
        // errors commit, the last one made.
        if !write_events && !write_errors {
            events_counted =
                ledger::take_committed_counts(errors, app_id, unit, &mut counts, true).await?;
        }
        let started = Instant::now();
        let rows = ledger::ledger_batch(
            unit,
            &manifest.objects,
            &counts,
            events_counted,
            ingested_at.timestamp_micros(),
        )?;
        let mut ledger_writer = deltalake::writer::RecordBatchWriter::for_table(ledger)
            .map_err(|source| table::delta(ledger, source))?;
        use deltalake::writer::DeltaWriter;
        ledger_writer
            .write(rows)
            .await
            .map_err(|source| table::delta(ledger, source))?;
        let adds = ledger_writer
            .flush()
            .await
            .map_err(|source| table::delta(ledger, source))?;
        if commit_unit(ledger, adds, app_id, unit, Default::default()).await?
            == CommitOutcome::Committed
        {
            metrics.objects += manifest.objects.len() as u64;
            metrics.records_in += counts.iter().map(|c| c.records).sum::<u64>();
            metrics.units += 1;
        }
        metrics.stages.commit += started.elapsed().as_secs_f64();
        tracing::info!(unit, objects = manifest.objects.len(), "unit committed");
        Ok((metrics, unit_ids))
    }
}
