//! The scan of a lake table: DataFusion's own Parquet scan over the files the Delta log lists,
//! with the Delta partition values as DataFusion partition columns.
//!
//! delta-rs' scan adds the partition values to every batch through a per-file expression (a
//! sixth of a full scan's CPU) and replays the log again for each query. Here the files come
//! from the snapshot already loaded, the filters prune them by partition values and per-file
//! statistics before any is opened, and DataFusion folds the partition columns to constants per
//! file. Tables this cannot read exactly (deletion vectors, column mapping, files outside the
//! table) keep delta-rs' scan.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, FieldRef, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Column, Statistics, ToDFSchema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::TableType;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::{PruningPredicateBuilder, PruningStatistics};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use deltalake::kernel::EagerSnapshot;
use deltalake::logstore::LogStore;
use deltalake::DeltaTable;

use crate::error::Result;

/// The provider of `table`: ours where it reads the table exactly, delta-rs' otherwise.
pub(crate) fn provider(table: &DeltaTable, state: &dyn Session) -> Result<Arc<dyn TableProvider>> {
    let snapshot = table
        .snapshot()
        .map_err(|source| crate::table::delta(table, source))?
        .snapshot()
        .clone();
    let delta_scan = delta_provider(&snapshot, state)?;
    let log_store = table.log_store();
    Ok(
        match LakeTable::try_new(snapshot, delta_scan.schema(), log_store.as_ref()) {
            Some(ours) => {
                // The files' paths are relative to the table, so the scan reads through a store
                // rooted there, under delta-rs' name for it.
                let runtime = state.runtime_env();
                if runtime.object_store(&ours.store_url).is_err() {
                    runtime.register_object_store(
                        ours.store_url.as_ref(),
                        log_store.object_store(None),
                    );
                }
                Arc::new(ours)
            }
            None => delta_scan,
        },
    )
}

/// delta-rs' scan, with plain partition columns: its default wraps them in dictionaries, which
/// it builds by casting a per-row string column.
fn delta_provider(snapshot: &EagerSnapshot, state: &dyn Session) -> Result<Arc<dyn TableProvider>> {
    use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
    let config = DeltaScanConfig::new_from_session(state).with_wrap_partition_values(false);
    Ok(Arc::new(DeltaScanNext::new(snapshot.clone(), config)?))
}

#[derive(Debug)]
struct LakeTable {
    /// The columns as delta-rs shows them, in the table's order.
    schema: SchemaRef,
    /// The columns the files hold, then the partition columns: the Parquet scan's order.
    scan_schema: TableSchema,
    /// Where each of `schema`'s columns is in `scan_schema`.
    scan_index: Vec<usize>,
    /// Every file of the snapshot, in the log's order (the order pruning answers in).
    files: Vec<PartitionedFile>,
    /// The per-file statistics of the log, for pruning.
    snapshot: EagerSnapshot,
    store_url: ObjectStoreUrl,
}

impl LakeTable {
    /// The table's scan, or `None` where only delta-rs' reads it exactly.
    fn try_new(
        snapshot: EagerSnapshot,
        schema: SchemaRef,
        log_store: &dyn LogStore,
    ) -> Option<Self> {
        let metadata = snapshot.metadata();
        let column_mapping = metadata
            .configuration()
            .get("delta.columnMapping.mode")
            .is_some_and(|mode| mode != "none");
        if column_mapping {
            return None;
        }
        let partition_names = metadata.partition_columns();
        let (partition_fields, file_fields): (Vec<FieldRef>, Vec<FieldRef>) = schema
            .fields()
            .iter()
            .cloned()
            .partition(|field| partition_names.contains(field.name()));
        // Partition columns in the log's order: the order of each file's values below.
        let partition_fields: Vec<FieldRef> = partition_names
            .iter()
            .map(|name| partition_fields.iter().find(|f| f.name() == name).cloned())
            .collect::<Option<_>>()?;
        let file_schema = Arc::new(arrow::datatypes::Schema::new(file_fields));
        let scan_schema = TableSchema::builder(file_schema)
            .with_table_partition_cols(partition_fields.clone())
            .build();
        let scan_fields = scan_schema.table_schema().fields();
        let scan_index = schema
            .fields()
            .iter()
            .map(|field| scan_fields.iter().position(|f| f.name() == field.name()))
            .collect::<Option<Vec<_>>>()?;

        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            if file.deletion_vector_descriptor().is_some() || file.path().contains("://") {
                return None;
            }
            let values = file.partition_values_map();
            let partition_values = partition_fields
                .iter()
                .map(|field| match values.get(field.name()).cloned().flatten() {
                    Some(text) => ScalarValue::try_from_string(text, field.data_type()).ok(),
                    None => ScalarValue::try_from(field.data_type()).ok(),
                })
                .collect::<Option<Vec<_>>>()?;
            let mut scan_file = PartitionedFile::new(
                file.object_store_path().to_string(),
                u64::try_from(file.size()).ok()?,
            );
            scan_file.partition_values = partition_values;
            let mut statistics = Statistics::new_unknown(scan_schema.file_schema());
            if let Some(rows) = file.num_records() {
                statistics.num_rows = Precision::Exact(rows);
            }
            statistics.total_byte_size = Precision::Inexact(scan_file.object_meta.size as usize);
            files.push(scan_file.with_statistics(Arc::new(statistics)));
        }
        Some(Self {
            schema,
            scan_schema,
            scan_index,
            files,
            snapshot,
            store_url: log_store.object_store_url(),
        })
    }

    /// Which files `filters` may hold rows of, by partition values and the log's statistics.
    fn kept(&self, state: &dyn Session, filters: &[Expr]) -> Option<Vec<bool>> {
        let predicate = conjunction(filters.iter().cloned())?;
        let df_schema = self.schema.clone().to_dfschema().ok()?;
        let physical = state.create_physical_expr(predicate, &df_schema).ok()?;
        let pruning = PruningPredicateBuilder::new()
            .with_file_schema(self.schema.clone())
            .with_max_in_list_size(state.config_options().execution.parquet.max_in_list_size)
            .build(physical)?;
        pruning
            .prune(&LogStatistics {
                snapshot: &self.snapshot,
            })
            .ok()
    }
}

#[async_trait::async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // The filters prune files here; DataFusion still applies them to the rows (and pushes
        // them into the Parquet reader, where they prune row groups and pages).
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let kept = self.kept(state, filters);
        let files: Vec<PartitionedFile> = self
            .files
            .iter()
            .enumerate()
            .filter(|(index, _)| kept.as_ref().is_none_or(|kept| kept[*index]))
            .map(|(_, file)| file.clone())
            .collect();
        if files.is_empty() {
            // A scan of no file groups has no partitions, which plans above it cannot take.
            let schema = match projection {
                Some(columns) => Arc::new(self.schema.project(columns)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let projection = match projection {
            Some(columns) => columns
                .iter()
                .map(|&column| self.scan_index[column])
                .collect(),
            None => self.scan_index.clone(),
        };
        let options = state.config_options();
        let parquet_options = datafusion::config::TableParquetOptions {
            global: options.execution.parquet.clone(),
            ..Default::default()
        };
        let store = state.runtime_env().object_store(&self.store_url)?;
        let metadata_cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let source = ParquetSource::new(self.scan_schema.clone())
            .with_table_parquet_options(parquet_options)
            .with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(
                store,
                metadata_cache,
            )));
        // The log's row counts are exact (no deletion vectors here): `count(*)` is answered
        // from them without reading a file.
        let mut statistics = Statistics::new_unknown(self.scan_schema.table_schema());
        statistics.num_rows = files
            .iter()
            .map(|file| file.statistics.as_ref().map(|s| s.num_rows))
            .try_fold(Precision::Exact(0), |total, rows| Some(total.add(&rows?)))
            .unwrap_or(Precision::Absent);
        let groups = FileGroup::new(files).split_files(options.execution.target_partitions);
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(Some(projection))?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// The log's per-file statistics, for pruning. Delta keeps a timestamp's to the millisecond,
/// truncated: a file's latest time can be up to a millisecond past its maximum, so the maximum
/// is widened by one.
struct LogStatistics<'a> {
    snapshot: &'a EagerSnapshot,
}

impl PruningStatistics for LogStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.snapshot.min_values(column)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        let max = self.snapshot.max_values(column)?;
        let DataType::Timestamp(unit, _) = max.data_type() else {
            return Some(max);
        };
        let millisecond = match unit {
            TimeUnit::Second => return None,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1_000_000,
        };
        let ticks = arrow::compute::cast(&max, &DataType::Int64).ok()?;
        let widened =
            arrow::compute::kernels::numeric::add(&ticks, &Int64Array::new_scalar(millisecond))
                .ok()?;
        arrow::compute::cast(&widened, max.data_type()).ok()
    }

    fn num_containers(&self) -> usize {
        self.snapshot.num_containers()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.snapshot.null_counts(column)
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        self.snapshot.row_counts()
    }

    fn contained(&self, column: &Column, values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        self.snapshot.contained(column, values)
    }
}
