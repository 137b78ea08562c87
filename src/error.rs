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

    #[error("storage at {location}: {reason}")]
    Storage { location: String, reason: String },

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

    #[error("building a batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("{0}")]
    Query(String),

    #[error("config {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("invalid partitioning: {0}")]
    Partitioning(String),

    /// The message includes the transform's error, so it is not also a `#[source]`: `main`
    /// prints the chain (`{:#}`), which would show it twice.
    #[error("invalid transform: {0}")]
    Transform(crate::transform::TransformError),

    #[error("unit manifest {path}: {reason}")]
    Manifest { path: String, reason: String },

    #[error("{0}")]
    InvalidArgument(String),

    #[error("Zendesk: {0}")]
    Zendesk(String),

    #[error("EventBridge: {0}")]
    EventBridge(String),

    /// The command ran to its end, but some events were not delivered (replay): a scheduler
    /// tells this apart from a failure by the exit code.
    #[error("{0}")]
    Incomplete(String),

    #[error("a worker thread failed: {0}")]
    Worker(String),

    /// A worker ended without reporting its object done: it panicked, or vanished. The unit is
    /// not committed, so the object's records are not lost.
    #[error("the worker reading {object} did not finish: {reason}")]
    WorkerLost { object: String, reason: String },

    /// The reconcile candidates query (shipped, or an override) returned a column reconcile
    /// cannot read.
    #[error("reconcile/candidates: column {column} {reason}")]
    CandidatesColumn { column: String, reason: String },
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
            _ => exit_code::FAILED,
        }
    }

    /// A failure of storage or the network that a later attempt may not meet, decided from the
    /// cause's kind.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::ObjectStore { source, .. } => store_error_is_transient(source),
            Error::ReadObject { source, .. } => crate::source::is_store_error(source),
            Error::Delta { source, .. } => delta_error_is_transient(source),
            Error::Storage { .. } => true,
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
