//! Arrow batch builders for the lake's tables: rows go in one at a time without per-row
//! allocation, and come out as `RecordBatch`es whose schema matches the Delta table's.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, DictionaryArray, Int32Builder, Int64Builder,
    ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};

use crate::partition::PartitionTemplate;
use crate::record::Event;
use crate::transform::Detail;

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn timestamp(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

fn resources_field() -> Field {
    Field::new(
        "resources",
        DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
        true,
    )
}

/// The Arrow schema of `events` batches (the same columns as [`super::events_columns`]).
pub fn events_schema(template: &PartitionTemplate) -> SchemaRef {
    let mut fields = vec![
        utf8("id", false),
        utf8("detail_type", true),
        utf8("source", true),
        utf8("account", true),
        timestamp("time", false),
        utf8("region", true),
        resources_field(),
        utf8("client_id", true),
        utf8("event_type", true),
        Field::new("schema_version", DataType::Int64, true),
        utf8("detail", false),
        utf8("source_object", false),
        timestamp("ingested_at", false),
    ];
    fields.extend(
        template
            .extra_columns()
            .map(|column| utf8(&column.name, true)),
    );
    Arc::new(Schema::new(fields))
}

/// The schema of `events` batches on their way from the workers to the writers: as
/// [`events_schema`], but `source_object` dictionary-encoded (each object's name once a batch,
/// a key a row; a row's name copied twice, ~100 bytes, cost 4% of a run). The writers' sort
/// writes it out as text ([`crate::compact`]'s `sort.rs`).
pub fn events_schema_in_flight(template: &PartitionTemplate) -> SchemaRef {
    let fields = events_schema(template)
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "source_object" => Arc::new(Field::new(
                "source_object",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                field.is_nullable(),
            )),
            _ => field.clone(),
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

pub fn errors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("source_object", false),
        Field::new("byte_offset", DataType::Int64, true),
        utf8("error_code", false),
        utf8("error_message", true),
        Field::new("raw_record", DataType::Binary, true),
        utf8("raw_text", true),
        timestamp("ingested_at", false),
        utf8("dt", false),
    ]))
}

pub fn source_objects_schema() -> SchemaRef {
    let long = |name| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        utf8("source_object", false),
        long("size"),
        timestamp("last_modified", true),
        long("records"),
        long("events"),
        long("duplicates"),
        long("errors"),
        long("unit"),
        timestamp("compacted_at", false),
    ]))
}

/// A typical event row's bytes outside `detail`: two UUIDs (id, client id), the source object's
/// URI (about 80), and short strings and timestamps.
const TYPICAL_ROW_BYTES_BESIDES_DETAIL: usize = 160;

/// Rows a new builder has room for before it grows.
const BUILDER_START_ROWS: usize = 64;

/// Bytes a row of a short string column starts with room for: a UUID's 36, rounded up.
const SHORT_TEXT_BYTES: usize = 40;

/// Builds `events` batches.
pub struct EventBatchBuilder {
    schema: SchemaRef,
    id: StringBuilder,
    detail_type: StringBuilder,
    source: StringBuilder,
    account: StringBuilder,
    time: TimestampMicrosecondBuilder,
    region: StringBuilder,
    resources: ListBuilder<StringBuilder>,
    client_id: StringBuilder,
    event_type: StringBuilder,
    schema_version: Int64Builder,
    detail: StringBuilder,
    source_object: ObjectNames,
    ingested_at: TimestampMicrosecondBuilder,
    partition_values: Vec<StringBuilder>,
    rows: usize,
    detail_bytes: usize,
}

/// `source_object` of a batch in flight: a key a row, a name an entry (manifest entries name
/// one object or stream range each, and an entry's rows come together).
struct ObjectNames {
    keys: Int32Builder,
    names: StringBuilder,
    /// The entry whose name is the last one in `names`.
    last_entry: Option<usize>,
}

impl ObjectNames {
    fn with_capacity(rows: usize) -> Self {
        Self {
            keys: Int32Builder::with_capacity(rows),
            names: StringBuilder::new(),
            last_entry: None,
        }
    }

    fn append(&mut self, entry: usize, name: &str) {
        if self.last_entry != Some(entry) {
            self.names.append_value(name);
            self.last_entry = Some(entry);
        }
        // A batch holds at most `BATCH_ROWS` rows, so far fewer names than `i32::MAX`.
        self.keys.append_value(self.names.len() as i32 - 1);
    }

    fn finish(&mut self) -> Result<DictionaryArray<Int32Type>, arrow::error::ArrowError> {
        self.last_entry = None;
        DictionaryArray::try_new(self.keys.finish(), Arc::new(self.names.finish()))
    }
}

impl EventBatchBuilder {
    pub fn new(schema: SchemaRef, extra_partition_columns: usize) -> Self {
        // Small to start: a worker keeps one builder per partition its object's rows fall in,
        // and builders grow as rows come.
        let rows = BUILDER_START_ROWS;
        Self::with_capacity(
            schema,
            extra_partition_columns,
            rows,
            rows * 32,
            rows * SHORT_TEXT_BYTES,
        )
    }

    /// A builder with room for `rows` rows, `detail_bytes` of detail text and `text_bytes` in
    /// each other string column.
    fn with_capacity(
        schema: SchemaRef,
        extra_partition_columns: usize,
        rows: usize,
        detail_bytes: usize,
        text_bytes: usize,
    ) -> Self {
        let string = || StringBuilder::with_capacity(rows, text_bytes);
        let timestamp = || TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
        let element = Arc::new(Field::new("element", DataType::Utf8, true));
        Self {
            schema,
            id: string(),
            detail_type: string(),
            source: string(),
            account: string(),
            time: timestamp(),
            region: string(),
            resources: ListBuilder::with_capacity(string(), rows).with_field(element),
            client_id: string(),
            event_type: string(),
            schema_version: Int64Builder::with_capacity(rows),
            detail: StringBuilder::with_capacity(rows, detail_bytes),
            source_object: ObjectNames::with_capacity(rows),
            ingested_at: timestamp(),
            partition_values: (0..extra_partition_columns).map(|_| string()).collect(),
            rows: 0,
            detail_bytes: 0,
        }
    }

    /// Appends `event`, of manifest entry `entry` (which names `source_object`).
    pub fn append(
        &mut self,
        event: &Event<'_>,
        partition_values: &[String],
        entry: usize,
        source_object: &str,
        ingested_at_micros: i64,
    ) {
        self.id.append_value(&event.id);
        self.detail_type.append_option(event.detail_type.as_deref());
        self.source.append_option(event.source.as_deref());
        self.account.append_option(event.account.as_deref());
        self.time.append_value(event.time_micros);
        self.region.append_option(event.region.as_deref());
        for resource in &event.resources {
            self.resources.values().append_value(resource);
        }
        self.resources.append(true);
        self.client_id.append_option(event.client_id.as_deref());
        self.event_type.append_option(event.event_type.as_deref());
        self.schema_version.append_option(event.schema_version);
        match &event.detail {
            Detail::Text(text) => self.detail.append_value(text),
            pieces => {
                for piece in pieces.pieces() {
                    // A string builder's `write_str` extends the row being built; it cannot fail.
                    let _ = self.detail.write_str(piece);
                }
                self.detail.append_value("");
            }
        }
        self.source_object.append(entry, source_object);
        self.ingested_at.append_value(ingested_at_micros);
        for (builder, value) in self.partition_values.iter_mut().zip(partition_values) {
            builder.append_value(value);
        }
        self.rows += 1;
        self.detail_bytes += event.detail.len();
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes held, to cut batches by size as well as rows: `detail` as measured,
    /// the other columns at a typical row's size.
    pub fn approximate_bytes(&self) -> usize {
        self.detail_bytes + self.rows * TYPICAL_ROW_BYTES_BESIDES_DETAIL
    }

    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.detail_type.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.resources.finish()),
            Arc::new(self.client_id.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.schema_version.finish()),
            Arc::new(self.detail.finish()),
            Arc::new(self.source_object.finish()?),
            Arc::new(self.ingested_at.finish()),
        ];
        columns.extend(
            self.partition_values
                .iter_mut()
                .map(|builder| Arc::new(builder.finish()) as ArrayRef),
        );
        // The next batch of this partition is likely as large: room for it now, instead of
        // growing from nothing by doubling (reallocation copies were ~2.5% of a run's samples),
        // and a quarter more, since one a little larger would copy the whole buffer again
        // (still 1.6% of samples without it; room not written to is not resident).
        let headroom = |size: usize| size + size / 4;
        let rows = headroom(self.rows);
        *self = Self::with_capacity(
            self.schema.clone(),
            self.partition_values.len(),
            rows,
            headroom(self.detail_bytes),
            rows * SHORT_TEXT_BYTES,
        );
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}

/// Which manifest entries a batch's rows came from, in row order: runs of (entry, rows).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EntryRuns(Vec<(usize, usize)>);

impl EntryRuns {
    fn push_row(&mut self, entry: usize) {
        match self.0.last_mut() {
            Some((last, rows)) if *last == entry => *rows += 1,
            _ => self.0.push((entry, 1)),
        }
    }

    /// Calls `found` with the entry of each of `rows` (row numbers of the batch, ascending).
    pub fn entries_of(&self, rows: &[usize], mut found: impl FnMut(usize)) {
        let mut runs = self.0.iter();
        let (mut entry, mut end) = (0, 0);
        for &row in rows {
            while row >= end {
                let Some(&(next, count)) = runs.next() else {
                    return;
                };
                (entry, end) = (next, end + count);
            }
            found(entry);
        }
    }
}

/// `events` batches of one partition each: a row goes to its partition's builder, so the
/// writer takes each batch whole instead of splitting it again (a sort and a copy of every
/// column per batch). A worker keeps them over the entries it reads, so that small objects
/// still make full batches; each batch says which entries its rows came from.
pub struct PartitionedEventBatches {
    schema: SchemaRef,
    extra_partition_columns: usize,
    builders: Vec<EventBatchBuilder>,
    /// Each builder's rows by the entry they came from.
    entries: Vec<EntryRuns>,
    /// Each partition's builder by its key (see `PartitionTemplate::partition_key`).
    by_key: HashMap<String, usize, ahash::RandomState>,
    /// Key and builder of the last row: consecutive rows often share a partition.
    last: Option<(String, usize)>,
    rows: usize,
    bytes: usize,
}

impl PartitionedEventBatches {
    pub fn new(schema: SchemaRef, extra_partition_columns: usize) -> Self {
        Self {
            schema,
            extra_partition_columns,
            builders: Vec::new(),
            entries: Vec::new(),
            by_key: HashMap::default(),
            last: None,
            rows: 0,
            bytes: 0,
        }
    }

    /// Appends a row of manifest entry `entry` to the builder of partition `key`.
    pub fn append(
        &mut self,
        entry: usize,
        key: &str,
        event: &Event<'_>,
        partition_values: &[String],
        source_object: &str,
        ingested_at_micros: i64,
    ) {
        let index = match &self.last {
            Some((last_key, index)) if last_key == key => *index,
            _ => {
                let index = match self.by_key.get(key) {
                    Some(&index) => index,
                    None => {
                        self.builders.push(EventBatchBuilder::new(
                            self.schema.clone(),
                            self.extra_partition_columns,
                        ));
                        self.entries.push(EntryRuns::default());
                        self.by_key.insert(key.to_owned(), self.builders.len() - 1);
                        self.builders.len() - 1
                    }
                };
                match &mut self.last {
                    Some((last_key, last_index)) => {
                        last_key.clear();
                        last_key.push_str(key);
                        *last_index = index;
                    }
                    None => self.last = Some((key.to_owned(), index)),
                }
                index
            }
        };
        self.builders[index].append(
            event,
            partition_values,
            entry,
            source_object,
            ingested_at_micros,
        );
        self.entries[index].push_row(entry);
        self.rows += 1;
        self.bytes += event.detail.len() + TYPICAL_ROW_BYTES_BESIDES_DETAIL;
    }

    /// Rows held, over every partition.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes held, over every partition (as [`EventBatchBuilder`] counts them).
    pub fn approximate_bytes(&self) -> usize {
        self.bytes
    }

    /// Batches of the partitions that hold the most rows, largest first, with the entries of
    /// their rows, until at most `keep_rows` rows and `keep_bytes` bytes stay held (all of
    /// them for 0 and 0); the builders stay for more rows. A day's late events fall in many
    /// small partitions: sent all at once every batch, each was a few rows (a batch, a sort
    /// and a Parquet write of their own); held on, they are sent once they are large.
    pub fn finish_largest(
        &mut self,
        keep_rows: usize,
        keep_bytes: usize,
    ) -> Result<Vec<(RecordBatch, EntryRuns)>, arrow::error::ArrowError> {
        let mut largest: Vec<usize> = (0..self.builders.len())
            .filter(|&index| !self.builders[index].is_empty())
            .collect();
        largest.sort_unstable_by_key(|&index| std::cmp::Reverse(self.builders[index].len()));
        let mut batches = Vec::new();
        for index in largest {
            if self.rows <= keep_rows && self.bytes <= keep_bytes {
                break;
            }
            let builder = &mut self.builders[index];
            self.rows = self.rows.saturating_sub(builder.len());
            self.bytes = self.bytes.saturating_sub(builder.approximate_bytes());
            batches.push((builder.finish()?, std::mem::take(&mut self.entries[index])));
        }
        Ok(batches)
    }
}

/// One bad record, ready for the `errors` table.
pub struct ErrorRow<'a> {
    pub source_object: &'a str,
    pub byte_offset: Option<u64>,
    pub error_code: &'a str,
    pub error_message: &'a str,
    pub raw_record: &'a [u8],
}

/// Builds `errors` batches.
pub struct ErrorBatchBuilder {
    schema: SchemaRef,
    source_object: StringBuilder,
    byte_offset: Int64Builder,
    error_code: StringBuilder,
    error_message: StringBuilder,
    raw_record: BinaryBuilder,
    raw_text: StringBuilder,
    ingested_at: TimestampMicrosecondBuilder,
    dt: StringBuilder,
    rows: usize,
}

impl ErrorBatchBuilder {
    pub fn new() -> Self {
        Self {
            schema: errors_schema(),
            source_object: StringBuilder::new(),
            byte_offset: Int64Builder::new(),
            error_code: StringBuilder::new(),
            error_message: StringBuilder::new(),
            raw_record: BinaryBuilder::new(),
            raw_text: StringBuilder::new(),
            ingested_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            dt: StringBuilder::new(),
            rows: 0,
        }
    }

    pub fn append(&mut self, row: &ErrorRow<'_>, ingested_at_micros: i64, ingest_date: &str) {
        self.source_object.append_value(row.source_object);
        self.byte_offset
            .append_option(row.byte_offset.map(|offset| offset as i64));
        self.error_code.append_value(row.error_code);
        self.error_message.append_value(row.error_message);
        self.raw_record.append_value(row.raw_record);
        self.raw_text
            .append_value(String::from_utf8_lossy(row.raw_record));
        self.ingested_at.append_value(ingested_at_micros);
        self.dt.append_value(ingest_date);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        self.rows = 0;
        RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(self.source_object.finish()),
                Arc::new(self.byte_offset.finish()),
                Arc::new(self.error_code.finish()),
                Arc::new(self.error_message.finish()),
                Arc::new(self.raw_record.finish()),
                Arc::new(self.raw_text.finish()),
                Arc::new(self.ingested_at.finish()),
                Arc::new(self.dt.finish()),
            ],
        )
    }
}

impl Default for ErrorBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{events_schema_in_flight, EntryRuns, EventBatchBuilder, PartitionedEventBatches};
    use crate::partition::{PartitionTemplate, DEFAULT_PREFIX};
    use crate::record::{parse_record, Parsed};
    use crate::transform::Transform;
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;

    proptest::proptest! {
        /// Any row picked from a batch is named by the entry it was appended from.
        #[test]
        fn entries_of_names_each_rows_entry(
            row_entries in proptest::collection::vec(0usize..4, 0..60),
            picks in proptest::collection::vec(proptest::bool::ANY, 60),
        ) {
            let mut runs = EntryRuns::default();
            for &entry in &row_entries {
                runs.push_row(entry);
            }
            let rows: Vec<usize> =
                (0..row_entries.len()).filter(|&row| picks[row]).collect();
            let mut found = Vec::new();
            runs.entries_of(&rows, |entry| found.push(entry));
            let wanted: Vec<usize> = rows.iter().map(|&row| row_entries[row]).collect();
            proptest::prop_assert_eq!(found, wanted);
        }

        /// Whatever the rows, partitions and bounds: each batch `finish_largest` hands out holds
        /// one partition's rows with their entries, no more than the bounds stay held after it,
        /// the partitions sent hold at least as many rows as any kept, and every row comes out
        /// once (the last call, with bounds 0, takes the rest).
        #[test]
        fn the_largest_partitions_go_first_and_every_row_once(
            rows in proptest::collection::vec((0u8..6, 0usize..4), 0..120),
            cuts in proptest::collection::vec((0usize..120, 0usize..40), 0..6),
        ) {
            let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
            let extra_columns = template.extra_columns().count();
            let mut batches =
                PartitionedEventBatches::new(events_schema_in_flight(&template), extra_columns);
            let mut out: Vec<(String, String, usize)> = Vec::new();
            let mut wanted: Vec<(String, String, usize)> = Vec::new();
            let mut scratch = String::new();
            let take = |batches: &mut PartitionedEventBatches, keep_rows: usize, out: &mut Vec<_>| {
                let held = batches.len();
                let sent = batches.finish_largest(keep_rows, usize::MAX).unwrap();
                let sent_rows: usize = sent.iter().map(|(batch, _)| batch.num_rows()).sum();
                assert!(batches.len() <= keep_rows);
                assert_eq!(batches.len(), held - sent_rows);
                let smallest_sent = sent.iter().map(|(batch, _)| batch.num_rows()).min();
                let largest_kept = batches.builders.iter().map(EventBatchBuilder::len).max();
                if let (Some(sent), Some(kept)) = (smallest_sent, largest_kept) {
                    assert!(sent >= kept, "sent {sent} rows while keeping {kept}");
                }
                for (batch, entries) in sent {
                    let keys = batch.column_by_name("event_type").unwrap().as_string::<i32>();
                    let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
                    let rows: Vec<usize> = (0..batch.num_rows()).collect();
                    let mut found = Vec::new();
                    entries.entries_of(&rows, |entry| found.push(entry));
                    assert_eq!(found.len(), batch.num_rows());
                    assert!(keys.iter().all(|key| key == Some(keys.value(0))));
                    for row in rows {
                        out.push((keys.value(row).to_owned(), ids.value(row).to_owned(), found[row]));
                    }
                }
            };
            for (index, (partition, entry)) in rows.iter().enumerate() {
                let record = format!(
                    r#"{{"id":"id-{index}","time":"2026-12-01T00:00:00Z","detail":{{"eventType":"t{partition}"}}}}"#
                );
                let Ok(Parsed::Event(event)) =
                    parse_record(record.as_bytes(), &Transform::sample(), &mut scratch)
                else {
                    panic!("{record} did not parse to an event");
                };
                let values = vec![String::from("2026-12-01"); extra_columns];
                let key = format!("t{partition}");
                batches.append(*entry, &key, &event, &values, "s3://b/o", 0);
                wanted.push((key, format!("id-{index}"), *entry));
                for (at, keep_rows) in &cuts {
                    if *at == index {
                        take(&mut batches, *keep_rows, &mut out);
                    }
                }
            }
            take(&mut batches, 0, &mut out);
            proptest::prop_assert_eq!(batches.len(), 0);
            out.sort();
            wanted.sort();
            proptest::prop_assert_eq!(out, wanted);
        }

        /// Each row's `detail` is its event's text after the transform, whether the transform
        /// kept it whole or added the client id in pieces, and its `source_object` its entry's
        /// name, whatever the rows around it (entries coming back after others included).
        #[test]
        fn detail_column_holds_each_events_transformed_text(
            rows in proptest::collection::vec(
                (
                    proptest::option::of("[a-z\\\\\"\u{e9} -]{0,6}"),
                    proptest::option::of("[a-z-]{0,4}"),
                    "(\\{ ?\\}|\\{\"a\": ?1 ?\\}|\\{\"eventType\":\"x\"\\})",
                    0usize..3,
                ),
                1..12,
            ),
        ) {
            let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
            let extra_columns = template.extra_columns().count();
            let mut builder =
                EventBatchBuilder::new(events_schema_in_flight(&template), extra_columns);
            let partition_values = vec![String::from("v"); extra_columns];
            let mut wanted = Vec::new();
            let mut wanted_names = Vec::new();
            for (client_id, account_number, detail, entry) in &rows {
                let detail = match account_number {
                    Some(number) => format!(
                        "{}\"accountNumber\":\"{number}\"}}",
                        detail.trim_end_matches('}').trim_end().to_owned()
                            + if detail.contains(':') { "," } else { "" }
                    ),
                    None => detail.clone(),
                };
                let resources = match client_id {
                    Some(id) => serde_json::to_string(&[id]).unwrap(),
                    None => "[]".into(),
                };
                let record = format!(
                    r#"{{"id":"i","time":"2026-12-01T00:00:00Z","resources":{resources},"detail":{detail}}}"#
                );
                let mut scratch = String::new();
                let Ok(Parsed::Event(event)) =
                    parse_record(record.as_bytes(), &Transform::sample(), &mut scratch)
                else {
                    panic!("{record} did not parse to an event");
                };
                wanted.push(event.detail.text().into_owned());
                let name = format!("s3://b/o{entry}");
                builder.append(&event, &partition_values, *entry, &name, 0);
                wanted_names.push(name);
            }
            let batch = builder.finish().unwrap();
            let column = batch.column_by_name("detail").unwrap().as_string::<i32>();
            let stored: Vec<&str> = column.iter().map(Option::unwrap).collect();
            proptest::prop_assert_eq!(stored, wanted);
            let names = arrow::compute::cast(
                batch.column_by_name("source_object").unwrap(),
                &DataType::Utf8,
            )
            .unwrap();
            let names: Vec<&str> = names.as_string::<i32>().iter().map(Option::unwrap).collect();
            proptest::prop_assert_eq!(names, wanted_names);
        }
    }
}
