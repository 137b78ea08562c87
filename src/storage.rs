//! Locations: a local path or a URL becomes an `object_store` with the path inside it.
//!
//! S3 credentials come from the standard AWS sources the SDKs read (environment, shared config,
//! web identity, instance metadata) through `object_store`'s builder; they are never logged.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};

/// Parses `s3://bucket/prefix`, `file:///abs`, or a local path (relative paths are made absolute).
pub fn parse_location(location: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: location.to_owned(),
        reason,
    };
    if location.contains("://") {
        let url = Url::parse(location).map_err(|error| invalid(error.to_string()))?;
        return match url.scheme() {
            "s3" | "s3a" | "file" => Ok(url),
            scheme => Err(invalid(format!(
                "the `{scheme}` scheme is not supported (use a local path, file:// or s3://)"
            ))),
        };
    }
    let path = std::path::absolute(location).map_err(|error| invalid(error.to_string()))?;
    Url::from_directory_path(&path).map_err(|()| invalid("not an absolute path".to_owned()))
}

/// The store behind a location URL and the location's path within it.
pub fn object_store_for(
    url: &Url,
    storage_options: &HashMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, Path)> {
    match url.scheme() {
        "file" => {
            let path = Path::from_url_path(url.path()).map_err(|error| Error::InvalidLocation {
                location: url.to_string(),
                reason: error.to_string(),
            })?;
            Ok((Arc::new(LocalFileSystem::new()), path))
        }
        _ => {
            let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
            for (key, value) in storage_options {
                if let Ok(key) = key.to_ascii_lowercase().parse() {
                    builder = builder.with_config(key, value);
                }
            }
            let store = builder.build().map_err(|source| Error::ObjectStore {
                location: url.to_string(),
                source,
            })?;
            let path = Path::from_url_path(url.path()).map_err(|error| Error::InvalidLocation {
                location: url.to_string(),
                reason: error.to_string(),
            })?;
            Ok((Arc::new(store), path))
        }
    }
}

/// Creates a local folder so a lake can be opened on a new path; no-op for object stores.
pub fn ensure_local_dir(url: &Url) -> Result<()> {
    if url.scheme() == "file" {
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|error| Error::InvalidLocation {
                location: url.to_string(),
                reason: error.to_string(),
            })?;
        }
    }
    Ok(())
}
