//! eventlake: compacts raw Firehose/EventBridge event objects into a partitioned Delta Lake table,
//! exactly once, and gives analysts SQL over it.
//!
//! The modules follow the path a record travels:
//! [`source`] (list, decompress, frame) → [`record`] + [`transform`] (parse, the Lambda's
//! transform) → [`partition`] (Firehose prefixes) → [`table`] (Delta tables, exactly-once commits),
//! wired together by [`compact`]. [`query`] is SQL over the lake, [`replay`] sends selected
//! events back into EventBridge, [`zendesk`] syncs tickets and [`reconcile`] matches them to
//! loyalty purchases. [`generate`] makes input shaped like a real bucket, and [`demo`] runs
//! generate, compact, query and reconcile on a sample. [`catalog`] registers the lake's tables
//! with other engines (Athena, Trino, Spark, Glue).

pub mod aws;
pub mod aws_json;
pub mod catalog;
pub mod cli;
pub mod compact;
pub mod config;
pub mod demo;
pub mod error;
pub mod failpoint;
pub mod generate;
pub mod glue;
pub mod query;
pub mod reconcile;
pub mod replay;
pub mod retry;
pub mod source;
pub mod storage;
pub mod table;
pub mod upkeep;
pub mod zendesk;

pub use eventlake_core::{partition, record, time, transform};

pub use compact::{CompactMetrics, Compaction};
pub use config::{CompactPlan, Config};
pub use error::{Error, Result};
pub use table::Lake;
