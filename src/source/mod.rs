//! Raw objects: list them, open them as a decompressed byte stream, frame their records.
//!
//! Compression is sniffed from the magic bytes, never the name: gzip (`1f 8b`, multi-member
//! allowed) and zstd (`28 b5 2f fd`, multi-frame allowed); anything else is read as it is.

pub use eventlake_core::framing;

pub mod kinesis;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// Objects a listing page holds (S3's own page size).
const LISTING_PAGE_OBJECTS: usize = 1000;

/// One raw object to compact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceObject {
    /// Full URI, as stored in `source_object` columns (`s3://bucket/key`, `file:///path`).
    pub uri: String,
    /// Path within the store, as `object_store` encodes it.
    pub path: String,
    pub size: u64,
    /// Last-modified time, microseconds since the epoch.
    pub last_modified_micros: i64,
}

/// A prefix of raw objects in a store.
#[derive(Clone)]
pub struct Source {
    root: Url,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// A folder source's files, read by the worker's own thread: `object_store`'s local store
    /// hands each open and read to another thread, which for thousands of small objects cost
    /// more than parsing them.
    local: Option<Arc<object_store::local::LocalFileSystem>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Source({})", self.root)
    }
}

impl Source {
    pub fn new(location: &str, storage_options: &HashMap<String, String>) -> Result<Self> {
        let root = crate::storage::parse_location(location)?;
        Self::from_url(root, storage_options)
    }

    pub fn from_url(root: Url, storage_options: &HashMap<String, String>) -> Result<Self> {
        let (store, prefix) = crate::storage::object_store_for(&root, storage_options)?;
        let local = (root.scheme() == "file")
            .then(|| Arc::new(object_store::local::LocalFileSystem::new()));
        Ok(Self {
            root,
            store,
            prefix,
            local,
        })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The objects under the source, a page at a time as the store lists them (S3: 1,000 keys
    /// a page, in key order), directories and dot-files left out; `after` = `(under, offset)`
    /// lists only the keys under `<source>/<under>` that sort after `<source>/<offset>` (S3's
    /// `StartAfter`): when keys are time-ordered, a listing that costs what is new.
    pub fn pages(
        &self,
        after: Option<(&str, &str)>,
    ) -> Result<futures::stream::BoxStream<'_, Result<Vec<SourceObject>>>> {
        if let Ok(path) = self.root.to_file_path() {
            if !path.is_dir() {
                return Err(Error::InvalidLocation {
                    location: self.root.to_string(),
                    reason: "no such folder".to_owned(),
                });
            }
        }
        let listing = match after {
            None => {
                let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
                self.store.list(prefix)
            }
            Some((under, offset)) => {
                let prefix = self.join(under.trim_end_matches('/'));
                let offset = self.join(offset);
                self.store
                    .list_with_offset((!prefix.as_ref().is_empty()).then_some(&prefix), &offset)
            }
        };
        let pages = listing.chunks(LISTING_PAGE_OBJECTS).map(move |metas| {
            let mut page = Vec::with_capacity(metas.len());
            for meta in metas {
                let meta = meta.map_err(|source| Error::ObjectStore {
                    location: self.root.to_string(),
                    source,
                })?;
                let path = meta.location.to_string();
                if path.ends_with('/') || self.under_source(&path).is_some_and(is_hidden) {
                    continue;
                }
                page.push(SourceObject {
                    uri: self.uri_of(&path),
                    path,
                    size: meta.size,
                    last_modified_micros: meta.last_modified.timestamp_micros(),
                });
            }
            Ok(page)
        });
        Ok(pages.boxed())
    }

    /// The source's prefix followed by `relative`.
    fn join(&self, relative: &str) -> Path {
        let parts = relative.split('/').filter(|part| !part.is_empty());
        if self.prefix.as_ref().is_empty() {
            Path::from_iter(parts)
        } else {
            Path::from_iter(self.prefix.parts().chain(parts.map(Into::into)))
        }
    }

    /// Where a key's Firehose `YYYY/MM/DD/HH/` part sits: the key prefix before it (relative to
    /// the source, ending in `/` unless empty) and the hour it names, in µs since the epoch.
    pub fn dated_prefix(&self, path: &str) -> Option<(String, i64)> {
        let relative = match self.prefix.as_ref() {
            "" => path,
            prefix => path.strip_prefix(prefix)?.strip_prefix('/')?,
        };
        let parts: Vec<&str> = relative.split('/').collect();
        let number = |text: &str, digits: usize| {
            (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<i64>().ok())
                .flatten()
        };
        // The date parts and at least an object name after them.
        for start in 0..parts.len().saturating_sub(4) {
            let (Some(year), Some(month), Some(day), Some(hour)) = (
                number(parts[start], 4),
                number(parts[start + 1], 2),
                number(parts[start + 2], 2),
                number(parts[start + 3], 2),
            ) else {
                continue;
            };
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
                continue;
            }
            let days = crate::time::days_from_civil(year, month, day);
            let micros = (days * 24 + hour) * 3_600_000_000;
            let prefix: String = parts[..start]
                .iter()
                .map(|part| format!("{part}/"))
                .collect();
            return Some((prefix, micros));
        }
        None
    }

    /// The object an S3 event notification names, if it is under this source.
    pub fn notified_object(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        event_time_micros: i64,
    ) -> Option<SourceObject> {
        if self.root.scheme() != "s3" || self.root.host_str() != Some(bucket) {
            return None;
        }
        let path = Path::parse(key).ok()?.to_string();
        if path.ends_with('/') || is_hidden(self.under_source(&path)?) {
            return None;
        }
        Some(SourceObject {
            uri: self.uri_of(&path),
            path,
            size,
            last_modified_micros: event_time_micros,
        })
    }

    /// A store path's part under the source; `None` outside it.
    fn under_source<'p>(&self, path: &'p str) -> Option<&'p str> {
        match self.prefix.as_ref() {
            "" => Some(path),
            prefix => path.strip_prefix(prefix)?.strip_prefix('/'),
        }
    }

    fn uri_of(&self, path: &str) -> String {
        match self.root.scheme() {
            "file" => format!("file:///{path}"),
            scheme => format!(
                "{scheme}://{}/{path}",
                self.root.host_str().unwrap_or_default()
            ),
        }
    }

    /// The raw bytes a record takes in the object's head ([`HEAD_SAMPLE_BYTES`], one ranged
    /// read), decompressed and framed as the workers frame it; `None` when fewer than
    /// [`HEAD_SAMPLE_RECORDS`] records end within it (records that large, or not JSON).
    pub async fn head_bytes_per_record(
        &self,
        object: &SourceObject,
        max_record_bytes: usize,
    ) -> Result<Option<f64>> {
        let location = Path::parse(&object.path).map_err(|error| Error::InvalidLocation {
            location: object.uri.clone(),
            reason: error.to_string(),
        })?;
        let head = self
            .store
            .get_range(&location, 0..object.size.min(HEAD_SAMPLE_BYTES))
            .await
            .map_err(|source| Error::ObjectStore {
                location: object.uri.clone(),
                source,
            })?;
        let whole = head.len() as u64 >= object.size;
        Ok(bytes_per_record_of_head(head, whole, max_record_bytes))
    }

    /// Opens an object for blocking reads (call from a blocking thread), decompressed.
    pub fn open_blocking(
        &self,
        object: &SourceObject,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Box<dyn Read + Send>> {
        let location = Path::parse(&object.path).map_err(|error| Error::InvalidLocation {
            location: object.uri.clone(),
            reason: error.to_string(),
        })?;
        let store_error = |source| Error::ObjectStore {
            location: object.uri.clone(),
            source,
        };
        if let Some(local) = &self.local {
            return open_local(local, &location, object);
        }
        if object.size <= WHOLE_READ_MAX_BYTES {
            // One request and one buffer: no hand-off between threads per chunk.
            let whole = runtime
                .block_on(async { self.store.get(&location).await?.bytes().await })
                .map_err(store_error)?;
            return decompressed(std::io::Cursor::new(whole)).map_err(|source| Error::ReadObject {
                object: object.uri.clone(),
                source,
            });
        }
        let result = runtime
            .block_on(self.store.get(&location))
            .map_err(store_error)?;
        let stream = result
            .into_stream()
            .map_err(|error| std::io::Error::other(StoreReadError(error)));
        let reader = tokio_util::io::StreamReader::new(stream);
        let reader = tokio_util::io::SyncIoBridge::new_with_handle(reader, runtime.clone());
        decompressed(BufReader::with_capacity(READ_BUFFER_BYTES, reader)).map_err(|source| {
            Error::ReadObject {
                object: object.uri.clone(),
                source,
            }
        })
    }
}

/// Whether a path under the source names a dot-file or lies in a dot-folder: left out, as
/// writers stage there. Only the part under the source counts: the source itself may sit in a
/// dot-folder.
fn is_hidden(under_source: &str) -> bool {
    under_source.split('/').any(|part| part.starts_with('.'))
}

/// Opens a folder source's file on this thread; its errors are the store's, as a remote
/// object's are (`is_store_error`).
fn open_local(
    local: &object_store::local::LocalFileSystem,
    location: &Path,
    object: &SourceObject,
) -> Result<Box<dyn Read + Send>> {
    let file = local
        .path_to_filesystem(location)
        .and_then(|path| {
            std::fs::File::open(path).map_err(|error| local_store_error(&object.uri, error))
        })
        .map_err(|source| Error::ObjectStore {
            location: object.uri.clone(),
            source,
        })?;
    let uri = object.uri.clone();
    // The bytes the listing saw, as a store's object is fixed: a file still being appended to
    // ends where it was listed.
    let marked = MarkedErrors {
        inner: file.take(object.size),
        mark: move |error| std::io::Error::other(StoreReadError(local_store_error(&uri, error))),
    };
    // Small objects get a small buffer.
    let capacity = (object.size as usize).clamp(8 << 10, READ_BUFFER_BYTES);
    sniffed(marked, capacity).map_err(|source| Error::ReadObject {
        object: object.uri.clone(),
        source,
    })
}

/// [`decompressed`] for a reader that is not buffered: a compressed one is read through a
/// buffer of `buffer_bytes`, a plain one as it is, so that its bytes go straight into the
/// caller's (through a buffer, every byte of a local file was copied once more: 1% of a run).
fn sniffed<R: Read + Send + 'static>(
    mut reader: R,
    buffer_bytes: usize,
) -> std::io::Result<Box<dyn Read + Send>> {
    let mut head = [0u8; ZSTD_MAGIC.len()];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let compressed = is_compressed_head(&head[..filled]);
    let reader = std::io::Cursor::new(head).take(filled as u64).chain(reader);
    if compressed {
        decompressed(BufReader::with_capacity(buffer_bytes, reader))
    } else {
        Ok(Box::new(reader))
    }
}

/// A local file's error as the local store would report it.
fn local_store_error(uri: &str, source: std::io::Error) -> object_store::Error {
    match source.kind() {
        std::io::ErrorKind::NotFound => object_store::Error::NotFound {
            path: uri.to_owned(),
            source: Box::new(source),
        },
        std::io::ErrorKind::PermissionDenied => object_store::Error::PermissionDenied {
            path: uri.to_owned(),
            source: Box::new(source),
        },
        _ => object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        },
    }
}

/// A reader whose errors are passed through `mark`.
struct MarkedErrors<R, F> {
    inner: R,
    mark: F,
}

impl<R: Read, F: Fn(std::io::Error) -> std::io::Error> Read for MarkedErrors<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                result => return result.map_err(&self.mark),
            }
        }
    }
}

const READ_BUFFER_BYTES: usize = 1 << 20;
/// Objects up to this size are read whole; larger ones stream, so a worker holds at most this
/// much of its object at once (Firehose's own buffer tops out at 128 MiB).
const WHOLE_READ_MAX_BYTES: u64 = 32 << 20;

/// Marks an I/O error that came from the store, not from decoding the bytes, and keeps the
/// store's error (whether a retry can help depends on its kind).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreReadError(pub object_store::Error);

/// True when an I/O error during a read came from the store rather than from corrupt bytes.
pub fn is_store_error(error: &std::io::Error) -> bool {
    store_read_error(error).is_some()
}

/// The store's error behind an I/O error of a read, if it came from the store.
pub fn store_read_error(error: &std::io::Error) -> Option<&object_store::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<StoreReadError>())
        .map(|marked| &marked.0)
}

/// Raw bytes of an object's head that [`Source::head_bytes_per_record`] reads.
pub const HEAD_SAMPLE_BYTES: u64 = 256 << 10;
/// Records a head must hold for its estimate to count.
const HEAD_SAMPLE_RECORDS: u64 = 16;
/// Decompressed bytes of a head read at most (256 KiB of gzip can hold gigabytes).
const HEAD_SAMPLE_TEXT_BYTES: u64 = 8 << 20;
/// Decompressed bytes a head is read in.
const HEAD_READ_BYTES: usize = 64 << 10;

/// A reader that counts the bytes its consumer took: the raw bytes behind the text read.
struct ConsumedBytes<R> {
    inner: R,
    consumed: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for ConsumedBytes<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.consumed
            .fetch_add(read as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(read)
    }
}

impl<R: BufRead> BufRead for ConsumedBytes<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed
            .fetch_add(amount as u64, std::sync::atomic::Ordering::Relaxed);
        self.inner.consume(amount);
    }
}

/// The raw bytes a record takes in `head`, an object's first bytes (all of it when `whole`):
/// the raw bytes per decompressed byte times the decompressed bytes per framed record. A head
/// cut inside a compressed stream ends in a decompression error; what came before it counts.
pub fn bytes_per_record_of_head(
    head: bytes::Bytes,
    whole: bool,
    max_record_bytes: usize,
) -> Option<f64> {
    let consumed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = ConsumedBytes {
        inner: std::io::Cursor::new(head),
        consumed: Arc::clone(&consumed),
    };
    let mut framer = framing::Framer::new(max_record_bytes);
    let mut reader = decompressed(counted).ok()?;
    // At most so much text: a highly compressible head must not fill memory. The raw bytes
    // are those taken by the last read that gave text: a decompressor takes in a cut-off
    // last block (zstd's are up to 128 KiB of text) and gives nothing for it.
    let (mut text_bytes, mut raw_bytes) = (0usize, 0u64);
    let text = framer.buffer_mut();
    while (text_bytes as u64) < HEAD_SAMPLE_TEXT_BYTES {
        text.resize(text_bytes + HEAD_READ_BYTES, 0);
        match reader.read(&mut text[text_bytes..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                text_bytes += read;
                raw_bytes = consumed.load(std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    text.truncate(text_bytes);
    if whole && (text_bytes as u64) < HEAD_SAMPLE_TEXT_BYTES {
        framer.finish();
    }
    let (mut records, mut framed_bytes) = (0u64, 0u64);
    while let Some(frame) = framer.next_frame() {
        records += 1;
        framed_bytes = frame.offset + frame.bytes.len() as u64;
    }
    if records < HEAD_SAMPLE_RECORDS || text_bytes == 0 {
        return None;
    }
    Some(raw_bytes as f64 / text_bytes as f64 * framed_bytes as f64 / records as f64)
}

/// Whether an object's first bytes are gzip's or zstd's magic.
pub fn is_compressed_head(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC) || head.starts_with(&ZSTD_MAGIC)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Wraps a reader in the decompressor its first bytes call for.
pub fn decompressed<R: BufRead + Send + 'static>(
    mut reader: R,
) -> std::io::Result<Box<dyn Read + Send>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(reader)?))
    } else {
        Ok(Box::new(reader))
    }
}

/// Firehose names objects `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`: that time is the
/// arrival time `!{timestamp:…}` refers to. Microseconds since the epoch, if the name has it.
pub fn arrival_time_from_name(path: &str) -> Option<i64> {
    let name = path.rsplit('/').next()?;
    let bytes = name.as_bytes();
    // The uuid is 36 characters; the time is the 19 characters before `-<uuid>`.
    let end = bytes.len().checked_sub(37)?;
    let start = end.checked_sub(19)?;
    let stamp = std::str::from_utf8(&bytes[start..end]).ok()?;
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        stamp.get(0..4)?,
        stamp.get(5..7)?,
        stamp.get(8..10)?,
        stamp.get(11..13)?,
        stamp.get(14..16)?,
        stamp.get(17..19)?
    );
    crate::record::parse_time(&iso).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decompressed(std::io::Cursor::new(bytes))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever the records' size, spacing and compression, the head's estimate is within
        /// a fifth of the whole object's raw bytes per record; a head of fewer than 16 records
        /// tells nothing.
        #[test]
        fn a_heads_bytes_per_record_are_the_objects(
            sizes in proptest::collection::vec(40usize..4000, 1..8),
            compression in 0u8..3,
            separator in proptest::sample::select(vec!["\n", "", " ", "\r\n"]),
            seed in 0u64..1000,
        ) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut text = String::new();
            let mut records = 0u64;
            while text.len() < 3 * HEAD_SAMPLE_BYTES as usize {
                let size = sizes[records as usize % sizes.len()];
                let note: String = (0..size).map(|_| rng.gen_range(b'a'..=b'z') as char).collect();
                text.push_str(&format!(r#"{{"id":"{records}","detail":{{"note":"{note}"}}}}"#));
                text.push_str(separator);
                records += 1;
            }
            let raw = match compression {
                0 => text.into_bytes(),
                1 => {
                    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    encoder.write_all(text.as_bytes()).unwrap();
                    encoder.finish().unwrap()
                }
                _ => zstd::encode_all(text.as_bytes(), 1).unwrap(),
            };
            let actual = raw.len() as f64 / records as f64;
            let head = bytes::Bytes::copy_from_slice(&raw[..raw.len().min(HEAD_SAMPLE_BYTES as usize)]);
            let whole = head.len() == raw.len();
            match bytes_per_record_of_head(head, whole, 1 << 20) {
                Some(estimate) => proptest::prop_assert!(
                    (estimate / actual - 1.0).abs() < 0.2,
                    "estimate {estimate}, actual {actual}"
                ),
                // Only a head too small for 16 records may tell nothing.
                None => proptest::prop_assert!(actual * 16.0 > HEAD_SAMPLE_BYTES as f64 / 2.0, "actual {actual}"),
            }
        }
    }

    /// A head that decompresses to far more than the text limit is read to the limit only, and
    /// its estimate is still the raw bytes behind the records read.
    #[test]
    fn a_highly_compressible_head_is_read_to_the_text_limit() {
        let record = "{\"id\":\"a\",\"detail\":{}}\n";
        let records = (64 << 20) / record.len();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..records {
            encoder.write_all(record.as_bytes()).unwrap();
        }
        let raw = encoder.finish().unwrap();
        let actual = raw.len() as f64 / records as f64;
        let head = bytes::Bytes::copy_from_slice(&raw[..raw.len().min(HEAD_SAMPLE_BYTES as usize)]);
        let estimate =
            bytes_per_record_of_head(head, raw.len() <= HEAD_SAMPLE_BYTES as usize, 1 << 20)
                .unwrap();
        assert!(
            (estimate / actual - 1.0).abs() < 0.5,
            "estimate {estimate}, actual {actual}"
        );
    }

    #[test]
    fn a_head_of_few_records_tells_nothing() {
        let text = "{\"id\":1}\n".repeat(15);
        assert_eq!(bytes_per_record_of_head(text.into(), true, 1 << 20), None);
        let text = "{\"id\":1}\n".repeat(16);
        let estimate = bytes_per_record_of_head(text.into(), true, 1 << 20).unwrap();
        assert!((estimate - 9.0).abs() < 0.1, "{estimate}");
        assert_eq!(
            bytes_per_record_of_head(bytes::Bytes::from_static(b"not json at all"), true, 1 << 20),
            None
        );
    }

    /// A folder's file is read on the caller's thread, decompressed as a store's object is, to
    /// the size the listing saw; one gone since the listing is the store's "not found", which
    /// no retry mends. Dot-files
    /// under the folder are left out, though the folder itself is in one (`/tmp/.tmpXXXX`).
    #[test]
    fn a_folders_files_read_as_the_stores_objects() {
        let folder = tempfile::tempdir().unwrap();
        assert!(folder.path().to_str().unwrap().contains("/."));
        std::fs::create_dir(folder.path().join(".staging")).unwrap();
        std::fs::write(folder.path().join(".staging/part"), "{}").unwrap();
        std::fs::write(folder.path().join(".hidden"), "{}").unwrap();
        let text = "{\"id\":\"a\"}\n".repeat(1000);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        std::fs::write(folder.path().join("plain"), &text).unwrap();
        std::fs::write(folder.path().join("gzip"), encoder.finish().unwrap()).unwrap();
        let source = Source::new(folder.path().to_str().unwrap(), &HashMap::new()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let objects: Vec<SourceObject> = runtime.block_on(async {
            let pages: Vec<_> = source.pages(None).unwrap().try_collect().await.unwrap();
            pages.into_iter().flatten().collect()
        });
        assert_eq!(objects.len(), 2);
        for object in &objects {
            let mut read = String::new();
            let mut reader = source.open_blocking(object, runtime.handle()).unwrap();
            reader.read_to_string(&mut read).unwrap();
            assert_eq!(read, text, "{}", object.uri);
        }
        // A file appended to since the listing is read as it was listed.
        let mut appended = std::fs::OpenOptions::new()
            .append(true)
            .open(folder.path().join("plain"))
            .unwrap();
        appended.write_all(b"{\"id\":\"later\"}\n").unwrap();
        let listed = objects
            .iter()
            .find(|object| object.uri.ends_with("/plain"))
            .unwrap();
        let mut read = String::new();
        let mut reader = source.open_blocking(listed, runtime.handle()).unwrap();
        reader.read_to_string(&mut read).unwrap();
        assert_eq!(read, text);
        std::fs::remove_file(folder.path().join("plain")).unwrap();
        let gone = objects
            .iter()
            .find(|object| object.uri.ends_with("/plain"))
            .unwrap();
        match source.open_blocking(gone, runtime.handle()) {
            Err(
                error @ Error::ObjectStore {
                    source: object_store::Error::NotFound { .. },
                    ..
                },
            ) => assert!(!error.is_transient(), "{error}"),
            Err(error) => panic!("another error: {error}"),
            Ok(_) => panic!("a removed file opened"),
        }
    }

    #[test]
    fn dated_prefixes_of_firehose_keys() {
        let source = Source::new("s3://bucket/landing", &HashMap::new()).unwrap();
        let hour = |y, m, d, h| (crate::time::days_from_civil(y, m, d) * 24 + h) * 3_600_000_000;
        assert_eq!(
            source.dated_prefix("landing/raw/2026/11/25/10/client-events-1-2026-11-25-10-01-02-x"),
            Some(("raw/".to_owned(), hour(2026, 11, 25, 10)))
        );
        assert_eq!(
            source.dated_prefix("landing/2026/01/02/23/name"),
            Some((String::new(), hour(2026, 1, 2, 23)))
        );
        // Not a date, no object name after it, or outside the source.
        assert_eq!(source.dated_prefix("landing/raw/2026/13/25/10/name"), None);
        assert_eq!(source.dated_prefix("landing/raw/2026/11/25/10"), None);
        assert_eq!(source.dated_prefix("elsewhere/2026/11/25/10/name"), None);
        assert_eq!(source.dated_prefix("landingx/2026/11/25/10/name"), None);
    }

    #[test]
    fn notified_objects_are_inside_the_source() {
        let source = Source::new("s3://bucket/landing", &HashMap::new()).unwrap();
        let object = source
            .notified_object("bucket", "landing/2026/11/25/10/a b", 7, 1)
            .unwrap();
        assert_eq!(object.uri, "s3://bucket/landing/2026/11/25/10/a b");
        assert_eq!((object.size, object.last_modified_micros), (7, 1));
        assert!(source.notified_object("other", "landing/x", 7, 1).is_none());
        assert!(source
            .notified_object("bucket", "landing2/x", 7, 1)
            .is_none());
        assert!(source
            .notified_object("bucket", "landing/.hidden/x", 7, 1)
            .is_none());
        // The source may itself sit under a dot-folder.
        let source = Source::new("s3://bucket/.landing", &HashMap::new()).unwrap();
        assert!(source
            .notified_object("bucket", ".landing/2026/x", 7, 1)
            .is_some());
        assert!(source
            .notified_object("bucket", ".landing/.tmp/x", 7, 1)
            .is_none());
    }

    #[test]
    fn sniffs_gzip_multi_member_and_zstd() {
        let mut gz = Vec::new();
        for part in [b"{\"a\":1}".as_slice(), b"{\"b\":2}"] {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(part).unwrap();
            gz.extend(encoder.finish().unwrap());
        }
        assert_eq!(read_all(gz), b"{\"a\":1}{\"b\":2}");
        let zst = zstd::encode_all(&b"{\"z\":1}"[..], 1).unwrap();
        assert_eq!(read_all(zst), b"{\"z\":1}");
        assert_eq!(read_all(b"plain".to_vec()), b"plain");
        assert_eq!(read_all(Vec::new()), b"");
    }

    /// Unbuffered, read a byte a call (the head's four bytes take several reads): the same
    /// bytes as through a buffer, for each kind and for objects shorter than a magic number.
    #[test]
    fn sniffs_an_unbuffered_reader_alike() {
        struct ByteAtATime(std::io::Cursor<Vec<u8>>);
        impl Read for ByteAtATime {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let end = buf.len().min(1);
                self.0.read(&mut buf[..end])
            }
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"g\":1}").unwrap();
        let inputs = [
            gz.finish().unwrap(),
            zstd::encode_all(&b"{\"z\":1}"[..], 1).unwrap(),
            b"{\"plain\":1}".to_vec(),
            vec![0x1f],
            vec![0x28, 0xb5, 0x2f],
            Vec::new(),
        ];
        for input in inputs {
            let mut sniffed_reader = sniffed(ByteAtATime(std::io::Cursor::new(input.clone())), 16)
                .unwrap_or_else(|error| panic!("{input:?}: {error}"));
            let mut out = Vec::new();
            sniffed_reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, read_all(input));
        }
    }

    #[test]
    fn arrival_time_comes_from_firehose_object_names() {
        let name = "raw/2026/11/20/13/client-events-1-2026-11-20-13-45-01-6f1c2a4e-0000-4000-8000-000000000001";
        assert_eq!(
            arrival_time_from_name(name),
            crate::record::parse_time("2026-11-20T13:45:01Z").ok()
        );
        assert_eq!(arrival_time_from_name("searching/1/data.json"), None);
    }
}
