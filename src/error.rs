//! The library's error type: each variant says what failed and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid location {location:?}: {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error("object store at {location}: {source}")]
    ObjectStore {
        location: String,
        #[source]
        source: object_store::Error,
    },

    /// The storage options for a location do not parse (a retry cannot help).
    #[error("storage options for {location}: {source}")]
    StorageOptions {
        location: String,
        #[source]
        source: deltalake::DeltaTableError,
    },

    /// An SQS call failed; `transient` from the SDK's kind of failure and the service's code.
    #[error("queue {queue}: {what}: {detail}")]
    Queue {
        queue: String,
        what: &'static str,
        detail: String,
        transient: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// `--as-of` names a version or time the table does not have.
    #[error("{table} has no {asked}: it holds {available}")]
    AsOfOutOfRange {
        table: String,
        asked: String,
        available: String,
    },

    #[error("reading {object}: {source}")]
    ReadObject {
        object: String,
        #[source]
        source: std::io::Error,
    },

    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },

    /// A data file of a table (one this run wrote, or another shard's) could not be read back.
    #[error("reading data file {path}: {source}")]
    ReadDataFile {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A commit another writer made while this unit ran left the log before it was checked.
    #[error(
        "{table}: commit {version} left the log before this unit could check the ids it added"
    )]
    CommitGone { table: String, version: i64 },

    /// Other writers kept committing between this unit's id check and its commit.
    #[error("{table}: the events commit lost {races} races to other writers in a row")]
    CommitRaces { table: String, races: u64 },

    #[error("building a batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// A query names a table the lake does not hold; `hint` says what it holds.
    #[error("table {table:?} not found: {hint}")]
    TableNotFound { table: String, hint: String },

    /// Results could not be written (stdout, a file); a closed pipe is not an error.
    #[error("writing the results: {source}")]
    Output {
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),

    #[error("config {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("invalid partitioning: {0}")]
    Partitioning(#[from] eventlake_core::partition::PartitionError),

    /// The lake's events table is partitioned otherwise than the config asks.
    #[error("the lake's events table is partitioned by {existing:?}, but the prefix gives {wanted:?}; use a new lake or the same prefix")]
    PartitioningChanged {
        existing: Vec<String>,
        wanted: Vec<String>,
    },

    #[error("invalid transform: {0}")]
    Transform(#[source] crate::transform::TransformError),

    #[error("unit manifest {path}: {reason}")]
    Manifest { path: String, reason: String },

    #[error("{0}")]
    InvalidArgument(String),

    #[error("Zendesk: {0}")]
    Zendesk(#[from] crate::zendesk::ZendeskError),

    /// A catalog (Glue) refused or failed a request.
    #[error("catalog: {what}: {source}")]
    Catalog {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A Kinesis stream refused or failed a request.
    #[error("stream {stream}: {what}: {source}")]
    Stream {
        stream: String,
        what: String,
        transient: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// PutEvents failed as a whole (not per entry).
    #[error("EventBridge PutEvents: {source}")]
    EventBridge {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The command ran to its end, but some events were not delivered (replay): a scheduler
    /// tells this apart from a failure by the exit code.
    #[error("{0}")]
    Incomplete(String),

    #[error("the worker pool failed: {0}")]
    WorkerPool(#[from] tokio::task::JoinError),

    /// The unit's writer ended before the workers did; its own error is reported instead.
    #[error("the unit's writer stopped")]
    WriterStopped,

    /// A table or a query's answer lacks a column, or has it with another type.
    #[error("{query}: column {column} {reason}")]
    Column {
        query: &'static str,
        column: String,
        reason: String,
    },

    /// The demo's reconcile reported other counts than its generator made: a bug.
    #[error("reconcile reported other counts than the generator made ({counts}): a bug, please report it")]
    DemoMismatch { counts: String },

    /// A second stop signal ended `compact --follow` before its micro-batch was committed.
    #[error("stopped by a second signal; the next run finishes the unit it was in")]
    Interrupted,

    /// A worker ended without reporting its object done: it panicked, or vanished. The unit is
    /// not committed, so the object's records are not lost.
    #[error("the worker reading {object} did not finish: {reason}")]
    WorkerLost { object: String, reason: String },
}

/// Exit codes, distinct so that a scheduler can tell outcomes apart (documented in the README).
pub mod exit_code {
    /// The command did everything it was asked.
    pub const DONE: u8 = 0;
    /// The command failed; the message says what and where. A rerun resumes.
    pub const FAILED: u8 = 1;
    /// The command line or its arguments were wrong; nothing was done.
    pub const USAGE: u8 = 2;
    /// The command finished, but some events were not delivered (see its summary).
    pub const INCOMPLETE: u8 = 3;
    /// A second SIGINT or SIGTERM stopped `compact --follow` at once (128 + SIGINT, as shells
    /// report it); the next start finishes the unit it was in.
    pub const INTERRUPTED: u8 = 130;
}

impl Error {
    /// The process exit code this error ends a command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InvalidArgument(_) => exit_code::USAGE,
            Error::Incomplete(_) => exit_code::INCOMPLETE,
            Error::Interrupted => exit_code::INTERRUPTED,
            _ => exit_code::FAILED,
        }
    }

    /// A failure of storage or the network that a later attempt may not meet, decided from the
    /// cause's kind.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::ObjectStore { source, .. } => store_error_is_transient(source),
            Error::ReadObject { source, .. } => {
                crate::source::store_read_error(source).is_some_and(store_error_is_transient)
            }
            Error::Delta { source, .. } => delta_error_is_transient(source),
            Error::Queue { transient, .. } | Error::Stream { transient, .. } => *transient,
            // The unit's retry starts from the table as it is now, with nothing to catch up.
            Error::CommitGone { .. } | Error::CommitRaces { .. } => true,
            Error::ReadDataFile {
                source: parquet::errors::ParquetError::External(cause),
                ..
            } => cause
                .downcast_ref::<object_store::Error>()
                .is_some_and(store_error_is_transient),
            // A panic may come from a passing condition (memory); the unit is retried whole.
            Error::WorkerLost { .. } => true,
            _ => false,
        }
    }
}

fn store_error_is_transient(error: &object_store::Error) -> bool {
    !matches!(
        error,
        object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotSupported { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
    )
}

/// Errors about what a table holds or what was asked of it do not change on a retry; storage,
/// I/O, commit races and the kernel's wrapped read failures may.
fn delta_error_is_transient(error: &deltalake::DeltaTableError) -> bool {
    use deltalake::DeltaTableError as Delta;
    match error {
        Delta::ObjectStore { source } => store_error_is_transient(source),
        Delta::InvalidJsonLog { .. }
        | Delta::InvalidStatsJson { .. }
        | Delta::InvalidVersion(_)
        | Delta::VersionDowngrade { .. }
        | Delta::InvalidDateTimeString { .. }
        | Delta::InvalidData { .. }
        | Delta::NotATable(_)
        | Delta::NoSchema
        | Delta::SchemaMismatch { .. }
        | Delta::PartitionError { .. }
        | Delta::InvalidPartitionFilter { .. }
        | Delta::CommitValidation { .. }
        | Delta::MissingFeature { .. }
        | Delta::InvalidTableLocation(_)
        | Delta::SerializeLogJson { .. }
        | Delta::MetadataError(_)
        | Delta::NotInitialized
        | Delta::NotInitializedWithFiles(_)
        | Delta::Arrow { .. } => false,
        _ => true,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error and its causes on one line, each cause once: a variant's message often includes
/// its source's, as object_store's and delta-rs' do.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = source.source();
    }
    text
}
