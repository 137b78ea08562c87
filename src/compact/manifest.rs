//! Claiming a unit: the create-only manifest that names a unit's objects before anything of it
//! is written, and reading back the manifests other runs left.
//!
//! Guarantee: at most one manifest exists per app id and unit number (S3 and local folders both
//! refuse a second create), and once written it never changes, so every run that finishes a
//! unit reads the same objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::Backoff;
use crate::source::SourceObject;
use crate::table::{self, Lake};

/// The manifest a unit claims its objects with.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct UnitManifest {
    /// The shard's application-transaction id ([`super::Shard::app_id`]); manifests written
    /// before sharding have none and are the unsharded sequence's.
    #[serde(default = "unsharded_app_id")]
    pub app_id: String,
    pub unit: i64,
    pub source_root: String,
    pub objects: Vec<SourceObject>,
    /// A stream's unit: the shard range each entry of `objects` is, and where every shard
    /// stands once the unit is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamCheckpoint>,
}

/// Where a stream's shards stand after a unit (`stream.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StreamCheckpoint {
    /// Entry `i` of the unit's objects holds the records of `ranges[i]`.
    pub ranges: Vec<ShardRange>,
    /// Every shard the app id reads, by shard id, as it stands once the unit is committed.
    pub shards: BTreeMap<String, ShardPosition>,
}

/// The records of one shard from `first` to `last` (sequence numbers, both included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ShardRange {
    pub shard: String,
    pub first: String,
    pub last: String,
    pub records: u64,
}

/// How far a shard is committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ShardPosition {
    /// The last sequence number committed (none yet: read from the start position).
    pub last: Option<String>,
    /// Closed and read to its end: its children may be read.
    pub finished: bool,
}

fn unsharded_app_id() -> String {
    table::COMPACT_APP_ID.to_owned()
}

/// Unsharded runs' manifests are in `_eventlake/compact/`, a shard's in
/// `_eventlake/shards/<app id>/`: listing the shard folders never pages through manifests.
fn manifest_path(
    lake: &Lake,
    app_id: &str,
    unit: i64,
) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
    let (store, root) = lake.store()?;
    let folder = if app_id == table::COMPACT_APP_ID {
        root.join("_eventlake").join("compact")
    } else {
        root.join("_eventlake").join("shards").join(app_id)
    };
    Ok((store, folder.join(format!("unit-{unit:020}.json"))))
}

/// The app ids that have claimed units: the unsharded sequence and each shard's.
pub(super) async fn claimed_app_ids(lake: &Lake) -> Result<Vec<String>> {
    let (store, root) = lake.store()?;
    let shards = root.join("_eventlake").join("shards");
    let listed = Backoff::STORAGE
        .retry_transient("listing shard manifests", || async {
            match store.list_with_delimiter(Some(&shards)).await {
                Ok(listed) => Ok(listed.common_prefixes),
                Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
                Err(source) => Err(Error::ObjectStore {
                    location: shards.to_string(),
                    source,
                }),
            }
        })
        .await?;
    let mut app_ids = vec![table::COMPACT_APP_ID.to_owned()];
    app_ids.extend(
        listed
            .iter()
            .filter_map(|prefix| prefix.filename().map(str::to_owned)),
    );
    Ok(app_ids)
}

/// The manifest of unit `unit` of app id `app_id`, if a run claimed it.
pub(super) async fn read_manifest(
    lake: &Lake,
    app_id: &str,
    unit: i64,
) -> Result<Option<UnitManifest>> {
    Backoff::STORAGE
        .retry_transient("reading a unit manifest", || {
            read_manifest_once(lake, app_id, unit)
        })
        .await
}

async fn read_manifest_once(lake: &Lake, app_id: &str, unit: i64) -> Result<Option<UnitManifest>> {
    let (store, path) = manifest_path(lake, app_id, unit)?;
    match store.get(&path).await {
        Ok(result) => {
            let bytes = result.bytes().await.map_err(|source| Error::ObjectStore {
                location: path.to_string(),
                source,
            })?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| Error::Manifest {
                    path: path.to_string(),
                    reason: error.to_string(),
                })
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(Error::ObjectStore {
            location: path.to_string(),
            source,
        }),
    }
}

/// Writes the manifest if no run has; false when another run got there first.
pub(super) async fn claim(lake: &Lake, manifest: &UnitManifest) -> Result<bool> {
    let (store, path) = manifest_path(lake, &manifest.app_id, manifest.unit)?;
    let body = serde_json::to_vec(manifest).map_err(|error| Error::Manifest {
        path: path.to_string(),
        reason: error.to_string(),
    })?;
    let mut attempt = 1;
    loop {
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let result = store
            .put_opts(&path, PutPayload::from(body.clone()), options)
            .await;
        match result {
            Ok(_) => return Ok(true),
            // "Already there" can also mean our own write landed and its reply was lost.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {
                return Ok(read_manifest_once(lake, &manifest.app_id, manifest.unit)
                    .await?
                    .as_ref()
                    == Some(manifest))
            }
            Err(source) if attempt < Backoff::STORAGE.tries => {
                let pause = Backoff::STORAGE.delay(attempt);
                tracing::warn!(unit = manifest.unit, attempt, %source, "claiming the unit failed; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(Error::ObjectStore {
                    location: path.to_string(),
                    source,
                })
            }
        }
    }
}
