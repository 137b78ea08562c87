//! Query results to any `Write`, streamed batch by batch: a `SELECT *` of a billion rows to a
//! file never sits in memory. Only `table`, meant for eyes, stops after a screenful of rows.

use std::io::Write;

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
    let written: Result<(), ArrowError> = async {
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
                    writer.write(&batch)?;
                    wrote_any = true;
                }
                if !wrote_any {
                    writer.write(&RecordBatch::new_empty(schema.clone()))?;
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
                writer.finish()?;
                let mut out = writer.into_inner();
                if printed.rows == 0 {
                    write!(out, "[]")?;
                }
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
        Err(error) if is_broken_pipe(&error) => Ok(printed),
        Err(ArrowError::ExternalError(source)) => {
            match source.downcast::<datafusion::error::DataFusionError>() {
                Ok(error) => Err(Error::Query(error.to_string())),
                Err(source) => Err(Error::Query(source.to_string())),
            }
        }
        Err(error) => Err(Error::Query(error.to_string())),
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

fn is_broken_pipe(error: &ArrowError) -> bool {
    match error {
        ArrowError::IoError(_, source) => source.kind() == std::io::ErrorKind::BrokenPipe,
        ArrowError::ExternalError(source) => source
            .downcast_ref::<std::io::Error>()
            .is_some_and(|source| source.kind() == std::io::ErrorKind::BrokenPipe),
        _ => error.to_string().contains("Broken pipe"),
    }
}
