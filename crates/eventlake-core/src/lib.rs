//! eventlake's parsing core, the stages a record passes before it meets Arrow or Delta:
//! [`framing`] (bytes → records) → [`record`] + [`transform`] (record → event or error) →
//! [`partition`] (event → safe partition values), with [`time`] for parsing and writing dates.
//!
//! It depends on serde and a few small crates, not Arrow or Delta, so its property tests and fuzz
//! targets (`fuzz/`) build in a minute; the main crate re-exports each module where the pipeline
//! uses it.

mod envelope;
pub mod framing;
pub mod partition;
pub mod record;
mod scan;
pub mod time;
pub mod transform;
