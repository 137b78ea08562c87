//! Integration tests, in one binary to save link time.

mod common;
mod compact;
mod crash;
mod interop;
mod query;
