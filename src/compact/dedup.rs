//! Deduplication by event id: a record whose id this run already wrote, or that `events` holds
//! in the same partition, is dropped and counted as a duplicate.
//!
//! Guarantee: within a partition (the prefix's columns), `events` never holds an id twice. Memory:
//! 16 bytes per UUID id (more for other ids) of this run and of the partitions it touches; the
//! table's ids of a partition are loaded once, when the run first writes to that partition.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::prelude::{col, lit, SessionContext};
use deltalake::DeltaTable;
use futures::StreamExt;

use crate::config::CompactPlan;
use crate::error::{Error, Result};

/// Ids already seen: UUIDs as 16 bytes, anything else as text. aHash, seeded per run, is a
/// fraction of SipHash's cost per row and still resists crafted collisions.
#[derive(Default)]
pub(super) struct IdSet {
    uuids: HashSet<u128, ahash::RandomState>,
    others: HashSet<Box<str>, ahash::RandomState>,
}

impl IdSet {
    fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    /// True if the id was not in the set.
    pub(super) fn insert(&mut self, id: &str) -> bool {
        match parse_uuid(id) {
            Some(uuid) => self.uuids.insert(uuid),
            None => self.others.insert(id.into()),
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        match parse_uuid(id) {
            Some(uuid) => self.uuids.contains(&uuid),
            None => self.others.contains(id),
        }
    }

    fn intersects(&self, other: &IdSet) -> bool {
        let (small, large) = if self.len() <= other.len() {
            (self, other)
        } else {
            (other, self)
        };
        small.uuids.iter().any(|uuid| large.uuids.contains(uuid))
            || small.others.iter().any(|id| large.others.contains(id))
    }

    fn extend(&mut self, other: IdSet) {
        self.uuids.extend(other.uuids);
        self.others.extend(other.others);
    }
}

/// The key of a partition in the deduplicator's maps: its values in the partition columns'
/// order. Delta keeps an empty partition value as null, so both key alike.
pub(super) fn partition_key<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut key = String::new();
    write_partition_key(&mut key, values);
    key
}

fn write_partition_key<'a>(key: &mut String, values: impl Iterator<Item = Option<&'a str>>) {
    key.clear();
    for value in values {
        push_partition_value(key, value);
    }
}

/// One column's part of a partition key (the per-row path reuses one buffer).
fn push_partition_value(key: &mut String, value: Option<&str>) {
    match value {
        Some(text) if !text.is_empty() => key.push_str(text),
        _ => key.push('\u{0}'),
    }
    key.push('\u{1f}');
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
pub(super) struct Deduplicator {
    seen: IdSet,
    /// Existing ids by partition, loaded when the run first touches the partition.
    existing: HashMap<String, IdSet>,
    context: Option<(SessionContext, Arc<dyn datafusion::catalog::TableProvider>)>,
    partition_columns: Vec<String>,
    /// The version of `events` whose ids `existing` and `context` reflect; later commits by
    /// other writers are checked at commit time (`concurrent.rs`).
    version: i64,
}

impl Deduplicator {
    pub(super) async fn new(events: &DeltaTable, plan: &CompactPlan) -> Result<Self> {
        Ok(Self {
            seen: IdSet::default(),
            existing: HashMap::new(),
            context: Self::table_context(events).await?,
            partition_columns: plan.template.column_names(),
            version: super::concurrent::loaded_version(events),
        })
    }

    /// A session to load partitions' ids from, unless the table has no files yet.
    async fn table_context(
        events: &DeltaTable,
    ) -> Result<Option<(SessionContext, Arc<dyn datafusion::catalog::TableProvider>)>> {
        let has_files = events
            .snapshot()
            .map(|snapshot| snapshot.log_data().num_files())
            .unwrap_or(0)
            > 0;
        let context = if has_files {
            let context = SessionContext::new();
            events
                .update_datafusion_session(&context.state())
                .map_err(|source| crate::table::delta(events, source))?;
            let provider = events.table_provider().await?;
            Some((context, provider))
        } else {
            None
        };
        Ok(context)
    }

    pub(super) fn version(&self) -> i64 {
        self.version
    }

    /// The partitions whose ids are loaded.
    pub(super) fn loaded_partitions(&self) -> impl Iterator<Item = &String> {
        self.existing.keys()
    }

    /// Whether this run wrote any of `ids`.
    pub(super) fn wrote_any(&self, ids: &IdSet) -> bool {
        self.seen.intersects(ids)
    }

    /// Takes in the ids other writers committed up to `version` (by partition), and reads
    /// partitions loaded from now on as of the table's current state.
    pub(super) async fn absorb(
        &mut self,
        others: HashMap<String, IdSet>,
        version: i64,
        events: &DeltaTable,
    ) -> Result<()> {
        for (key, ids) in others {
            if let Some(existing) = self.existing.get_mut(&key) {
                existing.extend(ids);
            }
        }
        self.context = Self::table_context(events).await?;
        self.version = version;
        Ok(())
    }

    /// This run committed its ids as `version`, right after the one it had checked.
    pub(super) fn committed(&mut self, version: i64) {
        self.version = version;
    }

    /// Ids held: this run's and the loaded partitions'.
    pub(super) fn len(&self) -> usize {
        self.seen.len() + self.existing.values().map(IdSet::len).sum::<usize>()
    }

    /// Returns the kept rows and how many were dropped.
    pub(super) async fn filter(&mut self, batch: RecordBatch) -> Result<(RecordBatch, u64)> {
        let ids = batch
            .column_by_name("id")
            .and_then(|column| column.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| Error::Column {
                query: "an events batch",
                column: "id".into(),
                reason: "is missing".into(),
            })?
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
                Some(_) => {
                    self.fresh_against_table(id, &partition_arrays, row, &mut key)
                        .await?
                }
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
            push_partition_value(key, partition_text(array.as_ref(), row).as_deref());
        }
        if !self.existing.contains_key(key.as_str()) {
            let loaded = self.load_partition(partition_arrays, row).await?;
            self.existing.insert(key.clone(), loaded);
        }
        let fresh = !self
            .existing
            .get(key.as_str())
            .is_some_and(|set| set.contains(id));
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

/// A partition column's value in `row`, as Delta writes it in a commit's partition values.
fn partition_text(array: &dyn Array, row: usize) -> Option<Cow<'_, str>> {
    if array.is_null(row) {
        return None;
    }
    match array.as_any().downcast_ref::<StringArray>() {
        Some(strings) => Some(Cow::Borrowed(strings.value(row))),
        // Other types as Delta spells them in `partitionValues`, so keys built from a
        // commit's `Add` actions (concurrent.rs) match.
        None => match array.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            Some(times) => chrono::DateTime::from_timestamp_micros(times.value(row))
                .map(|time| Cow::Owned(time.format("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            // Integers read the same both ways.
            None => arrow::util::display::array_value_to_string(array, row)
                .ok()
                .map(Cow::Owned),
        },
    }
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
}
