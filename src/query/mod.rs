//! DataFusion over a lake: every Delta table in the lake is a SQL table named by its folder,
//! with JSON functions over `detail` and typed, bound parameters.
//!
//! Reads go through the Delta log, so filters on partition columns skip files without listing or
//! opening them, and per-file statistics skip the rest where they can.

mod count_distinct;
pub mod functions;
pub mod params;
pub mod saved;
mod scan;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::ParamValues;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use deltalake::DeltaTable;
use futures::StreamExt;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::table::Lake;

/// Which version of the tables to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Version(i64),
    /// An RFC 3339 timestamp: the latest version committed at or before it.
    Timestamp(String),
}

impl std::str::FromStr for AsOf {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(version) = text.parse::<i64>() {
            return Ok(AsOf::Version(version));
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|_| AsOf::Timestamp(text.to_owned()))
            .map_err(|_| {
                format!("--as-of {text:?} is neither a table version nor an RFC 3339 timestamp")
            })
    }
}

/// A SQL session over one lake.
pub struct LakeSession {
    context: SessionContext,
    tables: Vec<String>,
    schema: Arc<LakeSchema>,
    /// Where the lake is, for messages.
    root: String,
}

impl LakeSession {
    /// Registers every Delta table of the lake (as of `as_of`, when given).
    pub async fn open(lake: &Lake, as_of: Option<&AsOf>) -> Result<Self> {
        // Loading a table reads several log files; a storage failure that outlasted the object
        // store's own retries gets a few more tries here, since opening changes nothing.
        crate::retry::Backoff::STORAGE
            .retry_transient("opening the lake", || Self::open_once(lake, as_of))
            .await
    }

    async fn open_once(lake: &Lake, as_of: Option<&AsOf>) -> Result<Self> {
        // DataFusion's settings from `DATAFUSION_*` variables, as datafusion-cli reads them; the
        // defaults below only where none is set.
        let mut config = SessionConfig::from_env()?.with_information_schema(true);
        let unset = |name: &str| std::env::var_os(name).is_none();
        if unset("DATAFUSION_EXECUTION_TARGET_PARTITIONS") {
            config = config.with_target_partitions(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            );
        }
        // Filters run inside the Parquet reader, so a selective one (a client, an id) decodes
        // `detail` only for the rows it keeps; cheapest filters first.
        let parquet = &mut config.options_mut().execution.parquet;
        if unset("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS") {
            parquet.pushdown_filters = true;
        }
        if unset("DATAFUSION_EXECUTION_PARQUET_REORDER_FILTERS") {
            parquet.reorder_filters = true;
        }
        let mut context = SessionContext::new_with_config(config);
        datafusion_functions_json::register_all(&mut context)?;
        functions::register(&context);
        let tables = table_names(lake).await?;
        let schema = Arc::new(LakeSchema {
            lake: lake.clone(),
            as_of: as_of.cloned(),
            state: context.state(),
            names: tables.clone(),
            opened: Default::default(),
            failure: Default::default(),
        });
        context
            .catalog("datafusion")
            .expect("a new context has its default catalog")
            .register_schema("public", schema.clone())?;
        Ok(Self {
            context,
            tables,
            schema,
            root: lake.root().to_string(),
        })
    }

    /// The lake's tables, by name.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Plans a statement with its parameters bound as typed values.
    pub async fn sql(&self, sql: &str, params: HashMap<String, ScalarValue>) -> Result<DataFrame> {
        let frame = self
            .context
            .sql(sql)
            .await
            .map_err(|error| self.explain_error(sql, error))?;
        if params.is_empty() {
            return Ok(frame);
        }
        frame
            .with_param_values(ParamValues::from(params))
            .map_err(|error| self.explain_error(sql, error))
    }

    /// When the statement names a table the lake does not hold, says so with what it holds, so
    /// the user sees what to type instead; other errors pass as they are.
    fn explain_error(&self, sql: &str, error: datafusion::error::DataFusionError) -> Error {
        if let Some(failure) = self.schema.take_failure() {
            return failure;
        }
        let state = self.context.state();
        let missing = state
            .sql_to_statement(sql, &state.config_options().sql_parser.dialect)
            .and_then(|statement| state.resolve_table_references(&statement))
            .ok()
            .and_then(|references| {
                references
                    .into_iter()
                    .find(|reference| !self.context.table_exist(reference.clone()).unwrap_or(true))
            });
        let Some(table) = missing else {
            return Error::DataFusion(error);
        };
        let hint = if self.tables.is_empty() {
            format!(
                "{} holds no Delta tables; `eventlake compact --lake` makes them",
                self.root
            )
        } else {
            format!("tables in this lake: {}", self.tables.join(", "))
        };
        Error::TableNotFound {
            table: table.to_string(),
            hint,
        }
    }
}

/// The lake's tables as DataFusion's default schema, each opened when a statement first names
/// it: a query of `events` reads only `events`' log, however long the other tables' are.
#[derive(Debug)]
struct LakeSchema {
    lake: Lake,
    as_of: Option<AsOf>,
    /// The session's state when it was made: its config and runtime (where the tables'
    /// object stores are registered) are the session's.
    state: datafusion::execution::SessionState,
    names: Vec<String>,
    opened: tokio::sync::Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// Why a table failed to open, for [`LakeSession::explain_error`] to report as it is.
    failure: std::sync::Mutex<Option<Error>>,
}

impl LakeSchema {
    /// The provider of table `name`, opened on first use; an open that fails is kept for
    /// [`LakeSession::explain_error`].
    async fn table_once(
        &self,
        name: &str,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if !self.names.iter().any(|known| known == name) {
            return Ok(None);
        }
        let mut opened = self.opened.lock().await;
        if let Some(provider) = opened.get(name) {
            return Ok(Some(provider.clone()));
        }
        match self.open(name).await {
            Ok(Some(provider)) => {
                opened.insert(name.to_owned(), provider.clone());
                Ok(Some(provider))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                let message = error.to_string();
                if let Ok(mut failure) = self.failure.lock() {
                    *failure = Some(error);
                }
                Err(datafusion::error::DataFusionError::Execution(message))
            }
        }
    }

    fn take_failure(&self) -> Option<Error> {
        self.failure.lock().ok()?.take()
    }

    async fn open(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // Loading a table reads several log files; a storage failure that outlasted the object
        // store's own retries gets a few more tries here, since opening changes nothing.
        let opened = crate::retry::Backoff::STORAGE
            .retry_transient("opening the lake", || {
                open_as_of(&self.lake, name, self.as_of.as_ref())
            })
            .await;
        let table = match opened {
            // Version numbers are per table: one that has no such version yet is left out
            // rather than failing a query that may not read it.
            Err(error)
                if matches!(self.as_of, Some(AsOf::Version(_))) && name != crate::table::EVENTS =>
            {
                tracing::warn!("{name} is left out: {error}");
                return Ok(None);
            }
            opened => opened?,
        };
        let Some(table) = table else {
            return Ok(None);
        };
        table
            .update_datafusion_session(&self.state)
            .map_err(|source| crate::table::delta(&table, source))?;
        scan::provider(&table, &self.state).map(Some)
    }
}

#[async_trait::async_trait]
impl datafusion::catalog::SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names.iter().any(|known| known == name)
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        self.table_once(name).await
    }
}

/// Folder names in the lake that hold a Delta log.
pub async fn table_names(lake: &Lake) -> Result<Vec<String>> {
    let (store, root) = lake.store()?;
    let listing = store
        .list_with_delimiter(Some(&root))
        .await
        .map_err(|source| Error::ObjectStore {
            location: lake.root().to_string(),
            source,
        })?;
    let mut names = Vec::new();
    for prefix in listing.common_prefixes {
        let Some(name) = prefix.filename().map(str::to_owned) else {
            continue;
        };
        if name.starts_with(['_', '.']) {
            continue;
        }
        let log = prefix.clone().join("_delta_log");
        let mut entries = store.list(Some(&log));
        if entries.next().await.is_some() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

async fn open_as_of(lake: &Lake, name: &str, as_of: Option<&AsOf>) -> Result<Option<DeltaTable>> {
    let Some(as_of) = as_of else {
        return lake.open(name).await;
    };
    let url = lake.table_url(name)?;
    let builder = deltalake::DeltaTableBuilder::from_url(url.clone())
        .map_err(|source| crate::table::delta_at(&url, source))?
        .with_storage_options(lake.storage_options().clone());
    let builder = match as_of {
        AsOf::Version(version) => builder.with_version(u64::try_from(*version).map_err(|_| {
            Error::InvalidArgument(format!("--as-of {version}: versions start at 0"))
        })?),
        AsOf::Timestamp(timestamp) => builder
            .with_datestring(timestamp)
            .map_err(|source| crate::table::delta_at(&url, source))?,
    };
    // The builder's load honours the version; DeltaTable::load would move to the latest.
    match builder.load().await {
        // delta-rs loads the first version for a time before it; Delta (and the user) would
        // call that a version the log does not have.
        Ok(table) => match as_of {
            AsOf::Timestamp(time) if committed_after(&table, time).await? => {
                let range = LogRange::of(&table).await?;
                Err(Error::AsOfOutOfRange {
                    table: name.to_owned(),
                    asked: format!("version at {time}"),
                    available: range.map_or_else(|| "no commits".to_owned(), |r| r.to_string()),
                })
            }
            _ => Ok(Some(table)),
        },
        Err(source) => {
            // A version or time the log does not hold is no storage failure: say what it
            // holds, at once, rather than retrying. (Errors reading the log are still theirs.)
            if let Some(latest) = lake.open(name).await? {
                let range = LogRange::of(&latest).await?;
                if let Some(range) = range.filter(|range| !range.holds(as_of)) {
                    return Err(Error::AsOfOutOfRange {
                        table: name.to_owned(),
                        asked: match as_of {
                            AsOf::Version(version) => format!("version {version}"),
                            AsOf::Timestamp(time) => format!("version at {time}"),
                        },
                        available: range.to_string(),
                    });
                }
            }
            Err(Error::Delta {
                table: url.to_string(),
                source,
            })
        }
    }
}

/// Whether the loaded version of `table` was committed after `time` (RFC 3339).
async fn committed_after(table: &DeltaTable, time: &str) -> Result<bool> {
    use futures::TryStreamExt;
    let Ok(asked) = chrono::DateTime::parse_from_rfc3339(time) else {
        return Ok(false);
    };
    let newest: Vec<_> = table
        .history(Some(1))
        .try_collect()
        .await
        .map_err(|source| crate::table::delta(table, source))?;
    Ok(newest
        .first()
        .and_then(|commit| commit.timestamp)
        .is_some_and(|millis| millis > asked.timestamp_millis()))
}

/// The commits a table's log still holds: the first and the last, with their times.
struct LogRange {
    first: (u64, chrono::DateTime<chrono::Utc>),
    last: (u64, chrono::DateTime<chrono::Utc>),
}

impl LogRange {
    /// Lists `_delta_log/` (only on the error path: a year of ten-minute commits is 53 pages).
    async fn of(table: &DeltaTable) -> Result<Option<Self>> {
        let store = table.object_store();
        let log = object_store::path::Path::from("_delta_log");
        let mut listing = store.list(Some(&log));
        let mut range: Option<Self> = None;
        while let Some(entry) = listing.next().await {
            let entry = entry.map_err(|source| Error::ObjectStore {
                location: format!("{}/_delta_log", table.table_url()),
                source,
            })?;
            let Some(version) = entry
                .location
                .filename()
                .and_then(|name| name.strip_suffix(".json"))
                .filter(|digits| digits.len() == 20)
                .and_then(|digits| digits.parse::<u64>().ok())
            else {
                continue;
            };
            let commit = (version, entry.last_modified);
            range = Some(match range {
                None => Self {
                    first: commit,
                    last: commit,
                },
                Some(range) => Self {
                    first: range.first.min(commit),
                    last: range.last.max(commit),
                },
            });
        }
        Ok(range)
    }

    fn holds(&self, as_of: &AsOf) -> bool {
        match as_of {
            AsOf::Version(version) => u64::try_from(*version)
                .is_ok_and(|version| (self.first.0..=self.last.0).contains(&version)),
            // Any time from the first commit on reads some version.
            AsOf::Timestamp(time) => {
                chrono::DateTime::parse_from_rfc3339(time).is_ok_and(|time| time >= self.first.1)
            }
        }
    }
}

impl std::fmt::Display for LogRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |time: &chrono::DateTime<chrono::Utc>| {
            time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        write!(
            formatter,
            "versions {}–{}, committed from {} to {}",
            self.first.0,
            self.last.0,
            time(&self.first.1),
            time(&self.last.1)
        )
    }
}
