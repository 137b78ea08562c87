//! Reading a table's data file back from its object store, as Parquet record batches: the
//! sharded commit check reads other writers' `id` columns and rewrites this unit's files.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, MetadataSuffixFetch};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::{Error, Result};

/// The batches of the data file at `path` (relative to the table's store), all columns or
/// only `column`.
pub async fn read(
    store: Arc<dyn ObjectStore>,
    path: &str,
    column: Option<&str>,
) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<StoreReader>> {
    let failed = |source| Error::ReadDataFile {
        path: path.to_owned(),
        source,
    };
    let location = Path::from_url_path(path).map_err(|source| Error::ObjectStore {
        location: path.to_owned(),
        source: source.into(),
    })?;
    let reader = StoreReader { store, location };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(failed)?;
    let builder = match column {
        Some(name) => {
            let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
            builder.with_projection(mask)
        }
        None => builder,
    };
    builder.build().map_err(failed)
}

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
            let metadata = ParquetMetaDataReader::new()
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
