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

    #[error("invalid transform: {0}")]
    Transform(String),

    #[error("unit manifest {path}: {reason}")]
    Manifest { path: String, reason: String },

    #[error("{0}")]
    InvalidArgument(String),

    #[error("Zendesk: {0}")]
    Zendesk(String),

    #[error("EventBridge: {0}")]
    EventBridge(String),

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

impl From<deltalake::DeltaTableError> for Error {
    fn from(source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: String::new(),
            source,
        }
    }
}

impl Error {
    /// A failure of storage or the network that a later attempt may not meet.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::ObjectStore { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            ),
            Error::ReadObject { source, .. } => crate::source::is_store_error(source),
            // delta-rs wraps storage failures in many variants; a unit is idempotent, so a
            // deterministic Delta error costs only a few wasted attempts.
            Error::Delta { .. } | Error::Storage { .. } => true,
            // A panic may come from a passing condition (memory); the unit is retried whole.
            Error::WorkerLost { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
