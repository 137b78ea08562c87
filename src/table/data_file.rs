//! Reading a table's data file back from its object store, as Parquet record batches: the
//! id index reads bloom filters and `id` columns, and the commit rewrites a unit's files.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{
    AsyncFileReader, MetadataSuffixFetch, ParquetRecordBatchStream,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::{Error, Result};

/// The batches of the data file at `path` (relative to the table's store, as an `Add` action
/// spells it), all columns or only `column`.
pub async fn read(
    store: Arc<dyn ObjectStore>,
    path: &str,
    column: Option<&str>,
) -> Result<ParquetRecordBatchStream<StoreReader>> {
    let location = Path::from_url_path(path).map_err(|source| Error::ObjectStore {
        location: path.to_owned(),
        source: source.into(),
    })?;
    read_path(store, &location, column).await
}

/// The batches of the data file at `location`, all columns or only `column`.
pub async fn read_path(
    store: Arc<dyn ObjectStore>,
    location: &Path,
    column: Option<&str>,
) -> Result<ParquetRecordBatchStream<StoreReader>> {
    let builder = open(store, location).await?;
    let builder = match column {
        Some(name) => {
            let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
            builder.with_projection(mask)
        }
        None => builder,
    };
    builder.build().map_err(|source| failed(location, source))
}

/// The batches of `column` in the given row groups of the data file at `location`.
pub async fn read_row_groups(
    store: Arc<dyn ObjectStore>,
    location: &Path,
    column: &str,
    row_groups: Vec<usize>,
) -> Result<ParquetRecordBatchStream<StoreReader>> {
    let builder = open(store, location).await?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
    builder
        .with_projection(mask)
        .with_row_groups(row_groups)
        .build()
        .map_err(|source| failed(location, source))
}

/// The next batch of a data file's stream, its error naming the file.
pub async fn next_batch(
    batches: &mut ParquetRecordBatchStream<StoreReader>,
    location: &Path,
) -> Result<Option<arrow::array::RecordBatch>> {
    use futures::TryStreamExt;
    batches
        .try_next()
        .await
        .map_err(|source| failed(location, source))
}

/// The data file at `location` with its footer read (one request when the footer fits the
/// prefetch), for its metadata, bloom filters or batches.
pub async fn open(
    store: Arc<dyn ObjectStore>,
    location: &Path,
) -> Result<ParquetRecordBatchStreamBuilder<StoreReader>> {
    let reader = StoreReader {
        store,
        location: location.clone(),
    };
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|source| failed(location, source))
}

fn failed(location: &Path, source: ParquetError) -> Error {
    Error::ReadDataFile {
        path: location.to_string(),
        source,
    }
}

/// Bytes read from a file's end for its footer in the first request.
const FOOTER_PREFETCH_BYTES: usize = 64 << 10;

/// Parquet's reads (ranges, and the footer from the end) as object store requests.
pub struct StoreReader {
    store: Arc<dyn ObjectStore>,
    location: Path,
}

fn store_error(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.location, range)
            .map_err(store_error)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.location, &ranges)
                .await
                .map_err(store_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            // Most footers (and the bloom filters written just before them) fit in 64 KiB:
            // one request instead of two.
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES))
                .with_arrow_reader_options(options)
                .load_via_suffix_and_finish(self)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl MetadataSuffixFetch for &mut StoreReader {
    fn fetch_suffix(&mut self, suffix: usize) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let options = GetOptions {
            range: Some(GetRange::Suffix(suffix as u64)),
            ..Default::default()
        };
        async move {
            let result = self
                .store
                .get_opts(&self.location, options)
                .await
                .map_err(store_error)?;
            result.bytes().await.map_err(store_error)
        }
        .boxed()
    }
}
