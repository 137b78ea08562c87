//! The unit's data file writers: delta-rs' `RecordBatchWriter`, which splits batches by
//! partition and rolls files at the target size, with the Parquet properties of
//! [`table::data_file_properties`] (bloom filters on `events.id`, which the id index probes).
//! `events` is written by [`EventWriters`]: a lane a worker, each a thread that sorts runs and
//! encodes them, a partition's rows all in one lane.
//!
//! Guarantee: nothing a writer holds reaches a table until its `Add` actions are committed with
//! the unit's txn; `reset` drops what a failed unit wrote so far (its files stay unreferenced,
//! for `vacuum`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::pipeline::thread_cpu_seconds;
use super::sort::SortedRuns;
use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::table;

/// A writer for one of the unit's tables.
pub(super) fn data_file_writer(
    table: &DeltaTable,
    plan: &CompactPlan,
) -> Result<RecordBatchWriter> {
    sized_data_file_writer(table, plan, plan.row_group_rows)
}

/// A writer for files of `rows` rows at most (see [`table::data_file_properties_for_rows`]).
fn sized_data_file_writer(
    table: &DeltaTable,
    plan: &CompactPlan,
    rows: usize,
) -> Result<RecordBatchWriter> {
    let properties = table::data_file_properties_for_rows(
        table::data_file_properties(table, plan.row_group_rows, plan.row_group_bytes),
        rows,
    );
    Ok(RecordBatchWriter::for_table(table)
        .map_err(|source| table::delta(table, source))?
        .with_writer_properties(properties)
        .with_target_file_size(plan.target_file_size))
}

/// Makes a lane's writer for a small partition's file of at most the given rows.
type SizedWriters = Box<dyn FnMut(usize) -> Result<RecordBatchWriter> + Send>;

/// Arrow bytes of batches queued for each lane's writer. The queue is bounded by bytes, not
/// batches: it must absorb the sink's output while the writer sorts and encodes a run (a burst
/// of tens of milliseconds), and a day's batches are small (one partition of a chunk each).
const QUEUED_BYTES: usize = 32 << 20;

/// Arrow bytes of rows the writers hold back to sort (see `sort.rs`), over all partitions and
/// lanes: about 8,000 rows a partition for the ten or so a day's objects fill at once. What
/// they hold when the input ends is sorted and encoded after the workers are done, so it is a
/// tail (encoded by every lane at once).
const HELD_BYTES: usize = 32 << 20;

/// The events writer fed through a bounded channel and run on a blocking thread: Parquet
/// encoding and zstd (the sink's largest cost) overlap the sink's deduplication of the next
/// batches, and the runtime's threads stay free for object-store I/O. Each batch holds one
/// partition's rows (the workers build them so), and goes to that partition's file whole.
///
/// Guarantee: `finish` hands back the `Add` actions of the files every batch sent was written
/// to, closed, or the first error; after an error nothing more is written.
struct BackgroundWriter {
    /// Each batch travels with its share of the queue's bytes, handed back once it is held;
    /// `None` ends the input (the lane then writes what it holds and closes its files).
    sender:
        tokio::sync::mpsc::UnboundedSender<Option<(RecordBatch, Vec<usize>, OwnedSemaphorePermit)>>,
    queue_bytes: Arc<Semaphore>,
    task: tokio::task::JoinHandle<Written>,
}

/// What the writer thread hands back: the files it wrote (`Add` actions, not yet committed) or
/// its first error, and its CPU seconds writing.
type Written = (Result<Vec<Add>>, f64);

impl BackgroundWriter {
    fn spawn(
        mut writer: RecordBatchWriter,
        mut sized_writer: SizedWriters,
        table_url: url::Url,
        partition_columns: Vec<String>,
        run_rows: usize,
        held_bytes: usize,
        piece_bytes: usize,
    ) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut runs = SortedRuns::new(held_bytes, run_rows);
            // Partitions with a file open in `writer`, and small ones with a writer of their
            // own whose bloom filters are sized for `small_rows` (parquet-rs allocates a
            // row group's filter for all its ids at once: 512 KiB for 131,072, where a late
            // day's partition holds a few hundred rows and a day of late events has a hundred
            // such). A small partition that outgrows it has its file closed and goes on in
            // `writer`: one file more.
            let small_rows = (run_rows / 16).max(1);
            let mut open: HashSet<Vec<Option<String>>> = HashSet::new();
            let mut small: HashMap<Vec<Option<String>>, (RecordBatchWriter, usize)> =
                HashMap::new();
            let mut closed: Vec<Add> = Vec::new();
            let mut busy = 0.0;
            let delta = |source: DeltaTableError| table::delta_at(&table_url, source);
            let mut write = |writer: &mut RecordBatchWriter,
                             batch: Option<(RecordBatch, Vec<usize>)>|
             -> Result<()> {
                let started = thread_cpu_seconds();
                let write_runs = || -> Result<()> {
                    let due = match batch {
                        Some((batch, dropped)) => {
                            let key = partition_key(&batch, &partition_columns).map_err(delta)?;
                            runs.push(key, batch, dropped)
                        }
                        None => runs.drain(),
                    }
                    .map_err(|source| delta(source.into()))?;
                    for run in due.into_iter().filter(|run| run.num_rows() > 0) {
                        let key = partition_key(&run, &partition_columns).map_err(delta)?;
                        let rows = run.num_rows();
                        if !open.contains(&key) {
                            if let Some((own, held)) = small.get_mut(&key) {
                                if *held + rows <= small_rows {
                                    *held += rows;
                                    write_run(own, &run, piece_bytes, &partition_columns, &runtime)
                                        .map_err(delta)?;
                                    continue;
                                }
                                closed.extend(runtime.block_on(own.flush()).map_err(delta)?);
                                small.remove(&key);
                            } else if rows <= small_rows {
                                let mut own = sized_writer(small_rows)?;
                                write_run(
                                    &mut own,
                                    &run,
                                    piece_bytes,
                                    &partition_columns,
                                    &runtime,
                                )
                                .map_err(delta)?;
                                small.insert(key, (own, rows));
                                continue;
                            }
                            open.insert(key);
                        }
                        write_run(writer, &run, piece_bytes, &partition_columns, &runtime)
                            .map_err(delta)?;
                    }
                    Ok(())
                };
                let written = write_runs();
                busy += thread_cpu_seconds() - started;
                written
            };
            loop {
                match receiver.blocking_recv() {
                    Some(Some((batch, dropped, queued))) => {
                        drop(queued);
                        if let Err(error) = write(&mut writer, Some((batch, dropped))) {
                            writer.reset();
                            return (Err(error), busy);
                        }
                    }
                    Some(None) => break,
                    // Abandoned (the unit failed elsewhere): what is held is not written.
                    None => {
                        writer.reset();
                        return (Err(Error::WriterStopped), busy);
                    }
                }
            }
            if let Err(error) = write(&mut writer, None) {
                writer.reset();
                return (Err(error), busy);
            }
            // The files' last row groups and footers, on this lane's thread: the lanes close
            // their files side by side, not one after another once the input has ended.
            let started = thread_cpu_seconds();
            let adds = small
                .into_values()
                .try_for_each(|(mut small, _)| {
                    closed.extend(runtime.block_on(small.flush())?);
                    Ok(())
                })
                .and_then(|()| runtime.block_on(writer.flush()))
                .map_err(delta)
                .map(|mut adds| {
                    adds.append(&mut closed);
                    adds
                });
            (adds, busy + thread_cpu_seconds() - started)
        });
        let queue_bytes = Arc::new(Semaphore::new(QUEUED_BYTES));
        Self {
            sender,
            queue_bytes,
            task,
        }
    }

    /// Queues `batch` less its rows numbered in `dropped` (ascending); waits while the queue is
    /// full. Fails once the writer has stopped (its own error comes from `finish`).
    async fn write(&self, batch: RecordBatch, dropped: Vec<usize>) -> Result<()> {
        // A batch larger than the whole queue waits for it to empty.
        let bytes = batch.get_array_memory_size().clamp(1, QUEUED_BYTES) as u32;
        let queued = Arc::clone(&self.queue_bytes)
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| Error::WriterStopped)?;
        self.sender
            .send(Some((batch, dropped, queued)))
            .map_err(|_| Error::WriterStopped)
    }

    /// Waits for every queued batch and the lane's files to close; returns their `Add` actions
    /// and the CPU seconds it spent writing.
    async fn finish(self) -> Result<(Vec<Add>, f64)> {
        // Fails only when the lane has stopped: its own error comes from the task.
        let _ = self.sender.send(None);
        self.stop().await
    }

    /// Waits for the lane's thread; with no end of input sent, it leaves its files unfinished.
    async fn stop(self) -> Result<(Vec<Add>, f64)> {
        drop(self.sender);
        let (adds, busy) = self.task.await.map_err(|join| Error::WorkerLost {
            object: "the unit's events writer".into(),
            reason: join.to_string(),
        })?;
        Ok((adds?, busy))
    }
}

/// The unit's events writers: a background writer a lane, each partition's rows all in one
/// lane, so that sorting and encoding, which one thread did for the whole unit (half a run's
/// CPU), keep every core busy, and the writers' last runs are encoded side by side when the
/// input ends.
///
/// Guarantee: as [`BackgroundWriter`]'s, for every lane; `finish` hands back every lane's
/// files or the first error.
pub(super) struct EventWriters {
    lanes: Vec<BackgroundWriter>,
    partition_columns: Vec<String>,
    /// Each partition's lane, given when its first rows come: the lane sent the fewest bytes so
    /// far. Partitions differ in size (a day's most common event type holds a fifth of it), and
    /// a lane that held more of them was still encoding when the others were done; by a hash,
    /// which lanes got the large ones changed from run to run.
    lane_of: HashMap<Vec<Option<String>>, usize>,
    lane_bytes: Vec<usize>,
}

impl EventWriters {
    pub(super) fn spawn(table: &DeltaTable, plan: &CompactPlan) -> Result<Self> {
        let partition_columns = plan.template.column_names();
        let lanes = if partition_columns.is_empty() {
            1
        } else {
            plan.workers.max(1)
        };
        let lanes: Vec<BackgroundWriter> = (0..lanes)
            .map(|_| {
                let (events, plan_for_sizes) = (table.clone(), plan.clone());
                Ok(BackgroundWriter::spawn(
                    data_file_writer(table, plan)?,
                    Box::new(move |rows| sized_data_file_writer(&events, &plan_for_sizes, rows)),
                    table.table_url().clone(),
                    partition_columns.clone(),
                    plan.row_group_rows,
                    HELD_BYTES / lanes,
                    plan.row_group_bytes / 4,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            lane_bytes: vec![0; lanes.len()],
            lanes,
            partition_columns,
            lane_of: HashMap::new(),
        })
    }

    /// Queues `batch` (one partition's rows) less its rows numbered in `dropped` on its
    /// partition's lane.
    pub(super) async fn write(&mut self, batch: RecordBatch, dropped: Vec<usize>) -> Result<()> {
        let lane = match self.lanes.len() {
            1 => 0,
            _ => {
                let key = partition_key(&batch, &self.partition_columns).unwrap_or_default();
                let lane_bytes = &self.lane_bytes;
                *self.lane_of.entry(key).or_insert_with(|| {
                    (0..lane_bytes.len())
                        .min_by_key(|&lane| lane_bytes[lane])
                        .unwrap_or(0)
                })
            }
        };
        self.lane_bytes[lane] += batch.get_array_memory_size();
        self.lanes[lane].write(batch, dropped).await
    }

    /// Waits for every lane; returns the files they wrote (`Add` actions, to commit) and the
    /// CPU seconds they spent writing.
    pub(super) async fn finish(self) -> Result<(Vec<Add>, f64)> {
        let mut adds = Vec::new();
        let mut busy = 0.0;
        let mut first_error = None;
        for lane in self.lanes {
            match lane.finish().await {
                Ok((lane_adds, seconds)) => {
                    adds.extend(lane_adds);
                    busy += seconds;
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        // A failed lane's files, and the others', stay unreferenced (for `vacuum`).
        match first_error {
            Some(error) => Err(error),
            None => Ok((adds, busy)),
        }
    }

    /// A lane's own error if one stopped, else `error`.
    pub(super) async fn stopped_with(self, error: Error) -> Error {
        let mut own = None;
        for lane in self.lanes {
            match lane.stop().await {
                Err(Error::WriterStopped) | Ok(_) => {}
                Err(error) => {
                    own.get_or_insert(error);
                }
            }
        }
        own.unwrap_or(error)
    }
}

/// The partition of `batch` (whose rows share it) as a map key: each partition column's value
/// in the first row as text, `None` for null (a column's type is fixed, so text tells values apart).
fn partition_key(
    batch: &RecordBatch,
    partition_columns: &[String],
) -> std::result::Result<Vec<Option<String>>, DeltaTableError> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    partition_columns
        .iter()
        .map(|name| {
            let column = batch.column_by_name(name).ok_or_else(|| {
                DeltaTableError::generic("a partition column is missing from the batch")
            })?;
            if column.is_null(0) {
                return Ok(None);
            }
            Ok(Some(arrow::util::display::array_value_to_string(
                column, 0,
            )?))
        })
        .collect()
}

/// `run` in pieces of about `piece_bytes` of Arrow data (zero-copy slices). Parquet's writer
/// cuts a row group at its byte bound only between the rows of one write and the next: the
/// first write into a row group goes in whole, so a run of 16 MiB written at once made a row
/// group of all of it.
fn pieces(run: &RecordBatch, piece_bytes: usize) -> impl Iterator<Item = RecordBatch> + '_ {
    let rows = run.num_rows();
    let row_bytes = run.get_array_memory_size().div_ceil(rows.max(1)).max(1);
    let piece_rows = (piece_bytes / row_bytes).max(1);
    (0..rows)
        .step_by(piece_rows)
        .map(move |start| run.slice(start, piece_rows.min(rows - start)))
}

/// Writes `run`, whose rows share their partition values, to its partition's file in `writer`.
fn write_run(
    writer: &mut RecordBatchWriter,
    run: &RecordBatch,
    piece_bytes: usize,
    partition_columns: &[String],
    runtime: &tokio::runtime::Handle,
) -> std::result::Result<(), DeltaTableError> {
    pieces(run, piece_bytes)
        .try_for_each(|piece| runtime.block_on(write_partition(writer, piece, partition_columns)))
}

/// Writes `batch`, whose rows share their partition values, to that partition's file.
async fn write_partition(
    writer: &mut RecordBatchWriter,
    batch: RecordBatch,
    partition_columns: &[String],
) -> std::result::Result<(), DeltaTableError> {
    if partition_columns.is_empty() || batch.num_rows() == 0 {
        return writer.write(batch).await;
    }
    let values = partition_columns
        .iter()
        .map(|name| {
            let column = batch.column_by_name(name)?;
            Some((name.clone(), ScalarExt::from_array(column.as_ref(), 0)?))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| DeltaTableError::generic("a partition column is missing from the batch"))?;
    writer
        .write_partition(batch, &values, WriteMode::Default)
        .await
        .map(drop)
}
