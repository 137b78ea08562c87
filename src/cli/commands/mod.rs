//! One module a command: each turns its flags into a library call and prints what came back.
//! The upkeep commands (optimize, vacuum, expire, history) share `upkeep`, `sql` shares
//! `query`.

pub mod catalog;
pub mod compact;
pub mod demo;
pub mod generate;
pub mod query;
pub mod reconcile;
pub mod replay;
pub mod upkeep;
pub mod zendesk;
