//! Locations: a local path or a URL becomes an `object_store` with the path inside it.
//!
//! Every S3 store, for the raw source as for the lake, is built by delta-rs' S3 factory, so all
//! of them resolve credentials the same way: explicit options, then the AWS SDK's default chain
//! (environment, shared config and credentials files with `AWS_PROFILE`, web identity, container
//! and instance metadata). Credentials are never logged.
//!
//! Retries (`max_retries`, `retry_timeout`, `backoff_config.*`) and every `object_store` S3 key
//! (`aws_region`, `aws_endpoint`, `aws_conditional_put`, …) can be set as storage options.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Error, Result};

/// Storage options for an S3-compatible endpoint (`--endpoint-url`), on top of `configured`
/// (the `[storage]` table of eventlake.toml). Plain `http://` is allowed only when asked for.
pub fn storage_options(
    configured: &HashMap<String, String>,
    endpoint_url: Option<&str>,
) -> HashMap<String, String> {
    let mut options = configured.clone();
    let endpoint = endpoint_url
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(endpoint) = endpoint {
        if endpoint.starts_with("http://") {
            options.insert("aws_allow_http".into(), "true".into());
        }
        options.insert("aws_endpoint".into(), endpoint);
        // With a custom endpoint delta-rs skips the SDK chain unless told; keep profiles working.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            options
                .entry("AWS_FORCE_CREDENTIAL_LOAD".into())
                .or_insert_with(|| "true".into());
        }
    }
    options
}

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
            let scheme = Url::parse(&format!("{}://", url.scheme())).map_err(|error| {
                Error::InvalidLocation {
                    location: url.to_string(),
                    reason: error.to_string(),
                }
            })?;
            let factory = deltalake::logstore::object_store_factories()
                .get(&scheme)
                .map(|entry| entry.value().clone())
                .ok_or_else(|| Error::InvalidLocation {
                    location: url.to_string(),
                    reason: "no object store is registered for this scheme".to_owned(),
                })?;
            let config = deltalake::logstore::StorageConfig::parse_options(storage_options)
                .map_err(|source| Error::Storage {
                    location: url.to_string(),
                    reason: source.to_string(),
                })?;
            let (store, path) =
                factory
                    .parse_url_opts(url, &config)
                    .map_err(|source| Error::Storage {
                        location: url.to_string(),
                        reason: source.to_string(),
                    })?;
            Ok((store, path))
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

/// Runs `operation` again while it fails with a transient error, up to `tries` times, waiting
/// 0.5 s, 1 s, 2 s… between: for reads and other steps that change nothing when repeated.
pub async fn retry_transient<T, F, Fut>(what: &str, tries: u32, mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if error.is_transient() && attempt < tries => {
                tracing::warn!(attempt, %error, "{what} failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}
