//! The Delta tables of a lake, and how a unit of work is committed to them exactly once.
//!
//! ```text
//! <lake>/events/          good records, partitioned by the prefix template
//! <lake>/errors/          bad records with their reason, partitioned by ingest date
//! <lake>/source_objects/  one row per committed source object (the ledger)
//! <lake>/_eventlake/      unit manifests (which objects a unit claims)
//! ```
//!
//! Every commit that `compact` makes carries the application transaction
//! `txn(appId = "eventlake-compact", version = unit)` (a shard's app id names the shard, as
//! `eventlake-compact-shard-1-of-4`: each shard has its own sequence of units). `txn` actions survive checkpoints and log
//! cleanup, and two commits with the same app id conflict, so a table's txn version says exactly
//! which units it holds; a commit is only attempted after checking that version (delta-rs records
//! `txn` but does not itself refuse a version already committed).

pub mod batch;
pub mod bloom;
pub mod data_file;
pub mod ledger;

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructField, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::DeltaTable;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};
use crate::partition::PartitionTemplate;

/// The `appId` of the `txn` actions unsharded compaction writes.
pub const COMPACT_APP_ID: &str = "eventlake-compact";

pub const EVENTS: &str = "events";
pub const ERRORS: &str = "errors";
pub const SOURCE_OBJECTS: &str = "source_objects";

/// A folder (or bucket prefix) of Delta tables.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
    storage_options: HashMap<String, String>,
}

impl Lake {
    /// A lake at a local path or URL (`s3://bucket/prefix`, `file:///…`).
    pub fn new(location: &str) -> Result<Self> {
        Self::with_storage_options(location, HashMap::new())
    }

    pub fn with_storage_options(
        location: &str,
        storage_options: HashMap<String, String>,
    ) -> Result<Self> {
        let mut root = crate::storage::parse_location(location)?;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(Self {
            root,
            storage_options,
        })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }

    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.root
            .join(&format!("{name}/"))
            .map_err(|source| Error::InvalidLocation {
                location: format!("{}{name}", self.root),
                reason: source.to_string(),
            })
    }

    /// The object store rooted at the lake, and the path of the lake within it.
    pub fn store(&self) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
        crate::storage::ensure_local_dir(&self.root)?;
        crate::storage::object_store_for(&self.root, &self.storage_options)
    }

    /// Opens a table, or `None` when the lake has no such table yet.
    pub async fn open(&self, name: &str) -> Result<Option<DeltaTable>> {
        let url = self.table_url(name)?;
        crate::storage::ensure_local_dir(&url)?;
        let mut table = deltalake::DeltaTableBuilder::from_url(url.clone())
            .map_err(|source| delta_at(&url, source))?
            .with_storage_options(self.storage_options.clone())
            .build()
            .map_err(|source| delta_at(&url, source))?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(deltalake::DeltaTableError::NotATable(_)) => Ok(None),
            Err(source) => Err(Error::Delta {
                table: url.to_string(),
                source,
            }),
        }
    }

    /// Opens a table, creating it with `columns` when it does not exist (a concurrent creator wins
    /// harmlessly: its table is opened).
    pub async fn open_or_create(
        &self,
        name: &str,
        columns: Vec<StructField>,
        partition_columns: Vec<String>,
    ) -> Result<DeltaTable> {
        if let Some(table) = self.open(name).await? {
            return Ok(table);
        }
        let url = self.table_url(name)?;
        let created = deltalake::operations::create::CreateBuilder::new()
            .with_location(url.as_str())
            .with_storage_options(self.storage_options.clone())
            .with_columns(columns)
            .with_partition_columns(partition_columns)
            .with_save_mode(SaveMode::Ignore)
            .with_configuration_property(deltalake::TableProperty::CheckpointInterval, Some("50"))
            .await;
        match created {
            Ok(table) => Ok(table),
            Err(source) => match self.open(name).await? {
                Some(table) => Ok(table),
                None => Err(Error::Delta {
                    table: url.to_string(),
                    source,
                }),
            },
        }
    }
}

/// Delta columns from the Arrow schema the batches are built with: one definition per table.
pub(crate) fn delta_columns(schema: &arrow::datatypes::Schema) -> Vec<StructField> {
    use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
    schema
        .fields()
        .iter()
        .map(|field| {
            StructField::try_from_arrow(field.as_ref())
                .expect("eventlake's own schemas map to Delta types")
        })
        .collect()
}

/// Columns of `events`: the typed envelope, the detail text, lineage, then the extra partition columns.
pub fn events_columns(template: &PartitionTemplate) -> Vec<StructField> {
    delta_columns(&batch::events_schema(template))
}

/// Columns of `errors`, partitioned by `dt`, the UTC date of ingestion.
pub fn errors_columns() -> Vec<StructField> {
    delta_columns(&batch::errors_schema())
}

/// Columns of `source_objects`, the ledger of committed source objects.
pub fn source_objects_columns() -> Vec<StructField> {
    delta_columns(&batch::source_objects_schema())
}

/// Bloom filters' target false-positive rate. The id index probes each arriving id against
/// every row group of its partition, so a false hit (one row group's ids read for nothing) costs
/// far more than the 4 bytes a row this rate takes; parquet-rs folds each filter down to the
/// smallest size that keeps it.
const BLOOM_FILTER_FPP: f64 = 0.0001;

/// Rows a data page of `events` holds at most (parquet-rs cuts pages at 1 MiB or 20,000 rows).
const EVENTS_PAGE_ROWS: usize = 1024;

/// Columns of `events` whose values repeat for whole objects or runs (see `data_file_properties`).
/// Not `source_object`: its dictionary page holds each object's name, which zstd shrinks
/// several times over (files of 5,000 objects of 60 KB were 6% larger stored plain).
const NEAR_CONSTANT_EVENT_COLUMNS: [&str; 6] = [
    "detail_type",
    "source",
    "account",
    "region",
    "schema_version",
    "ingested_at",
];

/// The text columns among them, written without min/max statistics: parquet-rs compares every
/// value with its page's min and max (a `memcmp` each), ~3% of compaction's CPU, and a column of
/// the same value in every file prunes nothing. (A lake fed by several accounts or sources
/// reads every file for `WHERE account = …`: slower, never wrong, as readers take a column
/// without statistics as unknown.) The id, client and time keep theirs.
const NEAR_CONSTANT_TEXT_COLUMNS: [&str; 4] = ["detail_type", "source", "account", "region"];

/// How a lake's tables' data files are written, by compaction and by `optimize`: zstd level 1
/// (compaction is CPU-bound; none for `events`' near-constant columns) and row groups bounded by rows and by encoded bytes; in `events`, a bloom filter on `id` sized
/// for a row group (the id index probes it; `WHERE id = …` skips row groups with it); in the
/// ledger, exact statistics of `source_object` (not cut at 64 bytes: a listing page finds the
/// ledger files that may hold its keys by them).
pub fn data_file_properties(
    table: &DeltaTable,
    row_group_rows: usize,
    row_group_bytes: usize,
) -> parquet::file::properties::WriterProperties {
    use parquet::basic::{Compression, Encoding, ZstdLevel};
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let builder = parquet::file::properties::WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_max_row_group_bytes(Some(row_group_bytes.max(1)));
    let path = table.table_url().path().trim_end_matches('/');
    let builder = if path.ends_with(&format!("/{EVENTS}")) {
        let (id, detail) = (ColumnPath::from("id"), ColumnPath::from("detail"));
        let time = ColumnPath::from("time");
        // Every id and nearly every detail is distinct: a dictionary is built for each only to
        // be dropped once it outgrows its page. Min/max of JSON text prune nothing.
        // Small pages: rows are sorted by client in runs (`compact/sort.rs`), so a query for one
        // client reads the few pages its rows are in; the page index skips the rest. Hence no
        // dictionary for `time` either: a reader of one page reads its column chunk's whole
        // dictionary, nearly every time of the row group. (Without one for `client_id` too, one
        // client's day read fewer bytes but took longer, and so did a full scan.)
        let builder = builder
            .set_data_page_row_count_limit(EVENTS_PAGE_ROWS)
            .set_column_dictionary_enabled(id.clone(), false)
            // Plain encoding puts each id's 4-byte length before it: a match every 40 bytes,
            // which zstd codes as a sequence a row, where the hex text alone is literals it
            // Huffman-codes in one pass (2-3x faster for zstd, and smaller). This encoding
            // keeps the lengths apart, bit-packed to a few bytes a page.
            .set_column_encoding(id.clone(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .set_column_bloom_filter_enabled(id.clone(), true)
            .set_column_bloom_filter_fpp(id.clone(), BLOOM_FILTER_FPP)
            .set_column_bloom_filter_max_ndv(id, row_group_rows as u64)
            .set_column_dictionary_enabled(detail.clone(), false)
            .set_column_dictionary_enabled(time, false)
            .set_column_statistics_enabled(detail, EnabledStatistics::None)
            // A row's object name is ~100 bytes, the same over runs of rows: its min and max
            // were two full-length compares a row (2% of compaction's CPU), and no query
            // filters by it (the ledger finds objects).
            .set_column_statistics_enabled(
                ColumnPath::from("source_object"),
                EnabledStatistics::None,
            );
        // Columns of one value or a few (an object, a run, an AWS account) are runs of one
        // dictionary index a page: a few bytes that zstd cannot shrink, called once a page a
        // column. Left uncompressed, files are the same size and compaction ~3% faster.
        let builder = NEAR_CONSTANT_EVENT_COLUMNS
            .into_iter()
            .fold(builder, |builder, column| {
                builder.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED)
            });
        NEAR_CONSTANT_TEXT_COLUMNS
            .into_iter()
            .fold(builder, |builder, column| {
                builder.set_column_statistics_enabled(
                    ColumnPath::from(column),
                    EnabledStatistics::None,
                )
            })
    } else if path.ends_with(&format!("/{SOURCE_OBJECTS}")) {
        builder.set_statistics_truncate_length(None)
    } else {
        builder
    };
    builder.build()
}

/// `properties` for a file that holds `rows` rows at most: its `id` bloom filters sized for
/// them. parquet-rs allocates and zeroes a filter for the configured ids in each row group it
/// opens and folds it down only at the row group's end: 512 KiB for 131,072 ids, where one of
/// a late day's partitions (a few hundred rows, and a day of late events has a hundred such)
/// needs a few KiB.
pub fn data_file_properties_for_rows(
    properties: parquet::file::properties::WriterProperties,
    rows: usize,
) -> parquet::file::properties::WriterProperties {
    let id = parquet::schema::types::ColumnPath::from("id");
    if properties.bloom_filter_properties(&id).is_none() {
        return properties;
    }
    properties
        .into_builder()
        .set_column_bloom_filter_max_ndv(id, rows.max(1) as u64)
        .build()
}

/// Reads the table's log again, to where other writers have taken it.
pub async fn refresh(table: &mut DeltaTable) -> Result<()> {
    table
        .update_state()
        .await
        .map_err(|source| delta(table, source))
}

/// The highest unit of `app_id`'s sequence a table holds.
pub async fn committed_unit(table: &DeltaTable, app_id: &str) -> Result<i64> {
    transaction_version(table, app_id).await
}

/// The version of application transaction `app_id` a table holds (0 when none).
pub async fn transaction_version(table: &DeltaTable, app_id: &str) -> Result<i64> {
    let snapshot = table.snapshot().map_err(|source| delta(table, source))?;
    let version = snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|source| delta(table, source))?;
    Ok(version.unwrap_or(0))
}

/// What happened to a unit's commit on one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// Another run committed this unit first; our files stay unreferenced (vacuum removes them).
    AlreadyCommitted,
    /// With [`Race::Refuse`]: another commit landed after the loaded version; nothing was
    /// committed.
    Raced,
}

/// What a commit does when others committed after the version it loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Race {
    /// Let delta-rs check the winners for conflicts and commit after them (blind appends).
    Rebase,
    /// Commit at exactly the next version or not at all: the caller must check what the
    /// winners added first (`events` beside other shards).
    Refuse,
}

/// Commits `adds` as unit `unit` of `app_id`, unless the table already holds it.
pub async fn commit_unit(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_id: &str,
    unit: i64,
    app_metadata: HashMap<String, serde_json::Value>,
) -> Result<CommitOutcome> {
    commit_once(table, adds, app_id, unit, app_metadata, Race::Rebase).await
}

/// Commits `adds` with `txn(app_id, version)`, unless the table already holds that version.
pub async fn commit_once(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_id: &str,
    unit: i64,
    app_metadata: HashMap<String, serde_json::Value>,
    race: Race,
) -> Result<CommitOutcome> {
    if race == Race::Rebase {
        table
            .update_state()
            .await
            .map_err(|source| delta(table, source))?;
    }
    let held = transaction_version(table, app_id).await?;
    if held >= unit {
        return Ok(CommitOutcome::AlreadyCommitted);
    }
    let partition_by = table
        .snapshot()
        .map_err(|source| delta(table, source))?
        .metadata()
        .partition_columns()
        .to_vec();
    let retries = match race {
        Race::Rebase => CommitProperties::default(),
        // No retry: delta-rs would rebase onto the winners without our check.
        Race::Refuse => CommitProperties::default().with_max_retries(0),
    };
    let properties = retries
        .with_application_transaction(Transaction::new_with_last_update(
            app_id,
            unit,
            Some(chrono::Utc::now().timestamp_millis()),
        ))
        .with_metadata(app_metadata);
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: (!partition_by.is_empty()).then_some(partition_by),
        predicate: None,
    };
    let actions = adds.into_iter().map(Action::Add).collect();
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(table.snapshot().map_err(|source| delta(table, source))?),
            table.log_store(),
            operation,
        )
        .await;
    match committed {
        Ok(_) => {
            table
                .update_state()
                .await
                .map_err(|source| delta(table, source))?;
            Ok(CommitOutcome::Committed)
        }
        Err(source) => {
            // A concurrent run with the same unit conflicts on the txn app id: check who won.
            table
                .update_state()
                .await
                .map_err(|source| delta(table, source))?;
            if transaction_version(table, app_id).await? >= unit {
                Ok(CommitOutcome::AlreadyCommitted)
            } else if race == Race::Refuse && lost_the_version(&source) {
                Ok(CommitOutcome::Raced)
            } else {
                Err(delta(table, source))
            }
        }
    }
}

/// Whether a commit failed only because another took the version it was to have.
fn lost_the_version(error: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    matches!(
        error,
        deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_)
            }
    )
}

/// A delta-rs error, with the table it is about.
pub fn delta(table: &DeltaTable, source: deltalake::DeltaTableError) -> Error {
    delta_at(table.table_url(), source)
}

/// A delta-rs error about the table at `location` (before a `DeltaTable` exists).
pub fn delta_at(location: &Url, source: deltalake::DeltaTableError) -> Error {
    Error::Delta {
        table: location.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::properties::WriterProperties;
    use parquet::schema::types::ColumnPath;

    /// A file's `id` filter is sized for the rows it will hold, at the same false-positive
    /// rate, and nothing else about the file changes; a file with no `id` filter gets none.
    #[test]
    fn a_files_id_filter_is_sized_for_its_rows_and_nothing_else_changes() {
        let (id, detail) = (ColumnPath::from("id"), ColumnPath::from("detail"));
        let events = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_column_bloom_filter_enabled(id.clone(), true)
            .set_column_bloom_filter_fpp(id.clone(), 0.0001)
            .set_column_bloom_filter_max_ndv(id.clone(), 131_072)
            .set_column_encoding(id.clone(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .set_column_dictionary_enabled(id.clone(), false)
            .set_max_row_group_row_count(Some(131_072))
            .build();
        for (rows, ndv) in [(300, 300), (1, 1), (0, 1), (131_072, 131_072)] {
            let sized = super::data_file_properties_for_rows(events.clone(), rows);
            let filter = sized.bloom_filter_properties(&id).unwrap();
            assert_eq!((filter.ndv(), filter.fpp()), (ndv, 0.0001), "{rows} rows");
            assert_eq!(sized.encoding(&id), Some(Encoding::DELTA_LENGTH_BYTE_ARRAY));
            assert!(!sized.dictionary_enabled(&id));
            assert!(sized.dictionary_enabled(&detail));
            assert_eq!(sized.compression(&detail), Compression::SNAPPY);
            assert_eq!(sized.max_row_group_row_count(), Some(131_072));
            assert!(sized.bloom_filter_properties(&detail).is_none());
        }
        let errors = WriterProperties::builder().build();
        let sized = super::data_file_properties_for_rows(errors, 300);
        assert!(sized.bloom_filter_properties(&id).is_none());
    }
}
