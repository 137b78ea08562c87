//! The id index: everything a run knows about event ids, and the one place that decides whether
//! an event's id is new to its partition.
//!
//! ```text
//!  sink:    batch ─▶ UnitIds::keep_new: the first of each id in its partition, in this unit
//!  commit:  TableIds::taken(unit ids, the table's data files in the unit's partitions)
//!             per file: each row group's `id` bloom filter (Parquet SBBF, written by `writers.rs`)
//!             probe every unit id of that partition ─▶ a hit: read that row group's `id` column
//!           ─▶ the unit ids the table holds (exact) ─▶ the unit's files rewritten without them
//! ```
//!
//! Files this run committed itself are not probed one by one: their ids went into one filter
//! per partition (`CoveredIds`), probed once per unit id, and only the ids it may hold are
//! probed against those files (so `--follow`'s commits do not slow down as its partitions fill
//! up with files).
//!
//! Guarantee: `events` never holds an id twice in a partition. Memory: the unit's ids (what
//! arrived: 16 bytes a UUID), the filters of the files being probed (about 2–4 bytes a stored
//! id, a few files at a time) and of the ids this run committed (about 2 bytes an id, up to
//! [`COVERED_BYTES`]); `--follow` keeps read filters across commits up to
//! [`FILTER_CACHE_BYTES`]. Table-side work of a unit: one footer and one filter read per row
//! group of each data file in the partitions it touched that this run did not write (never
//! their ids), plus one row group's `id` column per filter hit; a file written without filters
//! (older lakes) has its ids read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::kernel::Add;
use deltalake::DeltaTable;
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::table::bloom::{self, ColumnFilter, FileFilters};
use crate::table::{self, data_file};

/// Filter bytes `--follow` keeps between commits (files are immutable, so a kept filter stays
/// true); past this, filters are read again when needed.
pub(super) const FILTER_CACHE_BYTES: usize = 64 << 20;
/// Data files whose footers and filters are read at once.
const FILES_IN_FLIGHT: usize = 16;
/// Filter bytes held for the ids this run committed; past it, the partition used least
/// recently is forgotten (its files are probed one by one again).
pub(super) const COVERED_BYTES: usize = 64 << 20;
/// False-positive rate of those filters: a false hit only sends an id on to the files' own
/// filters.
const COVERED_FPP: f64 = 0.001;
/// Ids the first filter of a partition is sized for; each next one is twice the last.
const COVERED_FIRST_CAPACITY: usize = 64 << 10;

/// Ids already seen: UUIDs as 16 bytes, anything else as text. aHash, seeded per run, is a
/// fraction of SipHash's cost per row and still resists crafted collisions.
#[derive(Default)]
pub(super) struct IdSet {
    uuids: HashSet<u128, ahash::RandomState>,
    others: HashSet<Box<str>, ahash::RandomState>,
}

impl IdSet {
    pub(super) fn len(&self) -> usize {
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

    /// Calls `f` with the hash Parquet's bloom filters use for each id's text.
    fn for_each_hash(&self, mut f: impl FnMut(u64)) {
        for &uuid in &self.uuids {
            f(bloom::hash(&uuid_text(uuid)));
        }
        for id in &self.others {
            f(bloom::hash(id.as_bytes()));
        }
    }

    /// Each id with the hash Parquet's bloom filters use for its text.
    fn hashed(&self) -> Vec<(u64, IdText)> {
        let uuids = self.uuids.iter().map(|&uuid| {
            let text = uuid_text(uuid);
            (bloom::hash(&text), IdText::Uuid(text))
        });
        let others = self
            .others
            .iter()
            .map(|id| (bloom::hash(id.as_bytes()), IdText::Other(id.clone())));
        uuids.chain(others).collect()
    }
}

/// An id's text, as the table holds it.
#[derive(Clone)]
enum IdText {
    Uuid([u8; 36]),
    Other(Box<str>),
}

impl IdText {
    fn as_str(&self) -> &str {
        match self {
            // A lowercase UUID's text is ASCII.
            IdText::Uuid(text) => std::str::from_utf8(text).unwrap_or_default(),
            IdText::Other(text) => text,
        }
    }
}

fn parse_uuid(text: &str) -> Option<u128> {
    // A table lookup a digit and one validity check at the end, not a branch a byte: this runs
    // once per event. The groups are sliced out of the fixed-size text, not found through a
    // table of positions: iterating a `const` table by value copied it to the stack each call,
    // and the loads after that copy stalled (79% of `keep_new`'s samples, where this is inlined).
    let bytes: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if [bytes[8], bytes[13], bytes[18], bytes[23]] != [b'-'; 4] {
        return None;
    }
    let (mut value, mut invalid) = (0u128, 0u8);
    for group in [
        &bytes[..8],
        &bytes[9..13],
        &bytes[14..18],
        &bytes[19..23],
        &bytes[24..],
    ] {
        for &byte in group {
            let digit = HEX_DIGIT[usize::from(byte)];
            invalid |= digit;
            value = (value << 4) | u128::from(digit & 0xf);
        }
    }
    (invalid & NOT_HEX == 0).then_some(value)
}

const NOT_HEX: u8 = 0x80;

/// Each byte's value as a lowercase hex digit, or [`NOT_HEX`]. Lower and upper case spell the
/// same UUID but not the same id: only lowercase packs, so the text comes back byte for byte.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            digit @ b'0'..=b'9' => digit - b'0',
            letter @ b'a'..=b'f' => letter - b'a' + 10,
            _ => NOT_HEX,
        };
        byte += 1;
    }
    table
};

/// The text `parse_uuid` read.
fn uuid_text(mut value: u128) -> [u8; 36] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    for index in (0..36).rev() {
        if matches!(index, 8 | 13 | 18 | 23) {
            continue;
        }
        text[index] = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
    text
}

/// The key of a partition: its values in the partition columns' order. Delta keeps an empty
/// partition value as null, so both key alike.
pub(super) fn partition_key<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut key = String::new();
    for value in values {
        push_partition_value(&mut key, value);
    }
    key
}

/// One column's part of a partition key (the per-row path reuses one buffer).
fn push_partition_value(key: &mut String, value: Option<&str>) {
    match value {
        Some(text) if !text.is_empty() => key.push_str(text),
        _ => key.push('\u{0}'),
    }
    key.push('\u{1f}');
}

/// The partition key of a data file from its Delta partition values.
pub(super) fn file_partition_key(
    values: &HashMap<String, Option<String>>,
    partition_columns: &[String],
) -> String {
    partition_key(
        partition_columns
            .iter()
            .map(|name| values.get(name).and_then(|value| value.as_deref())),
    )
}

/// A partition column's value in `row`, as Delta writes it in a commit's partition values.
fn partition_text(array: &dyn Array, row: usize) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    if array.is_null(row) {
        return None;
    }
    match array.as_any().downcast_ref::<StringArray>() {
        Some(strings) => Some(Cow::Borrowed(strings.value(row))),
        // Other types as Delta spells them in `partitionValues`, so keys built from a
        // commit's `Add` actions match.
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

/// A batch's `id` column.
pub(super) fn id_column(batch: &RecordBatch, what: &'static str) -> Result<StringArray> {
    text_column(batch, "id", what)
}

/// A batch's column `name`, as text (`what` names the batch in an error).
pub(super) fn text_column(
    batch: &RecordBatch,
    name: &str,
    what: &'static str,
) -> Result<StringArray> {
    let column = batch.column_by_name(name).ok_or_else(|| Error::Column {
        query: what,
        column: name.to_owned(),
        reason: "is missing".into(),
    })?;
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::Column {
            query: what,
            column: name.to_owned(),
            reason: "is not text".into(),
        })
}

/// The ids of this unit's kept events, by partition: what arrived, nothing of the table.
pub(super) struct UnitIds {
    partition_columns: Vec<String>,
    by_partition: HashMap<String, IdSet, ahash::RandomState>,
}

impl UnitIds {
    pub(super) fn new(partition_columns: Vec<String>) -> Self {
        Self {
            partition_columns,
            by_partition: HashMap::default(),
        }
    }

    /// Ids held.
    pub(super) fn len(&self) -> usize {
        self.by_partition.values().map(IdSet::len).sum()
    }

    /// Keeps the first row of each id in its partition; returns the row numbers of the rest
    /// (repeats), ascending. The batch is not filtered here: the writer's sort leaves them out
    /// as it reorders the rows, which saves a copy of every batch.
    pub(super) fn keep_new(&mut self, batch: &RecordBatch) -> Result<Vec<usize>> {
        let ids = id_column(batch, "an events batch")?;
        let partition_arrays: Vec<_> = self
            .partition_columns
            .iter()
            .filter_map(|name| batch.column_by_name(name).cloned())
            .collect();
        let mut key = String::new();
        let mut dropped = Vec::new();
        // Rows come in runs of one partition (an object's events are in time order): the key
        // is built and its set found once a run, not once a row.
        let runs: Vec<std::ops::Range<usize>> = if partition_arrays.is_empty() {
            std::iter::once(0..batch.num_rows()).collect()
        } else {
            arrow::compute::partition(&partition_arrays)?.ranges()
        };
        for run in runs {
            key.clear();
            for array in &partition_arrays {
                push_partition_value(
                    &mut key,
                    partition_text(array.as_ref(), run.start).as_deref(),
                );
            }
            let set = match self.by_partition.get_mut(key.as_str()) {
                Some(set) => set,
                None => self.by_partition.entry(key.clone()).or_default(),
            };
            for row in run {
                let fresh = !ids.is_null(row) && set.insert(ids.value(row));
                if !fresh {
                    dropped.push(row);
                }
            }
        }
        Ok(dropped)
    }
}

/// A committed data file of `events` whose ids a unit must be checked against.
pub(super) struct TableFile {
    pub location: Path,
    pub partition: String,
}

impl TableFile {
    pub(super) fn of_add(add: &Add, partition_columns: &[String]) -> Result<Self> {
        Ok(Self {
            location: data_path(&add.path)?,
            partition: file_partition_key(&add.partition_values, partition_columns),
        })
    }
}

pub(super) fn data_path(path: &str) -> Result<Path> {
    Path::from_url_path(path).map_err(|source| Error::ObjectStore {
        location: path.to_owned(),
        source: source.into(),
    })
}

/// The ids of one partition's files that this run committed, in filters of its own: a
/// superset of their ids, so an id it says is absent is in none of `files`.
struct CoveredIds {
    /// Filters in the order they filled.
    filters: Vec<CoveredFilter>,
    files: HashSet<Path>,
    /// The check that last used this partition (to forget the one used least recently).
    last_used: u64,
}

/// One filter of a partition's covered ids, with the ids it holds and is sized for.
struct CoveredFilter {
    filter: ColumnFilter,
    held: usize,
    capacity: usize,
}

impl CoveredIds {
    fn new() -> Self {
        Self {
            filters: Vec::new(),
            files: HashSet::new(),
            last_used: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.filters
            .iter()
            .map(|covered| covered.filter.bytes())
            .sum()
    }

    fn insert(&mut self, hash: u64) {
        let full = self
            .filters
            .last()
            .is_none_or(|last| last.held >= last.capacity);
        if full {
            let capacity = self
                .filters
                .last()
                .map_or(COVERED_FIRST_CAPACITY, |last| last.capacity * 2);
            self.filters.push(CoveredFilter {
                filter: ColumnFilter::with_capacity(capacity, COVERED_FPP),
                held: 0,
                capacity,
            });
        }
        if let Some(last) = self.filters.last_mut() {
            last.filter.insert(hash);
            last.held += 1;
        }
    }

    fn might_hold(&self, hash: u64) -> bool {
        self.filters
            .iter()
            .any(|covered| covered.filter.might_hold(hash))
    }
}

/// The table side of the index: finds which of a unit's ids the table's files hold.
pub(super) struct TableIds {
    cache: HashMap<Path, Arc<FileFilters>>,
    cached_bytes: usize,
    cache_limit: usize,
    /// By partition key: the ids of the files this run committed.
    covered: HashMap<String, CoveredIds>,
    checks: u64,
    /// No check follows the next commit (a batch run's last unit), so it need not be covered.
    last_check: bool,
    /// Probes and reads, for the run's log and the benches.
    pub stats: IndexStats,
}

/// What the table side of the index did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IndexStats {
    pub files_probed: u64,
    /// Files this run wrote that no unit id could be in (their partition's filter said so).
    pub files_skipped: u64,
    pub filters_read: u64,
    pub row_groups_read: u64,
}

impl TableIds {
    /// `cache_limit` bytes of filters are kept between checks (0 in a batch run).
    pub(super) fn new(cache_limit: usize) -> Self {
        Self {
            cache: HashMap::new(),
            cached_bytes: 0,
            cache_limit,
            covered: HashMap::new(),
            checks: 0,
            last_check: false,
            stats: IndexStats::default(),
        }
    }

    /// Whether the next unit is the run's last: its ids then go into no filter (each id's
    /// text hashed again, ~3% of a one-unit run's CPU, in the run's serial tail). With
    /// `--follow` (filters kept between checks) another check may always come.
    pub(super) fn set_last_check(&mut self, last: bool) {
        self.last_check = last && self.cache_limit == 0;
    }

    /// Records that `adds`, just committed, hold only ids of `unit_ids`: later checks probe
    /// those files only with the ids their partition's filter may hold.
    pub(super) fn cover(
        &mut self,
        unit_ids: &UnitIds,
        adds: &[Add],
        partition_columns: &[String],
    ) -> Result<()> {
        if self.last_check {
            return Ok(());
        }
        let mut files_of: HashMap<String, Vec<Path>> = HashMap::new();
        for add in adds {
            let file = TableFile::of_add(add, partition_columns)?;
            files_of
                .entry(file.partition)
                .or_default()
                .push(file.location);
        }
        for (partition, files) in files_of {
            let Some(ids) = unit_ids.by_partition.get(partition.as_str()) else {
                continue;
            };
            let covered = self
                .covered
                .entry(partition)
                .or_insert_with(CoveredIds::new);
            ids.for_each_hash(|hash| covered.insert(hash));
            covered.files.extend(files);
            covered.last_used = self.checks;
        }
        self.forget_covered_past_budget();
        Ok(())
    }

    /// The data files of `events`, as loaded, in the partitions `unit_ids` holds ids of.
    pub(super) fn files_in_partitions(
        events: &DeltaTable,
        unit_ids: &UnitIds,
    ) -> Result<Vec<TableFile>> {
        let snapshot = events
            .snapshot()
            .map_err(|source| table::delta(events, source))?;
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            let partition =
                file_partition_key(&file.partition_values_map(), &unit_ids.partition_columns);
            if unit_ids.by_partition.contains_key(partition.as_str()) {
                files.push(TableFile {
                    location: file.object_store_path(),
                    partition,
                });
            }
        }
        Ok(files)
    }

    /// The unit's ids that `files` hold, by partition (exact: every filter hit is confirmed
    /// by reading that row group's ids). Files are probed on the runtime's threads, so the
    /// confirming reads decode on every core.
    pub(super) async fn taken(
        &mut self,
        store: Arc<dyn ObjectStore>,
        unit_ids: &UnitIds,
        files: Vec<TableFile>,
    ) -> Result<HashMap<String, IdSet>> {
        let mut taken: HashMap<String, IdSet> = HashMap::new();
        if files.is_empty() {
            return Ok(taken);
        }
        self.checks += 1;
        // Each unit id's filter hash, once per check; for the files this run committed, only
        // the ids their partition's filter may hold.
        let mut all_ids = HashMap::new();
        let mut suspects = HashMap::new();
        for (partition, ids) in &unit_ids.by_partition {
            let hashed = ids.hashed();
            if let Some(covered) = self.covered.get_mut(partition.as_str()) {
                covered.last_used = self.checks;
                let suspect: Vec<_> = hashed
                    .iter()
                    .filter(|(hash, _)| covered.might_hold(*hash))
                    .map(|(hash, text)| (*hash, text.clone()))
                    .collect();
                suspects.insert(partition.as_str(), Arc::new(suspect));
            }
            all_ids.insert(partition.as_str(), Arc::new(hashed));
        }
        let mut probed = Vec::with_capacity(files.len());
        for file in files {
            let partition = file.partition.as_str();
            let is_covered = self
                .covered
                .get(partition)
                .is_some_and(|covered| covered.files.contains(&file.location));
            let ids = match (is_covered, suspects.get(partition), all_ids.get(partition)) {
                (true, Some(suspect), _) => suspect.clone(),
                (_, _, Some(ids)) => ids.clone(),
                _ => continue,
            };
            if ids.is_empty() {
                self.stats.files_skipped += 1;
                continue;
            }
            let cached = self.cache.get(&file.location).cloned();
            probed.push((file, cached, ids));
        }
        drop((all_ids, suspects));
        let files = probed;
        // Spawned as the stream is polled, so at most FILES_IN_FLIGHT are in memory at once.
        let probes = files
            .into_iter()
            .map(|(file, cached, ids)| tokio::spawn(probe_file(store.clone(), file, cached, ids)));
        let mut probes = futures::stream::iter(probes).buffer_unordered(FILES_IN_FLIGHT);
        while let Some(probe) = probes.next().await {
            let probe = probe.map_err(|join| Error::WorkerLost {
                object: "a data file's id probe".into(),
                reason: join.to_string(),
            })??;
            self.stats.files_probed += 1;
            self.stats.row_groups_read += probe.row_groups_read;
            if probe.read_filters {
                self.stats.filters_read += 1;
                let bytes = probe.filters.bytes();
                if self.cached_bytes + bytes <= self.cache_limit {
                    self.cached_bytes += bytes;
                    self.cache.insert(probe.file.location, probe.filters);
                }
            }
            if !probe.found.is_empty() {
                let set = taken.entry(probe.file.partition).or_default();
                for id in &probe.found {
                    set.insert(id);
                }
            }
        }
        Ok(taken)
    }

    /// Whether the kept filters fill most of their budget (time to forget removed files').
    pub(super) fn is_nearly_full(&self) -> bool {
        self.cache_limit > 0 && self.cached_bytes >= self.cache_limit / 4 * 3
    }

    /// Forgets kept filters of files the table no longer holds (after `optimize` and `vacuum`).
    pub(super) fn retain_files(&mut self, events: &DeltaTable) -> Result<()> {
        if self.cache.is_empty() && self.covered.is_empty() {
            return Ok(());
        }
        let snapshot = events
            .snapshot()
            .map_err(|source| table::delta(events, source))?;
        let live: HashSet<Path> = snapshot
            .log_data()
            .iter()
            .map(|file| file.object_store_path())
            .collect();
        self.cache.retain(|path, _| live.contains(path));
        self.cached_bytes = self.cache.values().map(|filters| filters.bytes()).sum();
        for covered in self.covered.values_mut() {
            covered.files.retain(|path| live.contains(path));
        }
        Ok(())
    }

    /// Forgets the filters of the partitions used least recently until the rest fit
    /// [`COVERED_BYTES`]: their files are probed one by one again.
    fn forget_covered_past_budget(&mut self) {
        let mut bytes: usize = self.covered.values().map(CoveredIds::bytes).sum();
        while bytes > COVERED_BYTES {
            let Some(oldest) = self
                .covered
                .iter()
                .min_by_key(|(_, covered)| covered.last_used)
                .map(|(partition, _)| partition.clone())
            else {
                break;
            };
            if let Some(covered) = self.covered.remove(&oldest) {
                bytes -= covered.bytes();
            }
        }
    }
}

/// What probing one data file found.
struct FileProbe {
    file: TableFile,
    filters: Arc<FileFilters>,
    /// Whether `filters` were read now (not kept from an earlier check).
    read_filters: bool,
    row_groups_read: u64,
    /// The unit's ids the file holds.
    found: Vec<String>,
}

/// Probes `file`'s filters with hashed unit ids of its partition and confirms the hits by
/// reading the `id` column of the row groups they fall in (one open, one stream).
async fn probe_file(
    store: Arc<dyn ObjectStore>,
    file: TableFile,
    cached: Option<Arc<FileFilters>>,
    ids: Arc<Vec<(u64, IdText)>>,
) -> Result<FileProbe> {
    let (filters, read_filters) = match cached {
        Some(filters) => (filters, false),
        None => (
            Arc::new(bloom::read_filters(store.clone(), &file.location, "id").await?),
            true,
        ),
    };
    let mut probe = FileProbe {
        file,
        filters,
        read_filters,
        row_groups_read: 0,
        found: Vec::new(),
    };
    // The unit's ids some row group may hold, and those row groups.
    let mut candidates: HashSet<&str, ahash::RandomState> = HashSet::default();
    let mut row_groups = std::collections::BTreeSet::new();
    for (hash, text) in ids.iter() {
        let mut hit = false;
        for row_group in probe.filters.row_groups_holding(*hash) {
            row_groups.insert(row_group);
            hit = true;
        }
        if hit {
            candidates.insert(text.as_str());
        }
    }
    if row_groups.is_empty() {
        return Ok(probe);
    }
    probe.row_groups_read = row_groups.len() as u64;
    let location = probe.file.location.clone();
    let mut batches =
        data_file::read_row_groups(store, &location, "id", row_groups.into_iter().collect())
            .await?;
    while let Some(batch) = data_file::next_batch(&mut batches, &location).await? {
        for id in id_column(&batch, "an events data file")?.iter().flatten() {
            if candidates.contains(id) {
                probe.found.push(id.to_owned());
            }
        }
    }
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn covered_ids_hold_every_id_across_filters_and_grow_by_doubling() {
        let mut covered = CoveredIds::new();
        let ids = COVERED_FIRST_CAPACITY * 2 + 5;
        for n in 0..ids {
            covered.insert(bloom::hash(format!("id-{n}").as_bytes()));
        }
        assert_eq!(covered.filters.len(), 2);
        assert!((0..ids).all(|n| covered.might_hold(bloom::hash(format!("id-{n}").as_bytes()))));
        let false_hits = (0..100_000)
            .filter(|n| covered.might_hold(bloom::hash(format!("other-{n}").as_bytes())))
            .count();
        assert!(false_hits < 1_000, "{false_hits} of 100,000 absent ids hit");
    }

    /// A batch run's last unit puts no ids into covering filters (nothing checks after it);
    /// any other unit does, and so does every unit of `--follow` (filters kept between checks).
    #[test]
    fn only_a_batch_runs_last_unit_covers_nothing() {
        use arrow::array::ArrayRef;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "dt",
                Arc::new(StringArray::from(vec!["2026-12-01"; 2])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut unit = UnitIds::new(vec!["dt".into()]);
        unit.keep_new(&batch).unwrap();
        let add = Add {
            path: "dt=2026-12-01/part-0.parquet".into(),
            partition_values: HashMap::from([("dt".to_owned(), Some("2026-12-01".to_owned()))]),
            ..Default::default()
        };
        for (cache_limit, last, covers) in [
            (0, false, true),
            (0, true, false),
            (FILTER_CACHE_BYTES, true, true),
        ] {
            let mut index = TableIds::new(cache_limit);
            index.set_last_check(last);
            index
                .cover(&unit, std::slice::from_ref(&add), &["dt".to_owned()])
                .unwrap();
            assert_eq!(
                !index.covered.is_empty(),
                covers,
                "cache limit {cache_limit}, last unit {last}"
            );
        }
    }

    proptest! {
        /// Every id comes back from the set as the text it went in as, so the table's
        /// filters and ids are probed with the id the table holds.
        #[test]
        fn ids_come_back_as_their_text(ids in proptest::collection::vec(
            prop_oneof![
                "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[0-9a-fA-F-]{36}",
                ".{0,40}",
            ],
            1..40,
        )) {
            let mut set = IdSet::default();
            for id in &ids {
                set.insert(id);
            }
            let back: HashSet<String> =
                set.hashed().iter().map(|(_, text)| text.as_str().to_owned()).collect();
            let wanted: HashSet<String> = ids.iter().cloned().collect();
            prop_assert_eq!(back, wanted);
        }

        /// `keep_new`, which finds a partition once a run of rows, keeps exactly what a plain
        /// per-row model keeps: the first row of each (partition, id), over several batches.
        #[test]
        fn keep_new_keeps_the_first_of_each_id_per_partition(batches in proptest::collection::vec(
            proptest::collection::vec((0u8..3, proptest::option::of(0u8..2), 0u8..6), 0..40),
            1..4,
        )) {
            use arrow::array::{ArrayRef, StringArray};
            let mut unit = UnitIds::new(vec!["dt".into(), "event_type".into()]);
            let mut seen = HashSet::new();
            for rows in batches {
                let dt: StringArray = rows.iter().map(|(day, _, _)| Some(format!("2026-12-0{day}"))).collect();
                let kind: StringArray =
                    rows.iter().map(|(_, kind, _)| kind.map(|kind| format!("type-{kind}"))).collect();
                let id: StringArray = rows.iter().map(|(_, _, id)| Some(format!("id-{id}"))).collect();
                let batch = RecordBatch::try_from_iter([
                    ("id", Arc::new(id) as ArrayRef),
                    ("dt", Arc::new(dt) as ArrayRef),
                    ("event_type", Arc::new(kind) as ArrayRef),
                ]).unwrap();
                let wanted: Vec<String> = rows
                    .iter()
                    .filter(|row| seen.insert(**row))
                    .map(|(_, _, id)| format!("id-{id}"))
                    .collect();
                let dropped = unit.keep_new(&batch).unwrap();
                prop_assert!(dropped.windows(2).all(|pair| pair[0] < pair[1]));
                let ids = id_column(&batch, "batch").unwrap();
                let kept: Vec<String> = (0..batch.num_rows())
                    .filter(|row| !dropped.contains(row))
                    .map(|row| ids.value(row).to_owned())
                    .collect();
                prop_assert_eq!(kept, wanted);
            }
        }
    }
}
