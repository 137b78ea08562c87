//! Committing a unit's events: the id index finds which of the unit's ids the table already
//! holds, the unit's files are rewritten without them, and the commit lands at exactly the next
//! version, so that no commit it did not check precedes it (other shards, runs of other shard
//! counts, or a second process on the same lake).
//!
//! ```text
//! load events (version V) ─▶ ids held by the files of the unit's partitions at V (first try),
//!                            or by files added after the version last checked (after a race)
//!   ─▶ drop them from the unit's files (rewritten) ─▶ commit at V+1 (no rebase) ─▶ raced? loop
//! ```
//!
//! Guarantee: when the commit lands, every earlier commit's files in the unit's partitions were
//! checked, so `events` never holds an id twice in a partition however many writers there are.
//! Dropped rows count as duplicates of the object they came from. After [`MAX_COMMIT_RACES`]
//! lost races in a row the unit fails (transient: it is retried whole, from the table as it is).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use deltalake::kernel::{Action, Add};
use deltalake::writer::DeltaWriter;
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use super::id_index::{id_column, text_column, IdSet, TableFile, TableIds, UnitIds};
use super::manifest::UnitManifest;
use super::writers::data_file_writer;
use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::table::ledger::{self, ObjectCounts};
use crate::table::{self, batch::events_schema, data_file, CommitOutcome, Race};

/// Lost races in a row before the unit gives up (delta-rs bounds its own retries alike).
pub(super) const MAX_COMMIT_RACES: u64 = 64;

/// What the events commit did.
pub(super) struct EventsCommitted {
    pub outcome: CommitOutcome,
    /// Data files the commit added.
    pub files: u64,
    /// Commits of other writers that took the version this one was to have.
    pub races: u64,
    /// The unit's per-object counts, with the rows the table already held counted as
    /// duplicates (what the commit's metadata says).
    pub counts: Vec<ObjectCounts>,
}

/// Commits the unit's `adds` to `events` once the id index has checked every commit before it.
pub(super) async fn commit_events(
    events: &mut DeltaTable,
    index: &mut TableIds,
    unit_ids: &UnitIds,
    mut adds: Vec<Add>,
    manifest: &UnitManifest,
    mut counts: Vec<ObjectCounts>,
    plan: &CompactPlan,
) -> Result<EventsCommitted> {
    let partition_columns = plan.template.column_names();
    // The version whose files have been checked.
    let mut checked: Option<i64> = None;
    let mut races = 0u64;
    loop {
        events
            .update_state()
            .await
            .map_err(|source| table::delta(events, source))?;
        if table::transaction_version(events, &manifest.app_id).await? >= manifest.unit {
            return Ok(EventsCommitted {
                outcome: CommitOutcome::AlreadyCommitted,
                files: 0,
                races,
                counts,
            });
        }
        let latest = loaded_version(events);
        let files = match checked {
            None => TableIds::files_in_partitions(events, unit_ids)?,
            Some(version) if version < latest => {
                files_added_after(events, version, latest, &partition_columns).await?
            }
            Some(_) => Vec::new(),
        };
        let probed = files.len();
        let taken = index.taken(events.object_store(), unit_ids, files).await?;
        tracing::debug!(
            unit = manifest.unit,
            ids = unit_ids.len(),
            files = probed,
            taken = taken.values().map(IdSet::len).sum::<usize>(),
            run_stats = ?index.stats,
            "checked the unit's ids against the table"
        );
        if !taken.is_empty() {
            let (kept, dropped) = drop_taken(events, adds, &taken, manifest, plan).await?;
            adds = kept;
            for (object, dropped) in counts.iter_mut().zip(dropped) {
                object.duplicates += dropped;
            }
        }
        checked = Some(latest);
        crate::failpoint::hold("hold-before-events-commit").await;
        let files = adds.len() as u64;
        let metadata = ledger::unit_commit_metadata(
            &manifest.app_id,
            manifest.unit,
            &manifest.source_root,
            &counts,
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
                if races >= MAX_COMMIT_RACES {
                    return Err(Error::CommitRaces {
                        table: events.table_url().to_string(),
                        races,
                    });
                }
                // Another writer committed in between: check its files too, then try again.
                let pause = std::time::Duration::from_millis(races.min(20) * 10);
                tracing::debug!(
                    unit = manifest.unit,
                    races,
                    "events commit raced; checking the winner"
                );
                tokio::time::sleep(pause).await;
            }
            outcome => {
                if outcome == CommitOutcome::Committed {
                    index.cover(unit_ids, &adds, &partition_columns)?;
                }
                return Ok(EventsCommitted {
                    outcome,
                    files: if outcome == CommitOutcome::Committed {
                        files
                    } else {
                        0
                    },
                    races,
                    counts,
                });
            }
        }
    }
}

/// The table's loaded version (-1 before its first commit).
pub(super) fn loaded_version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |version| version as i64)
}

/// The files that commits `after+1 ..= until` added with new data (an `optimize` beside us
/// rewrites ids already checked).
async fn files_added_after(
    events: &DeltaTable,
    after: i64,
    until: i64,
    partition_columns: &[String],
) -> Result<Vec<TableFile>> {
    let log_store = events.log_store();
    let mut files = Vec::new();
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
            if let Action::Add(add) = action {
                if add.data_change {
                    files.push(TableFile::of_add(&add, partition_columns)?);
                }
            }
        }
    }
    Ok(files)
}

/// Rewrites the unit's files that hold an id the table already holds in the same partition,
/// without those rows. Returns the unit's files and the rows dropped from each manifest object.
async fn drop_taken(
    events: &DeltaTable,
    adds: Vec<Add>,
    taken: &HashMap<String, IdSet>,
    manifest: &UnitManifest,
    plan: &CompactPlan,
) -> Result<(Vec<Add>, Vec<u64>)> {
    let partition_columns = plan.template.column_names();
    let store = events.object_store();
    let object_index: HashMap<&str, usize> = manifest
        .objects
        .iter()
        .enumerate()
        .map(|(index, object)| (object.uri.as_str(), index))
        .collect();
    let schema = events_schema(&plan.template);
    let mut dropped_of_object = vec![0u64; manifest.objects.len()];
    let mut kept_adds = Vec::with_capacity(adds.len());
    let mut writer = None;
    for add in adds {
        let file = TableFile::of_add(&add, &partition_columns)?;
        let Some(taken) = taken.get(&file.partition) else {
            kept_adds.push(add);
            continue;
        };
        if !holds_any(store.clone(), &add, taken).await? {
            kept_adds.push(add);
            continue;
        }
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
            let ids = id_column(&batch, "an events data file")?;
            let objects = text_column(&batch, "source_object", "an events data file")?;
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|row| {
                    let duplicate = ids.is_valid(row) && taken.contains(ids.value(row));
                    if duplicate {
                        if let Some(&index) = object_index.get(objects.value(row)) {
                            dropped_of_object[index] += 1;
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
        let path = file.location;
        if let Err(error) = store.delete(&path).await {
            tracing::warn!(%error, path = %path, "removing a rewritten data file failed; vacuum will");
        }
    }
    let dropped: u64 = dropped_of_object.iter().sum();
    if dropped > 0 {
        tracing::info!(
            unit = manifest.unit,
            dropped,
            "dropped ids the table already holds"
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
    Ok((kept_adds, dropped_of_object))
}

/// Whether the unit's file `add` holds any of `taken` (its `id` column only).
async fn holds_any(
    store: Arc<dyn object_store::ObjectStore>,
    add: &Add,
    taken: &IdSet,
) -> Result<bool> {
    let mut batches = data_file::read(store, &add.path, Some("id")).await?;
    while let Some(batch) = batches
        .try_next()
        .await
        .map_err(|source| parquet_error(add, source))?
    {
        if id_column(&batch, "an events data file")?
            .iter()
            .flatten()
            .any(|id| taken.contains(id))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn parquet_error(add: &Add, source: parquet::errors::ParquetError) -> Error {
    Error::ReadDataFile {
        path: add.path.clone(),
        source,
    }
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
