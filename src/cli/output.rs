//! Query results to any `Write`, streamed batch by batch: a `SELECT *` of a billion rows to a
//! file never sits in memory. Only `table`, meant for eyes, stops after a screenful of rows.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::{Error, Result};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns (the default on a terminal); stops after --max-rows rows.
    Table,
    /// Comma-separated with a header (the default when piped).
    Csv,
    /// Tab-separated with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
    /// An Arrow IPC stream: `pyarrow.ipc.open_stream(...)` reads it without parsing text.
    Arrow,
}

impl OutputFormat {
    /// The format `--format` gives, else a table for eyes (a terminal) and CSV for programs.
    pub fn chosen(given: Option<Self>, for_eyes: bool) -> Self {
        given.unwrap_or(if for_eyes {
            OutputFormat::Table
        } else {
            OutputFormat::Csv
        })
    }
}

/// What was printed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Printed {
    pub rows: u64,
    /// Rows a `table` left out.
    pub truncated: bool,
}

/// Writes a result stream in `format`. A closed pipe ends the output quietly (`Ok`).
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: Box<dyn Write + Send>,
    max_table_rows: usize,
) -> Result<Printed> {
    let schema = stream.schema();
    let mut printed = Printed::default();
    let (out, closed) = PipeWatch::new(out);
    let out: Box<dyn Write + Send> = Box::new(out);
    let written: Result<(), WriteError> = async {
        match format {
            OutputFormat::Table => {
                let mut kept: Vec<RecordBatch> = Vec::new();
                let mut rows = 0usize;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    if rows < max_table_rows {
                        let take = (max_table_rows - rows).min(batch.num_rows());
                        rows += take;
                        kept.push(batch.slice(0, take));
                    } else {
                        printed.truncated = true;
                        break;
                    }
                }
                printed.truncated |= printed.rows as usize > rows;
                let mut out = out;
                writeln!(out, "{}", format_table(&schema, &kept)?)?;
                out.flush()?;
            }
            OutputFormat::Csv | OutputFormat::Tsv => {
                let delimiter = if format == OutputFormat::Tsv {
                    b'\t'
                } else {
                    b','
                };
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_delimiter(delimiter)
                    .build(out);
                let mut wrote_any = false;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    writer.write(&nested_as_text(batch)?)?;
                    wrote_any = true;
                }
                if !wrote_any {
                    writer.write(&nested_as_text(RecordBatch::new_empty(schema.clone()))?)?;
                }
                writer.into_inner().flush()?;
            }
            OutputFormat::Json => {
                let mut writer = arrow::json::ArrayWriter::new(out);
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    writer.write(&batch)?;
                }
                // `finish` writes `[]` when no row came.
                writer.finish()?;
                let mut out = writer.into_inner();
                writeln!(out)?;
                out.flush()?;
            }
            OutputFormat::Ndjson => {
                let mut writer = arrow::json::LineDelimitedWriter::new(out);
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    writer.write(&batch)?;
                }
                writer.finish()?;
                writer.into_inner().flush()?;
            }
            OutputFormat::Arrow => {
                let mut writer = arrow::ipc::writer::StreamWriter::try_new(out, &schema)?;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    writer.write(&batch)?;
                }
                writer.finish()?;
                writer.into_inner()?.flush()?;
            }
            OutputFormat::Parquet => {
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                let mut writer =
                    parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(properties))
                        .map_err(|error| ArrowError::ExternalError(Box::new(error)))?;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    printed.rows += batch.num_rows() as u64;
                    writer
                        .write(&batch)
                        .map_err(|error| ArrowError::ExternalError(Box::new(error)))?;
                }
                writer
                    .close()
                    .map_err(|error| ArrowError::ExternalError(Box::new(error)))?;
            }
        }
        Ok(())
    }
    .await;
    match written {
        Ok(()) => Ok(printed),
        // The reader went away (`| head`): what it wanted was printed.
        Err(_) if closed.load(Ordering::Relaxed) => Ok(printed),
        Err(WriteError::Query(error)) => Err(Error::DataFusion(error)),
        Err(WriteError::Output(source)) => Err(Error::Output { source }),
    }
}

/// Why writing results stopped: the query failed, or the output did.
/// `batch` with its lists, structs and maps as text (`[a, b]`, `{k: v}`, as the table format
/// shows them): CSV holds no nested values, and `SELECT *` of `events` has `resources`.
fn nested_as_text(batch: RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
    use arrow::array::{Array, ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|field| field.data_type().is_nested())
    {
        return Ok(batch);
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let text: StringArray = (0..column.len())
            .map(|row| {
                column
                    .is_valid(row)
                    .then(|| formatter.value(row).to_string())
            })
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

enum WriteError {
    Query(datafusion::error::DataFusionError),
    Output(ArrowError),
}

impl From<datafusion::error::DataFusionError> for WriteError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        WriteError::Query(error)
    }
}

impl From<ArrowError> for WriteError {
    fn from(error: ArrowError) -> Self {
        WriteError::Output(error)
    }
}

impl From<std::io::Error> for WriteError {
    fn from(error: std::io::Error) -> Self {
        WriteError::Output(error.into())
    }
}

/// A writer that notes a closed pipe: Arrow's CSV and JSON writers keep only the error's text.
struct PipeWatch {
    inner: Box<dyn Write + Send>,
    closed: Arc<AtomicBool>,
}

impl PipeWatch {
    fn new(inner: Box<dyn Write + Send>) -> (Self, Arc<AtomicBool>) {
        let closed = Arc::new(AtomicBool::new(false));
        let watch = PipeWatch {
            inner,
            closed: closed.clone(),
        };
        (watch, closed)
    }

    fn note<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                self.closed.store(true, Ordering::Relaxed);
            }
        }
        result
    }
}

impl Write for PipeWatch {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Rows as aligned columns; with no rows, the header alone.
pub fn format_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<impl std::fmt::Display, ArrowError> {
    if batches.is_empty() {
        arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(schema.clone())])
    } else {
        arrow::util::pretty::pretty_format_batches(batches)
    }
}
