//! Committing a unit's events beside other writers (other shards, or runs of other shard
//! counts): an id delivered twice may sit in two shards' objects, and each shard's deduplicator
//! only knows the table as it was when the unit began.
//!
//! ```text
//! loop: load events ─▶ commits since the deduplicator's version? ─▶ their ids, in our partitions
//!         ─▶ drop those ids from our unit's files (rewrite them) ─▶ commit at exactly the next
//!         version (no rebase): if another commit got there first, loop
//! ```
//!
//! Guarantee: when the commit lands, every commit before it was checked, so `events` never holds
//! an id twice in a partition however many shards write. Dropped rows count as duplicates of the
//! object they came from. The check reads only the `id` column of files other writers added to
//! the partitions the unit touches (or whose ids the deduplicator keeps), and only of commits
//! that changed data (an `optimize` beside us adds nothing new).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use deltalake::kernel::{Action, Add};
use deltalake::writer::DeltaWriter;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::dedup::{partition_key, Deduplicator, IdSet};
use super::unit::UnitManifest;
use super::writers::data_file_writer;
use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::table::ledger::{self, ObjectCounts};
use crate::table::{self, batch::events_schema, data_file, CommitOutcome, Race};

/// Commits the unit's `adds` to `events` once no commit it has not checked precedes it;
/// returns the outcome, the files committed and the commits it lost a race to.
pub(super) async fn commit_events(
    events: &mut DeltaTable,
    deduplicator: &mut Deduplicator,
    mut adds: Vec<Add>,
    manifest: &UnitManifest,
    counts: &mut [ObjectCounts],
    plan: &CompactPlan,
) -> Result<(CommitOutcome, u64, u64)> {
    let partition_columns = plan.template.column_names();
    let mut races = 0u64;
    loop {
        events
            .update_state()
            .await
            .map_err(|source| table::delta(events, source))?;
        if table::transaction_version(events, &manifest.app_id).await? >= manifest.unit {
            return Ok((CommitOutcome::AlreadyCommitted, 0, races));
        }
        let latest = loaded_version(events);
        if latest > deduplicator.version() {
            let mut wanted: HashSet<String> = adds
                .iter()
                .map(|add| add_partition_key(add, &partition_columns))
                .collect();
            wanted.extend(deduplicator.loaded_partitions().cloned());
            let others = ids_added_after(
                events,
                deduplicator.version(),
                latest,
                &partition_columns,
                &wanted,
            )
            .await?;
            adds = drop_ids_of_others(events, adds, &others, deduplicator, manifest, counts, plan)
                .await?;
            deduplicator.absorb(others, latest, events).await?;
        }
        let files = adds.len() as u64;
        let metadata = ledger::unit_commit_metadata(
            &manifest.app_id,
            manifest.unit,
            &manifest.source_root,
            counts,
            true,
        );
        let outcome = table::commit_once(
            events,
            adds.clone(),
            &manifest.app_id,
            manifest.unit,
            metadata,
            Race::Refuse,
        )
        .await?;
        match outcome {
            CommitOutcome::Raced => {
                races += 1;
                // Another writer committed in between: check its files too, then try again.
                let pause = std::time::Duration::from_millis(races.min(20) * 10);
                tracing::debug!(
                    unit = manifest.unit,
                    races,
                    "events commit raced; checking the winner"
                );
                tokio::time::sleep(pause).await;
            }
            CommitOutcome::Committed => {
                deduplicator.committed(latest + 1);
                return Ok((outcome, files, races));
            }
            CommitOutcome::AlreadyCommitted => return Ok((outcome, 0, races)),
        }
    }
}

/// The table's loaded version (-1 before its first commit).
pub(super) fn loaded_version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |version| version as i64)
}

fn add_partition_key(add: &Add, partition_columns: &[String]) -> String {
    partition_key(partition_columns.iter().map(|name| {
        add.partition_values
            .get(name)
            .and_then(|value| value.as_deref())
    }))
}

/// The ids of files that commits `after+1 ..= until` added with new data, by partition, for
/// the partitions in `wanted`.
async fn ids_added_after(
    events: &DeltaTable,
    after: i64,
    until: i64,
    partition_columns: &[String],
    wanted: &HashSet<String>,
) -> Result<HashMap<String, IdSet>> {
    let mut ids: HashMap<String, IdSet> = HashMap::new();
    let log_store = events.log_store();
    let store = events.object_store();
    for version in (after + 1).max(0)..=until {
        let bytes = log_store
            .read_commit_entry(version as u64)
            .await
            .map_err(|source| table::delta(events, source))?
            .ok_or_else(|| Error::CommitGone {
                table: events.table_url().to_string(),
                version,
            })?;
        let actions = deltalake::logstore::get_actions(version as u64, &bytes)
            .map_err(|source| table::delta(events, source))?;
        for action in actions {
            let Action::Add(add) = action else { continue };
            if !add.data_change {
                continue;
            }
            let key = add_partition_key(&add, partition_columns);
            if !wanted.contains(&key) {
                continue;
            }
            let set = ids.entry(key).or_default();
            let mut batches = data_file::read(store.clone(), &add.path, Some("id")).await?;
            while let Some(batch) = batches
                .try_next()
                .await
                .map_err(|source| parquet_error(&add, source))?
            {
                for id in text_column(&batch, "id")?.iter().flatten() {
                    set.insert(id);
                }
            }
        }
    }
    Ok(ids)
}

/// Rewrites the unit's files that hold an id another writer committed in the same partition,
/// without those rows; counts each dropped row as a duplicate of its object.
async fn drop_ids_of_others(
    events: &DeltaTable,
    adds: Vec<Add>,
    others: &HashMap<String, IdSet>,
    deduplicator: &Deduplicator,
    manifest: &UnitManifest,
    counts: &mut [ObjectCounts],
    plan: &CompactPlan,
) -> Result<Vec<Add>> {
    let partition_columns = plan.template.column_names();
    let store = events.object_store();
    let object_index: HashMap<&str, usize> = manifest
        .objects
        .iter()
        .enumerate()
        .map(|(index, object)| (object.uri.as_str(), index))
        .collect();
    let schema = events_schema(&plan.template);
    let duplicates_before: u64 = counts.iter().map(|c| c.duplicates).sum();
    let mut kept_adds = Vec::with_capacity(adds.len());
    let mut writer = None;
    for add in adds {
        let key = add_partition_key(&add, &partition_columns);
        let Some(taken) = others
            .get(&key)
            .filter(|taken| deduplicator.wrote_any(taken))
        else {
            kept_adds.push(add);
            continue;
        };
        let writer = match &mut writer {
            Some(writer) => writer,
            None => writer.insert(data_file_writer(events, plan)?),
        };
        let mut batches = data_file::read(store.clone(), &add.path, None).await?;
        while let Some(batch) = batches
            .try_next()
            .await
            .map_err(|source| parquet_error(&add, source))?
        {
            let ids = text_column(&batch, "id")?;
            let objects = text_column(&batch, "source_object")?;
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|row| {
                    let duplicate = ids.is_valid(row) && taken.contains(ids.value(row));
                    if duplicate {
                        if let Some(&index) = object_index.get(objects.value(row)) {
                            counts[index].duplicates += 1;
                        }
                    }
                    Some(!duplicate)
                })
                .collect();
            let kept = arrow::compute::filter_record_batch(&batch, &keep)?;
            if kept.num_rows() > 0 {
                let full = with_partition_columns(&schema, &kept, &add)?;
                writer
                    .write(full)
                    .await
                    .map_err(|source| table::delta(events, source))?;
            }
        }
        // The old file was never committed: nothing refers to it.
        let path = data_path(&add)?;
        if let Err(error) = store.delete(&path).await {
            tracing::warn!(%error, path = %path, "removing a rewritten data file failed; vacuum will");
        }
    }
    let dropped: u64 = counts.iter().map(|c| c.duplicates).sum::<u64>() - duplicates_before;
    if dropped > 0 {
        tracing::info!(
            unit = manifest.unit,
            dropped,
            "dropped ids another writer committed first"
        );
    }
    if let Some(mut writer) = writer {
        kept_adds.extend(
            writer
                .flush()
                .await
                .map_err(|source| table::delta(events, source))?,
        );
    }
    Ok(kept_adds)
}

fn data_path(add: &Add) -> Result<Path> {
    Path::from_url_path(&add.path).map_err(|source| Error::ObjectStore {
        location: add.path.clone(),
        source: source.into(),
    })
}

fn parquet_error(add: &Add, source: parquet::errors::ParquetError) -> Error {
    Error::ReadDataFile {
        path: add.path.clone(),
        source,
    }
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::Column {
        query: "an events data file",
        column: name.to_owned(),
        reason: "is missing".into(),
    })?;
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::Column {
            query: "an events data file",
            column: name.to_owned(),
            reason: "is not text".into(),
        })
}

/// A data file's rows with the partition columns the file leaves to its path put back, in the
/// table's column order, for the writer.
fn with_partition_columns(
    schema: &arrow::datatypes::SchemaRef,
    batch: &RecordBatch,
    add: &Add,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => Ok(arrow::compute::cast(column, field.data_type())?),
            None => {
                let value = add.partition_values.get(field.name()).cloned().flatten();
                let array: ArrayRef = Arc::new(StringArray::from(vec![value; rows]));
                Ok(arrow::compute::cast(&array, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
