//! The unit's data file writers: delta-rs' `RecordBatchWriter`, which splits batches by
//! partition and rolls files at the target size, with the Parquet properties of
//! [`table::data_file_properties`] (bloom filters on `events.id`, which the id index probes).
//!
//! Guarantee: nothing a writer holds reaches a table until its `Add` actions are committed with
//! the unit's txn; `reset` drops what a failed unit wrote so far (its files stay unreferenced,
//! for `vacuum`).

use arrow::array::RecordBatch;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};

use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::table;

/// A writer for one of the unit's tables.
pub(super) fn data_file_writer(
    table: &DeltaTable,
    plan: &CompactPlan,
) -> Result<RecordBatchWriter> {
    Ok(RecordBatchWriter::for_table(table)
        .map_err(|source| table::delta(table, source))?
        .with_writer_properties(table::data_file_properties(table, plan.row_group_rows))
        .with_target_file_size(plan.target_file_size))
}

/// Batches queued for the background writer (each at most a worker batch).
const BATCHES_QUEUED: usize = 4;

/// The events writer fed through a bounded channel and run on a blocking thread: Parquet
/// encoding and zstd (the sink's largest cost) overlap the sink's deduplication of the next
/// batches, and the runtime's threads stay free for object-store I/O. Each batch holds one
/// partition's rows (the workers build them so), and goes to that partition's file whole.
///
/// Guarantee: `finish` hands back the writer with every batch sent written, or the first
/// error; after an error nothing more is written.
pub(super) struct BackgroundWriter {
    sender: tokio::sync::mpsc::Sender<RecordBatch>,
    task: tokio::task::JoinHandle<Written>,
}

/// What the writer thread hands back: the writer, its first error, its busy seconds.
type Written = (RecordBatchWriter, Result<()>, f64);

impl BackgroundWriter {
    pub(super) fn spawn(
        mut writer: RecordBatchWriter,
        table_url: url::Url,
        partition_columns: Vec<String>,
    ) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<RecordBatch>(BATCHES_QUEUED);
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let mut busy = 0.0;
            while let Some(batch) = receiver.blocking_recv() {
                let started = std::time::Instant::now();
                if let Err(source) =
                    runtime.block_on(write_partition(&mut writer, batch, &partition_columns))
                {
                    return (writer, Err(table::delta_at(&table_url, source)), busy);
                }
                busy += started.elapsed().as_secs_f64();
            }
            (writer, Ok(()), busy)
        });
        Self { sender, task }
    }

    /// Queues `batch`; waits while the queue is full. Fails once the writer has stopped (its
    /// own error comes from `finish`).
    pub(super) async fn write(&self, batch: RecordBatch) -> Result<()> {
        self.sender
            .send(batch)
            .await
            .map_err(|_| Error::WriterStopped)
    }

    /// Waits for every queued batch; returns the writer and the seconds it spent writing.
    pub(super) async fn finish(self) -> Result<(RecordBatchWriter, f64)> {
        drop(self.sender);
        let (writer, written, busy) = self.task.await.map_err(|join| Error::WorkerLost {
            object: "the unit's events writer".into(),
            reason: join.to_string(),
        })?;
        written?;
        Ok((writer, busy))
    }

    /// The writer's own error if it stopped, else `error`.
    pub(super) async fn stopped_with(self, error: Error) -> Error {
        match self.finish().await {
            Ok(_) => error,
            Err(own) => own,
        }
    }
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
