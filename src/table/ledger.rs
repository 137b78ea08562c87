//! The ledger (`source_objects`): one row per committed source object, and the per-object counts
//! each unit's commits carry so that any run finishing a unit writes the committed figures.
//!
//! Guarantee: a ledger row's `events`, `duplicates` and `errors` are what the `events` and
//! `errors` tables hold for that object, or NULL when they cannot be known (a unit committed
//! by another run so long ago that its commit left the searched history).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::SourceObject;
use crate::table::batch::source_objects_schema;

/// The key of eventlake's entry in a unit's Delta commit metadata.
const COMMIT_METADATA_KEY: &str = "eventlake";
/// How far back in a table's history a unit's commit is looked for (only when a run finishes a
/// unit another began): shards commit to the same tables, so this allows for many of them.
const COMMIT_SEARCH_DEPTH: usize = 1000;

/// One object's counts, as the ledger keeps them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCounts {
    /// Records framed (an object's undecompressable rest counts as one).
    pub records: u64,
    /// Records that parsed into events, duplicates included.
    pub events: u64,
    /// Events dropped because their id was already in `events`.
    pub duplicates: u64,
    /// Records written to `errors`.
    pub errors: u64,
}

/// A unit's per-object counts as its commits record them, in manifest order.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UnitCounts {
    records: Vec<u64>,
    events: Vec<u64>,
    duplicates: Vec<u64>,
    errors: Vec<u64>,
    /// False when the run that made these counts did not know the committed duplicates.
    events_known: bool,
}

impl UnitCounts {
    fn new(counts: &[ObjectCounts], events_known: bool) -> Self {
        Self {
            records: counts.iter().map(|c| c.records).collect(),
            events: counts.iter().map(|c| c.events).collect(),
            duplicates: counts.iter().map(|c| c.duplicates).collect(),
            errors: counts.iter().map(|c| c.errors).collect(),
            events_known,
        }
    }

    fn len(&self) -> usize {
        [&self.records, &self.events, &self.duplicates, &self.errors]
            .into_iter()
            .map(Vec::len)
            .min()
            .unwrap_or(0)
    }

    /// Takes the committed event counts, and the rest too when `all`.
    fn apply(&self, counts: &mut [ObjectCounts], all: bool) {
        for (index, object) in counts.iter_mut().enumerate() {
            object.events = self.events[index];
            object.duplicates = self.duplicates[index];
            if all {
                object.records = self.records[index];
                object.errors = self.errors[index];
            }
        }
    }
}

/// The commit metadata of a unit's commits: its app id and number, source and per-object
/// counts.
pub fn unit_commit_metadata(
    app_id: &str,
    unit: i64,
    source_root: &str,
    counts: &[ObjectCounts],
    events_known: bool,
) -> HashMap<String, serde_json::Value> {
    let summary = serde_json::json!({
        "app_id": app_id,
        "unit": unit,
        "objects": counts.len(),
        "source": source_root,
        "counts": UnitCounts::new(counts, events_known),
    });
    HashMap::from([(COMMIT_METADATA_KEY.to_owned(), summary)])
}

/// Copies the counts unit `unit`'s commit to `table` recorded into `counts` (the event counts,
/// and the rest too when `all`); returns whether the event counts are now the committed ones.
pub async fn take_committed_counts(
    table: &DeltaTable,
    app_id: &str,
    unit: i64,
    counts: &mut [ObjectCounts],
    all: bool,
) -> Result<bool> {
    match committed_counts(table, app_id, unit).await? {
        Some(committed) if committed.len() == counts.len() => {
            committed.apply(counts, all);
            Ok(committed.events_known)
        }
        _ => {
            tracing::warn!(
                unit,
                "the unit's committed counts were not found; its ledger rows leave event counts empty"
            );
            Ok(false)
        }
    }
}

/// The counts unit `unit`'s commit to `table` recorded, if it is among the recent commits.
async fn committed_counts(
    table: &DeltaTable,
    app_id: &str,
    unit: i64,
) -> Result<Option<UnitCounts>> {
    let mut history = table.history(Some(COMMIT_SEARCH_DEPTH));
    while let Some(commit) = history
        .try_next()
        .await
        .map_err(|source| super::delta(table, source))?
    {
        let Some(summary) = commit.info.get(COMMIT_METADATA_KEY) else {
            continue;
        };
        // Units committed before sharding carry no app id: they are the unsharded sequence's.
        let summary_app_id = summary["app_id"].as_str().unwrap_or(super::COMPACT_APP_ID);
        if summary["unit"].as_i64() == Some(unit) && summary_app_id == app_id {
            return Ok(serde_json::from_value(summary["counts"].clone()).ok());
        }
    }
    Ok(None)
}

/// The ledger rows of one unit's objects.
pub fn ledger_batch(
    unit: i64,
    objects: &[SourceObject],
    counts: &[ObjectCounts],
    events_known: bool,
    now_micros: i64,
) -> Result<RecordBatch> {
    let long = |values: Vec<Option<i64>>| Arc::new(Int64Array::from(values)) as ArrayRef;
    let timestamps = |values: Vec<Option<i64>>| {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")) as ArrayRef
    };
    // When another run committed this unit's events, our event counts are not the committed ones.
    let events = |value: u64| events_known.then_some(value as i64);
    let batch = RecordBatch::try_new(
        source_objects_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                objects.iter().map(|object| object.uri.as_str()),
            )),
            long(
                objects
                    .iter()
                    .map(|object| Some(object.size as i64))
                    .collect(),
            ),
            timestamps(
                objects
                    .iter()
                    .map(|object| Some(object.last_modified_micros))
                    .collect(),
            ),
            long(counts.iter().map(|c| Some(c.records as i64)).collect()),
            long(
                counts
                    .iter()
                    .map(|c| events(c.events - c.duplicates))
                    .collect(),
            ),
            long(counts.iter().map(|c| events(c.duplicates)).collect()),
            long(counts.iter().map(|c| Some(c.errors as i64)).collect()),
            long(vec![Some(unit); objects.len()]),
            timestamps(vec![Some(now_micros); objects.len()]),
        ],
    )?;
    Ok(batch)
}

/// The source objects the ledger holds, as 16-byte keys (the first half of each URI's SHA-256):
/// a fraction of the memory of the URIs themselves, so a lake with a long history costs little
/// to check a listing against. Two URIs share a key with probability ~2⁻¹²⁸ per pair.
#[derive(Default)]
pub struct CommittedObjects {
    keys: HashSet<u128, ahash::RandomState>,
}

impl CommittedObjects {
    /// Reads the ledger's `source_object` column batch by batch, keeping the objects `keep`
    /// accepts (a shard's own).
    pub async fn load(ledger: &DeltaTable, keep: impl Fn(&str) -> bool) -> Result<Self> {
        let mut committed = Self::default();
        if ledger
            .snapshot()
            .map(|snapshot| snapshot.log_data().num_files())
            .unwrap_or(0)
            == 0
        {
            return Ok(committed);
        }
        let context = SessionContext::new();
        ledger
            .update_datafusion_session(&context.state())
            .map_err(|source| super::delta(ledger, source))?;
        let provider = ledger.table_provider().await?;
        let frame = context
            .read_table(provider)?
            .select_columns(&["source_object"])?;
        let mut stream = frame.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let values = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            let values = values
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| Error::Column {
                    query: "the ledger",
                    column: "source_object".into(),
                    reason: "is not text".into(),
                })?;
            for uri in values.iter().flatten().filter(|uri| keep(uri)) {
                committed.insert(uri);
            }
        }
        Ok(committed)
    }

    pub fn contains(&self, uri: &str) -> bool {
        self.keys.contains(&key_of(uri))
    }

    pub fn insert(&mut self, uri: &str) {
        self.keys.insert(key_of(uri));
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

pub(crate) fn key_of(uri: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(uri.as_bytes());
    let mut half = [0u8; 16];
    half.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_objects_are_found_by_uri_and_others_are_not() {
        let mut committed = CommittedObjects::default();
        committed.insert("s3://bucket/raw/2026/11/20/a");
        assert!(committed.contains("s3://bucket/raw/2026/11/20/a"));
        assert!(!committed.contains("s3://bucket/raw/2026/11/20/b"));
        assert!(!committed.contains("s3://bucket/raw/2026/11/20/a "));
        assert_eq!(committed.len(), 1);
    }
}
