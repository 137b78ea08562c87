//! The ledger (`source_objects`): one row per committed source object, and the per-object counts
//! each unit's commits carry so that any run finishing a unit writes the committed figures.
//!
//! Guarantee: a ledger row's `events`, `duplicates` and `errors` are what the `events` and
//! `errors` tables hold for that object, or NULL when they cannot be known (a unit committed
//! by another run so long ago that its commit left the searched history).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::SourceObject;
use crate::table::batch::source_objects_schema;

/// The key of eventlake's entry in a unit's Delta commit metadata.
pub const COMMIT_METADATA_KEY: &str = "eventlake";
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

/// Keys of ledger files' objects kept between pages (16 bytes each, ~32 with the set's slack).
const CACHED_KEYS_MAX: usize = 2_000_000;
/// Commits caught up from the log before the snapshot is read instead.
const INCREMENTAL_COMMITS_MAX: i64 = 100;
/// Ledger files read at once.
const FILES_IN_FLIGHT: usize = 8;

/// Which source objects the ledger holds, asked a page of a listing at a time. Each ledger file
/// holds one unit's objects, a narrow range of keys (a unit takes a sorted run of the listing),
/// and its Delta statistics give that range: a page reads only the ledger files whose range
/// holds one of its keys, never the whole ledger. Objects are kept as 16-byte keys (the first
/// half of each URI's SHA-256; two URIs share one with probability ~2⁻¹²⁸ per pair).
///
/// Memory: the ranges (two keys a ledger file), the keys of recently read ledger files (at
/// most [`CACHED_KEYS_MAX`]), and the objects this process committed (what arrived).
#[derive(Default)]
pub struct CommittedObjects {
    /// Objects this process committed, or was told are committed.
    known: HashSet<u128, ahash::RandomState>,
    /// The ledger's files, by the low end of their range, as of `version`.
    files: Vec<LedgerFile>,
    /// `reach[i]`: the highest high end among `files[..=i]` (`None`: unbounded).
    reach: Vec<Option<String>>,
    version: Option<i64>,
    cache: HashMap<object_store::path::Path, CachedFile>,
    cached_keys: usize,
    /// Ticks of use, for evicting the least recently used file.
    clock: u64,
}

/// A ledger file and the range of `source_object` its statistics give (`None`: unknown).
struct LedgerFile {
    location: object_store::path::Path,
    min: Option<String>,
    max: Option<String>,
}

impl LedgerFile {
    /// From a Delta `Add`'s statistics JSON (`minValues`/`maxValues`).
    fn new(location: object_store::path::Path, stats: Option<&str>) -> Self {
        let (min, max) = stats
            .and_then(|stats| serde_json::from_str::<serde_json::Value>(stats).ok())
            .map(|stats| {
                let bound = |which: &str| stats[which]["source_object"].as_str().map(str::to_owned);
                (bound("minValues"), bound("maxValues"))
            })
            .unwrap_or_default();
        Self { location, min, max }
    }
}

struct CachedFile {
    keys: Arc<HashSet<u128, ahash::RandomState>>,
    used: u64,
}

impl CommittedObjects {
    /// Which of `objects` the ledger (as loaded) holds or this process committed.
    pub async fn committed_among(
        &mut self,
        ledger: &DeltaTable,
        objects: &[SourceObject],
    ) -> Result<Vec<bool>> {
        self.index(ledger).await?;
        let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(objects.len());
        let mut needed: Vec<usize> = Vec::new();
        for object in objects {
            let files = if self.known.contains(&key_of(&object.uri)) {
                Vec::new()
            } else {
                self.files_holding(&object.uri)
            };
            needed.extend(files.iter().copied());
            candidates.push(files);
        }
        needed.sort_unstable();
        needed.dedup();
        self.load(ledger, &needed).await?;
        Ok(objects
            .iter()
            .zip(&candidates)
            .map(|(object, files)| {
                let key = key_of(&object.uri);
                self.known.contains(&key)
                    || files.iter().any(|&file| {
                        self.cache
                            .get(&self.files[file].location)
                            .is_some_and(|cached| cached.keys.contains(&key))
                    })
            })
            .collect())
    }

    /// `objects` split into those the ledger does not hold (in order) and those it does.
    pub async fn split_committed(
        &mut self,
        ledger: &DeltaTable,
        objects: Vec<SourceObject>,
    ) -> Result<(Vec<SourceObject>, Vec<SourceObject>)> {
        let committed = self.committed_among(ledger, &objects).await?;
        let (held, new): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .zip(committed)
            .partition(|(_, committed)| *committed);
        Ok((
            new.into_iter().map(|(object, _)| object).collect(),
            held.into_iter().map(|(object, _)| object).collect(),
        ))
    }

    /// Whether this process committed the object (or was told it is committed).
    pub fn is_known(&self, uri: &str) -> bool {
        self.known.contains(&key_of(uri))
    }

    pub fn insert(&mut self, uri: &str) {
        self.known.insert(key_of(uri));
    }

    /// Brings the ranges of the ledger's files to its loaded version: from the commits since
    /// the last read when they are few and still in the log, else from the snapshot.
    async fn index(&mut self, ledger: &DeltaTable) -> Result<()> {
        let version = ledger.version().map(|version| version as i64);
        if version == self.version {
            return Ok(());
        }
        let caught_up = match (self.version, version) {
            (Some(old), Some(new)) if new > old && new - old <= INCREMENTAL_COMMITS_MAX => {
                self.apply_commits(ledger, old + 1, new).await?
            }
            _ => false,
        };
        if !caught_up {
            self.files.clear();
            if version.is_some() {
                let snapshot = ledger
                    .snapshot()
                    .map_err(|source| super::delta(ledger, source))?;
                for file in snapshot.log_data().iter() {
                    self.files.push(LedgerFile::new(
                        file.object_store_path(),
                        file.stats().as_deref(),
                    ));
                }
            }
        }
        self.sort_by_range();
        let live: HashSet<&object_store::path::Path> =
            self.files.iter().map(|file| &file.location).collect();
        self.cache.retain(|location, _| live.contains(location));
        self.cached_keys = self.cache.values().map(|cached| cached.keys.len()).sum();
        self.version = version;
        Ok(())
    }

    /// Applies the files commits `first..=last` added and removed; false when one of them has
    /// left the log (the caller reads the snapshot instead).
    async fn apply_commits(&mut self, ledger: &DeltaTable, first: i64, last: i64) -> Result<bool> {
        use deltalake::kernel::Action;
        let log_store = ledger.log_store();
        let mut removed = HashSet::new();
        for version in first..=last {
            let Some(bytes) = log_store
                .read_commit_entry(version as u64)
                .await
                .map_err(|source| super::delta(ledger, source))?
            else {
                return Ok(false);
            };
            let actions = deltalake::logstore::get_actions(version as u64, &bytes)
                .map_err(|source| super::delta(ledger, source))?;
            for action in actions {
                match action {
                    Action::Add(add) => {
                        let location = object_store::path::Path::from_url_path(&add.path).map_err(
                            |source| Error::ObjectStore {
                                location: add.path.clone(),
                                source: source.into(),
                            },
                        )?;
                        self.files
                            .push(LedgerFile::new(location, add.stats.as_deref()));
                    }
                    Action::Remove(remove) => {
                        if let Ok(location) = object_store::path::Path::from_url_path(&remove.path)
                        {
                            removed.insert(location);
                        }
                    }
                    _ => {}
                }
            }
        }
        if !removed.is_empty() {
            self.files.retain(|file| !removed.contains(&file.location));
        }
        Ok(true)
    }

    /// Sorts the files by the low end of their range (unknown first, so every lookup scans
    /// them) and notes how far each prefix of them reaches.
    fn sort_by_range(&mut self) {
        self.files.sort_by(|a, b| a.min.cmp(&b.min));
        let mut reach: Option<Option<String>> = None;
        self.reach = self
            .files
            .iter()
            .map(|file| {
                let next = match (&reach, &file.max) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(high)), Some(max)) => Some(high.max(max).clone()),
                    (None, Some(max)) => Some(max.clone()),
                };
                reach = Some(next.clone());
                next
            })
            .collect();
    }

    /// The ledger files whose range holds `uri`.
    fn files_holding(&self, uri: &str) -> Vec<usize> {
        // Files whose low end is at most `uri` (or unknown) sit before this point.
        let end = self
            .files
            .partition_point(|file| file.min.as_deref().is_none_or(|min| min <= uri));
        let mut holding = Vec::new();
        for index in (0..end).rev() {
            if self.reach[index].as_deref().is_some_and(|high| high < uri) {
                // No file at or before this one reaches `uri`.
                break;
            }
            if self.files[index]
                .max
                .as_deref()
                .is_none_or(|max| max >= uri)
            {
                holding.push(index);
            }
        }
        holding
    }

    /// Reads the keys of the files in `needed` that are not cached, then evicts the least
    /// recently used others past the budget.
    async fn load(&mut self, ledger: &DeltaTable, needed: &[usize]) -> Result<()> {
        self.clock += 1;
        let clock = self.clock;
        let mut missing = Vec::new();
        for &file in needed {
            let location = &self.files[file].location;
            match self.cache.get_mut(location) {
                Some(cached) => cached.used = clock,
                None => missing.push(location.clone()),
            }
        }
        let store = ledger.object_store();
        let mut reads = futures::stream::iter(missing)
            .map(|location| {
                let store = store.clone();
                async move {
                    let keys = read_keys(store, &location).await?;
                    Ok::<_, Error>((location, keys))
                }
            })
            .buffer_unordered(FILES_IN_FLIGHT);
        while let Some((location, keys)) = reads.try_next().await? {
            self.cached_keys += keys.len();
            self.cache.insert(
                location,
                CachedFile {
                    keys: Arc::new(keys),
                    used: clock,
                },
            );
        }
        while self.cached_keys > CACHED_KEYS_MAX {
            let Some(oldest) = self
                .cache
                .iter()
                .filter(|(_, cached)| cached.used < clock)
                .min_by_key(|(_, cached)| cached.used)
                .map(|(location, _)| location.clone())
            else {
                break;
            };
            if let Some(evicted) = self.cache.remove(&oldest) {
                self.cached_keys -= evicted.keys.len();
            }
        }
        Ok(())
    }
}

/// The keys of the objects a ledger file holds.
async fn read_keys(
    store: Arc<dyn object_store::ObjectStore>,
    location: &object_store::path::Path,
) -> Result<HashSet<u128, ahash::RandomState>> {
    let mut batches = super::data_file::read_path(store, location, Some("source_object")).await?;
    let mut keys = HashSet::default();
    while let Some(batch) = super::data_file::next_batch(&mut batches, location).await? {
        let values = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        let values = values
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Column {
                query: "the ledger",
                column: "source_object".into(),
                reason: "is not text".into(),
            })?;
        keys.extend(values.iter().flatten().map(key_of));
    }
    Ok(keys)
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
        assert!(committed.is_known("s3://bucket/raw/2026/11/20/a"));
        assert!(!committed.is_known("s3://bucket/raw/2026/11/20/b"));
        assert!(!committed.is_known("s3://bucket/raw/2026/11/20/a "));
    }

    fn with_ranges(ranges: &[(Option<&str>, Option<&str>)]) -> CommittedObjects {
        let mut committed = CommittedObjects {
            files: ranges
                .iter()
                .enumerate()
                .map(|(index, (min, max))| LedgerFile {
                    location: object_store::path::Path::from(format!("file-{index}")),
                    min: min.map(str::to_owned),
                    max: max.map(str::to_owned),
                })
                .collect(),
            ..CommittedObjects::default()
        };
        committed.sort_by_range();
        committed
    }

    proptest::proptest! {
        /// A lookup finds every ledger file whose range holds the key (and no other): the
        /// simple scan of all ranges is the model.
        #[test]
        fn a_lookup_finds_exactly_the_files_whose_range_holds_the_key(
            ranges in proptest::collection::vec(
                (proptest::option::weighted(0.9, "[a-e]{0,3}"), proptest::option::weighted(0.9, "[a-e]{0,3}")),
                0..30,
            ),
            keys in proptest::collection::vec("[a-e]{0,3}", 1..20),
        ) {
            let committed = with_ranges(
                &ranges.iter().map(|(min, max)| (min.as_deref(), max.as_deref())).collect::<Vec<_>>(),
            );
            for key in &keys {
                let mut found: Vec<String> = committed
                    .files_holding(key)
                    .into_iter()
                    .map(|index| committed.files[index].location.to_string())
                    .collect();
                found.sort();
                let mut wanted: Vec<String> = committed
                    .files
                    .iter()
                    .filter(|file| {
                        file.min.as_deref().is_none_or(|min| min <= key.as_str())
                            && file.max.as_deref().is_none_or(|max| max >= key.as_str())
                    })
                    .map(|file| file.location.to_string())
                    .collect();
                wanted.sort();
                proptest::prop_assert_eq!(found, wanted);
            }
        }
    }
}
