//! The unit's data file writers: delta-rs' `RecordBatchWriter`, which splits batches by
//! partition and rolls files at the target size, with the Parquet properties compaction uses.
//!
//! Guarantee: nothing a writer holds reaches a table until its `Add` actions are committed with
//! the unit's txn; `reset` drops what a failed unit wrote so far (its files stay unreferenced,
//! for `vacuum`).

use deltalake::writer::RecordBatchWriter;
use deltalake::DeltaTable;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::config::CompactPlan;
use crate::error::Result;
use crate::table;

/// A writer for one of the unit's data tables (`events` or `errors`).
pub(super) fn data_file_writer(
    table: &DeltaTable,
    plan: &CompactPlan,
) -> Result<RecordBatchWriter> {
    Ok(RecordBatchWriter::for_table(table)
        .map_err(|source| table::delta(table, source))?
        .with_writer_properties(data_file_properties(plan.row_group_rows))
        .with_target_file_size(plan.target_file_size))
}

/// How data files are written: zstd level 1 (compaction is CPU-bound) and bounded row groups.
/// Turning dictionaries off for unique columns (`id`, `detail`) was tried and dropped: no faster,
/// and Python `deltalake`/pyarrow then aborted reading the hostile-record lake.
fn data_file_properties(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(row_group_rows))
        .build()
}
