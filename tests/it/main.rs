//! Integration tests, in one binary to save link time.

#[macro_use]
mod common;
mod compact;
mod crash;
mod interop;
mod query;
mod replay;
mod s3;
mod upkeep;
mod zendesk;
