//! The unit's data file writers: delta-rs' `RecordBatchWriter`, which splits batches by
//! partition and rolls files at the target size, with the Parquet properties of
//! [`table::data_file_properties`] (bloom filters on `events.id`, which the id index probes).
//!
//! Guarantee: nothing a writer holds reaches a table until its `Add` actions are committed with
//! the unit's txn; `reset` drops what a failed unit wrote so far (its files stay unreferenced,
//! for `vacuum`).

use deltalake::writer::RecordBatchWriter;
use deltalake::DeltaTable;

use crate::config::CompactPlan;
use crate::error::Result;
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
