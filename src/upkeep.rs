//! Table upkeep for scheduled jobs: optimize (bin-pack and sort small files), vacuum (delete
//! files no version within the retention needs), expire (drop old partitions) and history.
//! Each is one Delta commit (or none): readers see the table before or after, never between.

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::kernel::schema::partitions::{filter_literal, FilterValue};
use deltalake::operations::optimize::OptimizeType;
use futures::TryStreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::table::{self, Lake};

/// What `optimize` did to one table.
#[derive(Debug, Default, Clone, Serialize)]
pub struct OptimizeSummary {
    pub table: String,
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
}

/// `column op 'value'` conditions joined by AND, over partition columns (`dt >= '2026-11-01'`).
pub fn parse_partition_filter(text: &str) -> Result<Vec<(String, String, String)>> {
    let mut filters = Vec::new();
    for part in text.split(" AND ").flat_map(|part| part.split(" and ")) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let op_start = part
            .find(['=', '!', '<', '>'])
            .ok_or_else(|| invalid_filter(text))?;
        let column = part[..op_start].trim();
        let rest = &part[op_start..];
        let op_len = rest
            .find(|c: char| !matches!(c, '=' | '!' | '<' | '>'))
            .unwrap_or(rest.len());
        let (op, value) = rest.split_at(op_len);
        let value = value.trim().trim_matches('\'');
        if column.is_empty() || value.is_empty() {
            return Err(invalid_filter(text));
        }
        filters.push((column.to_owned(), op.to_owned(), value.to_owned()));
    }
    Ok(filters)
}

fn invalid_filter(text: &str) -> Error {
    Error::InvalidArgument(format!(
        "--where {text:?}: use partition conditions like \"dt >= '2026-11-01' AND event_type = 'purchase'\""
    ))
}

/// Bin-packs each partition's small files into files near `target_size`, z-ordered by `sort_by`
/// (one column: sorted by it), so per-file statistics prune well.
pub async fn optimize(
    lake: &Lake,
    table_name: &str,
    filters: &[(String, String, String)],
    target_size: u64,
    sort_by: &[String],
) -> Result<OptimizeSummary> {
    let mut summary = OptimizeSummary {
        table: table_name.to_owned(),
        ..OptimizeSummary::default()
    };
    let Some(table) = lake.open(table_name).await? else {
        return Ok(summary);
    };
    let literals = filters
        .iter()
        .map(|(column, op, value)| filter_literal(column, op, FilterValue::Scalar(value)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| table::delta(&table, source))?;
    let kind = if sort_by.is_empty() {
        OptimizeType::Compact
    } else {
        OptimizeType::ZOrder(sort_by.to_vec())
    };
    let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
    let table_url = table.table_url().to_string();
    // Rewritten files keep the bloom filters compaction writes (the id index probes them).
    let defaults = crate::config::CompactPlan::default();
    let properties =
        table::data_file_properties(&table, defaults.row_group_rows, defaults.row_group_bytes);
    let (_, metrics) = table
        .optimize()
        .with_writer_properties(properties)
        .with_type(kind)
        .with_filters(&literals)
        .with_target_size(target)
        .await
        .map_err(|source| Error::Delta {
            table: table_url,
            source,
        })?;
    summary.files_removed = metrics.num_files_removed;
    summary.files_added = metrics.num_files_added;
    summary.partitions_optimized = metrics.partitions_optimized;
    Ok(summary)
}

/// What `vacuum` did (or would do) to one table.
#[derive(Debug, Default, Clone, Serialize)]
pub struct VacuumSummary {
    pub table: String,
    pub dry_run: bool,
    pub files_deleted: u64,
    /// The first few, for a dry run's reader.
    pub examples: Vec<String>,
}

/// Deletes files no version newer than `retain` ago references, in every table of the lake.
///
/// As Delta itself does, a retention shorter than a table's `delta.deletedFileRetentionDuration`
/// (7 days unless set) is refused, for every table before any is vacuumed, unless
/// `break_time_travel` says the caller knows: the files it deletes may still be read by a
/// running query or a `--as-of` inside the table's promise.
pub async fn vacuum(
    lake: &Lake,
    retain: Duration,
    dry_run: bool,
    break_time_travel: bool,
) -> Result<Vec<VacuumSummary>> {
    use deltalake::table::config::TablePropertiesExt as _;
    let mut tables = Vec::new();
    for name in crate::query::table_names(lake).await? {
        let Some(table) = lake.open(&name).await? else {
            continue;
        };
        let promised = table
            .snapshot()
            .map_err(|source| table::delta(&table, source))?
            .table_config()
            .deleted_file_retention_duration();
        if retain < promised && !break_time_travel {
            return Err(Error::InvalidArgument(format!(
                "--retain {} is shorter than the {name} table's delta.deletedFileRetentionDuration ({}): \
                 files it deletes may still be read by running queries and time travel within \
                 that window; pass --break-time-travel-and-running-readers to vacuum anyway",
                humantime_text(retain),
                humantime_text(promised)
            )));
        }
        tables.push((name, table));
    }
    let mut summaries = Vec::new();
    for (name, table) in tables {
        let table_url = table.table_url().to_string();
        let retention = chrono::Duration::from_std(retain)
            .map_err(|error| Error::InvalidArgument(format!("--retain: {error}")))?;
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await
            .map_err(|source| Error::Delta {
                table: table_url,
                source,
            })?;
        summaries.push(VacuumSummary {
            table: name,
            dry_run,
            files_deleted: metrics.files_deleted.len() as u64,
            examples: metrics.files_deleted.into_iter().take(5).collect(),
        });
    }
    Ok(summaries)
}

/// A duration as `--retain` takes it (`7d`, `36h`, `90s`), in its largest whole unit.
fn humantime_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Rows `expire` deleted from one table.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ExpireSummary {
    pub table: String,
    pub cutoff_day: String,
    pub files_removed: u64,
}

/// Deletes whole partitions older than `cutoff_day` (`dt < cutoff`) from `events` and `errors`.
pub async fn expire(lake: &Lake, cutoff_day: &str) -> Result<Vec<ExpireSummary>> {
    let mut summaries = Vec::new();
    for name in [table::EVENTS, table::ERRORS] {
        let Some(table) = lake.open(name).await? else {
            continue;
        };
        let partitioned_by_dt = table
            .snapshot()
            .map_err(|source| table::delta(&table, source))?
            .metadata()
            .partition_columns()
            .iter()
            .any(|column| column == "dt");
        if !partitioned_by_dt {
            return Err(Error::InvalidArgument(format!(
                "{name} is not partitioned by dt: expire deletes whole dt partitions"
            )));
        }
        let table_url = table.table_url().to_string();
        let predicate = datafusion::prelude::col("dt").lt(datafusion::prelude::lit(cutoff_day));
        let (_, metrics) = table
            .delete()
            .with_predicate(predicate)
            .await
            .map_err(|source| Error::Delta {
                table: table_url,
                source,
            })?;
        summaries.push(ExpireSummary {
            table: name.to_owned(),
            cutoff_day: cutoff_day.to_owned(),
            files_removed: metrics.num_removed_files as u64,
        });
    }
    Ok(summaries)
}

/// One commit of one table, as `history` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub table: String,
    pub version: Option<i64>,
    pub timestamp: Option<String>,
    pub operation: String,
    /// What eventlake wrote into the commit (a compact unit's objects, a replay's rounds, …).
    pub details: serde_json::Value,
}

impl Commit {
    /// What the commit did, on one line: a compact unit's objects, records and errors (its
    /// per-object counts are in `--json`), or the operation's parameters, shortened.
    pub fn summary(&self) -> String {
        let details = &self.details;
        if let Some(unit) = details.get(crate::table::ledger::COMMIT_METADATA_KEY) {
            let total = |name: &str| -> u64 {
                unit["counts"][name]
                    .as_array()
                    .map_or(0, |values| values.iter().filter_map(|v| v.as_u64()).sum())
            };
            return format!(
                "unit {}: {} objects, {} records, {} events, {} duplicates, {} errors",
                unit["unit"],
                unit["objects"],
                total("records"),
                total("events"),
                total("duplicates"),
                total("errors")
            );
        }
        let mut text = match details.as_object() {
            Some(fields) => fields
                .iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => format!("{key}={text}"),
                    other => format!("{key}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            None => String::new(),
        };
        if text.chars().count() > SUMMARY_CHARS {
            text = text.chars().take(SUMMARY_CHARS - 1).collect::<String>() + "…";
        }
        text
    }
}

/// A commit's line in `history` stays readable in a terminal.
const SUMMARY_CHARS: usize = 100;

pub async fn history(lake: &Lake, limit: Option<usize>) -> Result<Vec<Commit>> {
    let mut commits = Vec::new();
    for name in crate::query::table_names(lake).await? {
        let Some(table) = lake.open(&name).await? else {
            continue;
        };
        let infos: Vec<_> = table
            .history(limit)
            .try_collect()
            .await
            .map_err(|source| table::delta(&table, source))?;
        let newest = table.version().unwrap_or(0);
        for (index, info) in infos.into_iter().enumerate() {
            let mut details = serde_json::Map::new();
            for (key, value) in &info.info {
                if key.starts_with("eventlake") {
                    details.insert(key.clone(), value.clone());
                }
            }
            if let Some(parameters) = &info.operation_parameters {
                for (key, value) in parameters {
                    details.insert(key.clone(), value.clone());
                }
            }
            commits.push(Commit {
                table: name.clone(),
                version: Some(newest as i64 - index as i64),
                timestamp: info
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|time| time.to_rfc3339()),
                operation: info.operation.clone().unwrap_or_default(),
                details: serde_json::Value::Object(details),
            });
        }
    }
    commits.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.table.cmp(&b.table)));
    Ok(commits)
}
