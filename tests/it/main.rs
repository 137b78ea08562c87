//! Integration tests, in one binary to save link time.

#[macro_use]
mod common;
mod catalog;
mod compact;
mod crash;
mod follow;
mod hostile;
mod interop;
mod kinesis;
mod paths;
mod query;
mod replay;
mod s3;
mod schedule;
mod shards;
mod snapshots;
mod upkeep;
mod zendesk;
mod zendesk_faults;
