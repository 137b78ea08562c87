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
use std::path::{Component, PathBuf};
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

/// Parses a location as a user types it: `s3://bucket/prefix`, `file:///abs`, or a local path
/// (see [`local_path`]: `~`, relative paths, `..`, spaces and any letters work).
pub fn parse_location(location: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: location.to_owned(),
        reason,
    };
    if has_scheme(location) {
        let url = Url::parse(location).map_err(|error| invalid(error.to_string()))?;
        return match url.scheme() {
            "s3" | "s3a" => Ok(url),
            // Through the path again, so `file://` and a plain path name a folder the same way.
            "file" => {
                let path = url.to_file_path().map_err(|()| {
                    invalid("a file:// URI needs an absolute path on this machine".to_owned())
                })?;
                directory_url(location, &local_path(&path)?)
            }
            scheme => Err(invalid(format!(
                "the `{scheme}` scheme is not supported (use a local path, file:// or s3://)"
            ))),
        };
    }
    directory_url(location, &local_path(std::path::Path::new(location))?)
}

/// `scheme://…` with a scheme as RFC 3986 spells one; anything else is a local path (a folder
/// may be called `a://b`, and Windows-style `C:\` is no scheme either).
fn has_scheme(location: &str) -> bool {
    location.split_once("://").is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn directory_url(location: &str, path: &std::path::Path) -> Result<Url> {
    Url::from_directory_path(path).map_err(|()| Error::InvalidLocation {
        location: location.to_owned(),
        reason: "not an absolute path".to_owned(),
    })
}

/// A local path as a user typed it, made absolute the way a shell would: a leading `~` is the
/// home folder (`$HOME`), a relative path starts at the current folder, and `.` and `..` are
/// resolved on the text, so the path need not exist yet (as `cd` does: `a/link/..` is `a`).
/// Every location and file flag goes through here, so `--lake ../x` and `--tickets ~/t.json`
/// mean what they say; `object_store` itself refuses `..` in a path.
pub fn local_path(typed: &std::path::Path) -> Result<PathBuf> {
    resolve_path(
        typed,
        || std::env::var_os("HOME").map(PathBuf::from),
        std::env::current_dir,
    )
}

/// [`local_path`] with the home and current folders given (asked only when needed).
fn resolve_path(
    typed: &std::path::Path,
    home: impl FnOnce() -> Option<PathBuf>,
    current_dir: impl FnOnce() -> std::io::Result<PathBuf>,
) -> Result<PathBuf> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: typed.display().to_string(),
        reason,
    };
    let mut components = typed.components().peekable();
    let start = match components.peek() {
        Some(Component::Normal(first)) if *first == "~" => {
            components.next();
            home().filter(|home| home.is_absolute()).ok_or_else(|| {
                invalid("no home folder to expand `~` (HOME is not set)".to_owned())
            })?
        }
        Some(Component::RootDir | Component::Prefix(_)) => PathBuf::new(),
        _ => current_dir().map_err(|error| invalid(format!("the current folder: {error}")))?,
    };
    // The home or current folder may hold `..` too: normalise the whole path.
    let mut normal = PathBuf::new();
    for component in start.components().chain(components) {
        match component {
            Component::CurDir => {}
            // `/..` is `/`: pop() never removes the root.
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    Ok(normal)
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
                .map_err(|source| Error::StorageOptions {
                    location: url.to_string(),
                    source,
                })?;
            let (store, path) =
                factory
                    .parse_url_opts(url, &config)
                    .map_err(|source| Error::StorageOptions {
                        location: url.to_string(),
                        source,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(typed: &str) -> PathBuf {
        resolve_path(
            std::path::Path::new(typed),
            || Some(PathBuf::from("/home/ana")),
            || Ok(PathBuf::from("/work/eventlake/notebooks")),
        )
        .unwrap()
    }

    #[test]
    fn relative_paths_resolve_against_the_current_folder_on_their_text() {
        assert_eq!(
            resolve("../eventlake-demo/lake"),
            PathBuf::from("/work/eventlake/eventlake-demo/lake")
        );
        assert_eq!(
            resolve("lake"),
            PathBuf::from("/work/eventlake/notebooks/lake")
        );
        assert_eq!(
            resolve("./a/./b/../c/"),
            PathBuf::from("/work/eventlake/notebooks/a/c")
        );
        assert_eq!(resolve("../../../../.."), PathBuf::from("/"));
        assert_eq!(resolve("/data/x/../y"), PathBuf::from("/data/y"));
        assert_eq!(resolve("/.."), PathBuf::from("/"));
        // The path need not exist.
        assert_eq!(
            resolve("no/such/../folder"),
            PathBuf::from("/work/eventlake/notebooks/no/folder")
        );
    }

    #[test]
    fn a_leading_tilde_is_the_home_folder() {
        assert_eq!(resolve("~"), PathBuf::from("/home/ana"));
        assert_eq!(resolve("~/lakes/../lake"), PathBuf::from("/home/ana/lake"));
        // Only a whole leading `~` segment: these are plain names.
        assert_eq!(
            resolve("~ana/x"),
            PathBuf::from("/work/eventlake/notebooks/~ana/x")
        );
        assert_eq!(
            resolve("a/~"),
            PathBuf::from("/work/eventlake/notebooks/a/~")
        );
        let homeless = resolve_path(
            std::path::Path::new("~/x"),
            || None,
            || Ok(PathBuf::from("/w")),
        );
        assert!(
            matches!(homeless, Err(Error::InvalidLocation { .. })),
            "{homeless:?}"
        );
    }

    #[test]
    fn the_current_folder_is_asked_only_for_relative_paths() {
        let gone = || Err(std::io::Error::other("deleted"));
        assert_eq!(
            resolve_path(std::path::Path::new("/a/../b"), || None, gone).unwrap(),
            PathBuf::from("/b")
        );
        assert!(resolve_path(std::path::Path::new("b"), || None, gone).is_err());
    }

    #[test]
    fn spaces_and_non_ascii_letters_survive_into_the_store_path() {
        let url = parse_location("/tmp/my lake/données/湖").unwrap();
        assert_eq!(
            url.as_str(),
            "file:///tmp/my%20lake/donn%C3%A9es/%E6%B9%96/"
        );
        let (_, path) = object_store_for(&url, &HashMap::new()).unwrap();
        assert_eq!(path.as_ref(), "tmp/my lake/données/湖");
        // The same folder through a file:// URI, encoded or not.
        assert_eq!(
            parse_location("file:///tmp/my%20lake/donn%C3%A9es/%E6%B9%96").unwrap(),
            url
        );
        assert_eq!(
            parse_location("file:///tmp/my lake/données/湖/").unwrap(),
            url
        );
    }

    #[test]
    fn file_uris_name_folders_as_paths_do() {
        assert_eq!(
            parse_location("file:///tmp/a/../b").unwrap().as_str(),
            "file:///tmp/b/"
        );
        assert_eq!(
            parse_location("file://localhost/tmp/b").unwrap().as_str(),
            "file:///tmp/b/"
        );
        assert_eq!(parse_location("/tmp/b").unwrap().as_str(), "file:///tmp/b/");
        assert!(parse_location("file://some-host/tmp/b").is_err());
    }

    #[test]
    fn relative_locations_with_dot_dot_open_a_store() {
        let url = parse_location("../x/./y").unwrap();
        let expected = std::env::current_dir()
            .unwrap()
            .parent()
            .unwrap()
            .join("x/y");
        assert_eq!(url.to_file_path().unwrap(), expected);
        // object_store refuses `..`; the path it gets has none.
        let (_, path) = object_store_for(&url, &HashMap::new()).unwrap();
        assert!(!path.as_ref().contains(".."), "{path}");
    }

    #[test]
    fn s3_locations_are_unchanged_and_other_schemes_refused() {
        let url = parse_location("s3://bucket/prefix/lake").unwrap();
        assert_eq!(url, Url::parse("s3://bucket/prefix/lake").unwrap());
        assert!(matches!(
            parse_location("http://example.com/lake"),
            Err(Error::InvalidLocation { .. })
        ));
        assert!(matches!(
            parse_location("gs://bucket/lake"),
            Err(Error::InvalidLocation { .. })
        ));
    }
}
