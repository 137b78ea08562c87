//! Sharded compaction: N processes on one source and one lake, each taking the objects whose
//! URI hashes to it, so they do disjoint work with no coordinator.
//!
//! Each shard keeps its own unit sequence: its own Delta application-transaction id and its own
//! folder of unit manifests, so shards never wait on or redo each other's units. Their commits
//! to `events` are ordered by Delta's optimistic concurrency (see `concurrent.rs` for how an id
//! delivered into two shards' objects still lands once). Changing N between runs is safe:
//! objects in the ledger are skipped whatever their shard, and a unit another shard count left
//! unfinished is finished before anything new is listed.

use crate::error::{Error, Result};
use crate::table::ledger::key_of;
use crate::table::COMPACT_APP_ID;

/// Which part of the source this run compacts: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Default for Shard {
    /// The whole source (one shard of one): unsharded runs keep their app id and manifests.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// Schedulers that start N copies of a job and tell each its index (0-based).
const INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::InvalidArgument(format!(
                "shard {index}/{count}: shards are numbered from 0 to the count minus 1"
            )));
        }
        Ok(Shard { index, count })
    }

    /// `K/N`, as `--shard` takes it.
    pub fn parse(text: &str) -> Result<Self> {
        let parsed = text.split_once('/').and_then(|(index, count)| {
            Some((index.trim().parse().ok()?, count.trim().parse().ok()?))
        });
        match parsed {
            Some((index, count)) => Shard::new(index, count),
            None => Err(Error::InvalidArgument(format!(
                "--shard {text:?}: expected K/N, such as 0/4 (shards are numbered from 0)"
            ))),
        }
    }

    /// Shard `index` of `count`, the index from a scheduler's environment: a Kubernetes Indexed
    /// Job's `JOB_COMPLETION_INDEX` or an AWS Batch array job's `AWS_BATCH_JOB_ARRAY_INDEX`.
    pub fn from_environment(count: u32, variable: impl Fn(&str) -> Option<String>) -> Result<Self> {
        for name in INDEX_VARIABLES {
            if let Some(value) = variable(name) {
                let index = value.trim().parse().map_err(|_| {
                    Error::InvalidArgument(format!("{name}={value:?} is not a shard index"))
                })?;
                return Shard::new(index, count);
            }
        }
        Err(Error::InvalidArgument(format!(
            "--shard-count {count} needs this run's index: --shard K/{count}, or {} set by the scheduler",
            INDEX_VARIABLES.join(" or ")
        )))
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this shard compacts the object at `uri`. The hash is the ledger's key (SHA-256),
    /// so every process, on any machine and version, agrees.
    pub fn owns(&self, uri: &str) -> bool {
        self.count == 1 || key_of(uri) % u128::from(self.count) == u128::from(self.index)
    }

    /// The application-transaction id of this shard's units (also its manifests' folder).
    pub fn app_id(&self) -> String {
        if self.count == 1 {
            COMPACT_APP_ID.to_owned()
        } else {
            format!("{COMPACT_APP_ID}-shard-{}-of-{}", self.index, self.count)
        }
    }

    /// The shard an app id names (unsharded runs' id is shard 0 of 1).
    pub fn from_app_id(app_id: &str) -> Option<Self> {
        if app_id == COMPACT_APP_ID {
            return Some(Shard::default());
        }
        let rest = app_id
            .strip_prefix(COMPACT_APP_ID)?
            .strip_prefix("-shard-")?;
        let (index, count) = rest.split_once("-of-")?;
        Shard::new(index.parse().ok()?, count.parse().ok()?).ok()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_belongs_to_exactly_one_shard() {
        for count in 1..=5 {
            let shards: Vec<Shard> = (0..count)
                .map(|index| Shard::new(index, count).unwrap())
                .collect();
            let mut per_shard = vec![0; count as usize];
            for n in 0..2_000 {
                let uri = format!("s3://bucket/raw/2026/11/25/10/stream-{n}.gz");
                let owners: Vec<_> = shards.iter().filter(|shard| shard.owns(&uri)).collect();
                assert_eq!(owners.len(), 1, "{uri} in {count} shards");
                per_shard[owners[0].index as usize] += 1;
            }
            // The hash spreads objects evenly (within 20% of the mean).
            let mean = 2_000 / count as usize;
            assert!(
                per_shard
                    .iter()
                    .all(|&n| n * 5 >= mean * 4 && n * 5 <= mean * 6),
                "{per_shard:?}"
            );
        }
    }

    #[test]
    fn shards_parse_and_name_their_app_id() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard::new(1, 4).unwrap());
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("a/2").is_err());
        for shard in [Shard::default(), Shard::new(2, 3).unwrap()] {
            assert_eq!(Shard::from_app_id(&shard.app_id()), Some(shard));
        }
        assert_eq!(Shard::default().app_id(), COMPACT_APP_ID);
        assert_eq!(Shard::from_app_id("eventlake-replay-x"), None);
    }

    #[test]
    fn the_index_comes_from_the_schedulers_environment() {
        let batch = |name: &str| (name == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "2".to_owned());
        assert_eq!(
            Shard::from_environment(3, batch).unwrap(),
            Shard::new(2, 3).unwrap()
        );
        let kubernetes = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "0".to_owned());
        assert_eq!(
            Shard::from_environment(2, kubernetes).unwrap(),
            Shard::new(0, 2).unwrap()
        );
        assert!(Shard::from_environment(2, |_| None).is_err());
        assert!(Shard::from_environment(2, |_| Some("7".into())).is_err());
    }
}
