//! The unit protocol: a claimed unit (`manifest.rs`) is processed and committed to each table in
//! a fixed order, each commit guarded by the unit's txn version.
//!
//! ```text
//! claim unit N: put <lake>/_eventlake/compact/unit-N.json (create-only)
//! process:      workers ─▶ sink (id_index: first of each id ─▶ writers)
//!               ─▶ commit.rs: ids the table holds dropped
//! commit:       events(txn N) ─▶ errors(txn N) ─▶ source_objects(txn N)
//! ```
//!
//! Guarantee: a run that dies at any instant leaves a unit whose manifest names its objects; the
//! next run (or a concurrent one) re-reads them and commits only to the tables whose txn version
//! is still below N, so each object's records land once. A unit commits only when every object
//! of its manifest reported done with counts that add up.

use std::time::Instant;

use tokio::sync::mpsc;

use super::commit;
use super::id_index::UnitIds;
use super::manifest::UnitManifest;
use super::pipeline::{ObjectDone, WorkerMessage};
use super::workers::{self, UnitInput};
use super::writers::{data_file_writer, EventWriters};
use super::{CompactMetrics, LakeState, Units};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::retry::Backoff;
use crate::table::ledger::{self, ObjectCounts};
use crate::table::{self, commit_unit, committed_unit, refresh, CommitOutcome};
use deltalake::DeltaTable;

/// Which of the unit's tables already hold it, from their txn versions: the writes a run
/// still owes it. Commits go events ─▶ errors ─▶ ledger, so a unit is held by a prefix of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// No table holds it: read the objects, write and commit all three.
    Nothing,
    /// `events` holds it (a run stopped after that commit): read the objects again for the
    /// errors; the committed event counts come from the events commit.
    Events,
    /// `events` and `errors` hold it: only the ledger rows remain, with the committed counts.
    EventsAndErrors,
}

impl Held {
    async fn of(events: &DeltaTable, errors: &DeltaTable, app_id: &str, unit: i64) -> Result<Self> {
        let events_hold = committed_unit(events, app_id).await? >= unit;
        let errors_hold = committed_unit(errors, app_id).await? >= unit;
        Ok(match (events_hold, errors_hold) {
            (false, false) => Held::Nothing,
            (true, false) => Held::Events,
            (true, true) => Held::EventsAndErrors,
            // Errors commit only after events: a lake where they hold it alone was written
            // by something else.
            (false, true) => {
                return Err(Error::Manifest {
                    path: format!("{app_id} unit {unit}"),
                    reason: "the errors table holds this unit but the events table does not".into(),
                })
            }
        })
    }
}

/// What reading a unit's objects produced, before anything is committed.
struct UnitOutput {
    /// The events files the lanes wrote (closed, not yet committed).
    events_adds: Vec<deltalake::kernel::Add>,
    errors_writer: deltalake::writer::RecordBatchWriter,
    /// The ids of the unit's kept events, by partition.
    unit_ids: UnitIds,
    counts: Vec<ObjectCounts>,
}

impl Units {
    /// A unit is idempotent (its txn version guards each table), so a storage failure that
    /// outlasted the object store's own retries is retried here, whole, with a longer backoff.
    pub(super) async fn process_unit_with_retries(
        &self,
        input: &UnitInput,
        manifest: &UnitManifest,
        state: &mut LakeState,
    ) -> Result<CompactMetrics> {
        let mut attempt = 1;
        loop {
            let result = self.process_unit(input, manifest, state).await;
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

    /// Processes and commits one unit: what the tables do not yet hold of it.
    async fn process_unit(
        &self,
        input: &UnitInput,
        manifest: &UnitManifest,
        state: &mut LakeState,
    ) -> Result<CompactMetrics> {
        let unit = manifest.unit;
        let app_id = manifest.app_id.as_str();
        // Errors first: units commit to events before errors, so a unit the errors table was
        // seen to hold is in the events state read after it, whatever a concurrent run commits
        // between the two reads (read the other way round, a unit committed in between looks
        // held by errors alone).
        refresh(&mut state.errors).await?;
        failpoint::hold("hold-between-state-reads").await;
        refresh(&mut state.events).await?;
        let held = Held::of(&state.events, &state.errors, app_id, unit).await?;
        let ingested_at = chrono::Utc::now();
        let mut metrics = CompactMetrics::default();
        // Whether `counts` holds the committed event and duplicate counts.
        let (counts, events_counted) = match held {
            Held::Nothing | Held::Events => {
                let output = self
                    .read_unit(input, manifest, state, held, ingested_at, &mut metrics)
                    .await?;
                self.commit_data(manifest, state, held, output, &mut metrics)
                    .await?
            }
            // No worker runs: all counts come from the errors commit, the last one made.
            Held::EventsAndErrors => {
                let mut counts = vec![ObjectCounts::default(); manifest.objects.len()];
                let counted =
                    ledger::take_committed_counts(&state.errors, app_id, unit, &mut counts, true)
                        .await?;
                (counts, counted)
            }
        };
        let started = Instant::now();
        let rows = ledger::ledger_batch(
            unit,
            &manifest.objects,
            &counts,
            events_counted,
            ingested_at.timestamp_micros(),
        )?;
        let ledger = &mut state.ledger;
        let mut ledger_writer = data_file_writer(ledger, &self.plan)?;
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
        Ok(metrics)
    }

    /// Reads every object of the unit through the workers into the unit's writers (events
    /// only when `events` does not hold the unit yet), keeping the first of each id per
    /// partition. Fails, with nothing committed, unless every object reported done with counts
    /// that add up.
    async fn read_unit(
        &self,
        input: &UnitInput,
        manifest: &UnitManifest,
        state: &LakeState,
        held: Held,
        ingested_at: chrono::DateTime<chrono::Utc>,
        metrics: &mut CompactMetrics,
    ) -> Result<UnitOutput> {
        use deltalake::writer::DeltaWriter;
        let write_events = held == Held::Nothing;
        let (events, errors) = (&state.events, &state.errors);
        let mut events_writer = EventWriters::spawn(events, &self.plan)?;
        let mut errors_writer = data_file_writer(errors, &self.plan)?;
        let mut unit_ids = UnitIds::new(self.plan.template.column_names());
        let mut counts = vec![ObjectCounts::default(); manifest.objects.len()];
        let mut reported_done = vec![false; manifest.objects.len()];
        let (sender, mut receiver) = mpsc::channel::<WorkerMessage>(self.plan.workers * 2);
        let pool = workers::spawn(
            input,
            &manifest.objects,
            &self.plan,
            ingested_at.timestamp_micros(),
            sender,
        );
        let mut failure = None;
        while let Some(message) = receiver.recv().await {
            match message {
                WorkerMessage::Events { entries, batch } => {
                    if !write_events {
                        continue;
                    }
                    let started = Instant::now();
                    let dropped = match unit_ids.keep_new(&batch) {
                        Ok(dropped) => dropped,
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    };
                    metrics.stages.dedup += started.elapsed().as_secs_f64();
                    entries.entries_of(&dropped, |object| counts[object].duplicates += 1);
                    if batch.num_rows() > dropped.len()
                        && events_writer.write(batch, dropped).await.is_err()
                    {
                        failure = Some(Error::WriterStopped);
                        break;
                    }
                }
                WorkerMessage::Errors { batch } => {
                    let started = Instant::now();
                    if let Err(source) = errors_writer.write(batch).await {
                        failure = Some(table::delta(errors, source));
                        break;
                    }
                    metrics.stages.write += started.elapsed().as_secs_f64();
                }
                WorkerMessage::Done(done) => {
                    for ObjectDone {
                        object,
                        counts: object_counts,
                        bytes,
                        read_seconds,
                        parse_seconds,
                    } in done
                    {
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
                }
                WorkerMessage::Failed(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        drop(receiver);
        pool.await?;
        let events_adds = match failure {
            // The writer's own error says more than that it stopped.
            Some(Error::WriterStopped) => {
                return Err(events_writer.stopped_with(Error::WriterStopped).await)
            }
            Some(error) => {
                errors_writer.reset();
                return Err(events_writer.stopped_with(error).await);
            }
            None => {
                let (adds, busy) = events_writer.finish().await?;
                metrics.stages.write += busy;
                adds
            }
        };
        let mut output = UnitOutput {
            events_adds,
            errors_writer,
            unit_ids,
            counts,
        };
        // A worker that panicked or vanished must fail the unit, never shrink it.
        let incomplete = manifest
            .objects
            .iter()
            .zip(&reported_done)
            .zip(&output.counts)
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
        if let Some(error) = incomplete {
            // The events files stay unreferenced (for `vacuum`).
            output.errors_writer.reset();
            return Err(error);
        }
        Ok(output)
    }

    /// Commits what the unit owes `events` and `errors`; returns the per-object counts and
    /// whether their event counts are the committed ones. Each commit carries the counts, so a
    /// run that finishes a unit another began writes the ledger with the committed figures.
    async fn commit_data(
        &self,
        manifest: &UnitManifest,
        state: &mut LakeState,
        held: Held,
        output: UnitOutput,
        metrics: &mut CompactMetrics,
    ) -> Result<(Vec<ObjectCounts>, bool)> {
        use deltalake::writer::DeltaWriter;
        let (unit, app_id) = (manifest.unit, manifest.app_id.as_str());
        let UnitOutput {
            events_adds,
            mut errors_writer,
            unit_ids,
            mut counts,
        } = output;
        let events = &mut state.events;
        let events_counted = if held == Held::Nothing {
            let started = Instant::now();
            let committed = commit::commit_events(
                events,
                &mut state.table_ids,
                &unit_ids,
                events_adds,
                manifest,
                counts,
                &self.plan,
            )
            .await?;
            counts = committed.counts;
            metrics.stages.commit += started.elapsed().as_secs_f64();
            metrics.commit_races += committed.races;
            failpoint::hit("after-events-commit");
            match committed.outcome {
                CommitOutcome::Committed => {
                    metrics.files_written += committed.files;
                    metrics.records_written +=
                        counts.iter().map(|c| c.events - c.duplicates).sum::<u64>();
                    metrics.duplicates += counts.iter().map(|c| c.duplicates).sum::<u64>();
                    true
                }
                // Another run of this shard committed the unit first: its counts stand.
                _ => {
                    ledger::take_committed_counts(events, app_id, unit, &mut counts, false).await?
                }
            }
        } else {
            ledger::take_committed_counts(events, app_id, unit, &mut counts, false).await?
        };
        drop(unit_ids);
        let errors = &mut state.errors;
        let metadata = ledger::unit_commit_metadata(
            app_id,
            unit,
            &manifest.source_root,
            &counts,
            events_counted,
        );
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
        Ok((counts, events_counted))
    }
}
