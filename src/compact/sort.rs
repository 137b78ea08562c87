//! Sorted runs: the events writer holds back each partition's rows and writes them sorted by
//! `client_id`, then `time`. One client's rows then sit together in each run, so a query for one
//! client reads only the pages that hold them (`client_id`'s page index prunes the others; the
//! files' pages are small, see `table::data_file_properties`), without an `optimize`.
//!
//! Guarantee: every row pushed comes out once, in a run of rows of its own partition only.
//! Memory: at most `held_bytes` of Arrow data over all partitions (plus the batch that crossed
//! it) and `run_rows` rows a partition.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, RecordBatch, RecordBatchOptions, StringArray,
    StringBuilder,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use arrow::error::ArrowError;

/// The columns runs are sorted by, in order; nulls last.
const SORT_COLUMNS: [&str; 2] = ["client_id", "time"];

/// One partition's rows held back.
struct Held {
    /// Each batch with the numbers of its rows to leave out (repeats), ascending.
    batches: Vec<(RecordBatch, Vec<usize>)>,
    /// Rows to write.
    rows: usize,
    bytes: usize,
}

/// Rows held back per partition key `K`, handed out as sorted runs.
pub(super) struct SortedRuns<K> {
    partitions: HashMap<K, Held>,
    held_bytes: usize,
    max_held_bytes: usize,
    run_rows: usize,
}

impl<K: Hash + Eq + Clone> SortedRuns<K> {
    pub(super) fn new(max_held_bytes: usize, run_rows: usize) -> Self {
        Self {
            partitions: HashMap::new(),
            held_bytes: 0,
            max_held_bytes,
            run_rows: run_rows.max(1),
        }
    }

    /// Holds `batch` (all of partition `key`) less its rows numbered in `dropped` (ascending);
    /// returns the runs now due: its partition's once it reaches `run_rows`, else the largest
    /// partition's while more than `max_held_bytes` is held.
    pub(super) fn push(
        &mut self,
        key: K,
        batch: RecordBatch,
        dropped: Vec<usize>,
    ) -> Result<Vec<RecordBatch>, ArrowError> {
        let bytes = batch.get_array_memory_size();
        let held = self.partitions.entry(key.clone()).or_insert(Held {
            batches: Vec::new(),
            rows: 0,
            bytes: 0,
        });
        held.rows += batch.num_rows() - dropped.len();
        held.bytes += bytes;
        held.batches.push((batch, dropped));
        self.held_bytes += bytes;
        let mut due = Vec::new();
        if held.rows >= self.run_rows {
            due.push(self.take(&key)?);
        }
        while self.held_bytes > self.max_held_bytes {
            let Some(largest) = self
                .partitions
                .iter()
                .max_by_key(|(_, held)| held.bytes)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            due.push(self.take(&largest)?);
        }
        Ok(due)
    }

    /// Every partition's remaining rows, as one sorted run each.
    pub(super) fn drain(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        let keys: Vec<K> = self.partitions.keys().cloned().collect();
        keys.iter().map(|key| self.take(key)).collect()
    }

    fn take(&mut self, key: &K) -> Result<RecordBatch, ArrowError> {
        let held = self.partitions.remove(key).ok_or_else(|| {
            ArrowError::InvalidArgumentError("no rows held for a partition".into())
        })?;
        self.held_bytes -= held.bytes;
        sorted(&held.batches)
    }
}

/// The rows of `batches` (one schema), less each one's dropped rows, as one batch sorted by
/// [`SORT_COLUMNS`] (ties in no set order); a column the schema lacks, or of another type than
/// text and 64-bit integers or timestamps, is left out of the order.
fn sorted(batches: &[(RecordBatch, Vec<usize>)]) -> Result<RecordBatch, ArrowError> {
    let [client_name, time_name] = SORT_COLUMNS;
    let clients: Vec<Option<&StringArray>> = batches
        .iter()
        .map(|(batch, _)| batch.column_by_name(client_name)?.as_string_opt::<i32>())
        .collect();
    let times: Vec<Option<&dyn Array>> = batches
        .iter()
        .map(|(batch, _)| {
            batch
                .column_by_name(time_name)
                .map(|column| column.as_ref())
        })
        .collect();
    // One key a row kept: its client's first sixteen bytes (big-endian, so that they order
    // as the text does), nulls last, then time. Integers only: one client's rows tie on their
    // prefix, and comparing their texts was most of the sort. A typed sort, where
    // `lexsort_to_indices` compared through a dynamic comparator.
    let mut keys: Vec<RowKey> = Vec::new();
    for (index, (batch, dropped)) in batches.iter().enumerate() {
        let mut dropped = dropped.iter().peekable();
        let client = clients[index];
        let time = times[index].and_then(i64_values);
        keys.reserve(batch.num_rows() - dropped.len());
        for row in 0..batch.num_rows() {
            if dropped.next_if_eq(&&row).is_some() {
                continue;
            }
            let client_prefix = match client {
                Some(client) if client.is_valid(row) => prefix(client.value(row).as_bytes()),
                Some(_) => NULL_LAST,
                None => [0, 0],
            };
            let time = match time {
                Some((values, nulls)) if nulls.is_none_or(|nulls| nulls.is_valid(row)) => {
                    (false, values[row])
                }
                Some(_) => (true, 0),
                None => (false, 0),
            };
            keys.push(RowKey {
                client_prefix,
                time,
                batch: index as u32,
                row: row as u32,
            });
        }
    }
    keys.sort_unstable_by_key(|key| (key.client_prefix, key.time));
    let client_text = |key: &RowKey| {
        clients[key.batch as usize]
            .filter(|client| client.is_valid(key.row as usize))
            .map(|client| client.value(key.row as usize))
    };
    // Texts that differ only past their sixteenth byte (or in trailing zero bytes) share a
    // prefix: a run of one prefix whose texts are not all one is sorted again by the whole
    // text. One compare a row, where the sort compared one client's rows' texts at each step.
    let mut start = 0;
    while start < keys.len() {
        let run_prefix = keys[start].client_prefix;
        let end = keys[start..]
            .iter()
            .position(|key| key.client_prefix != run_prefix)
            .map_or(keys.len(), |length| start + length);
        let first = client_text(&keys[start]);
        if keys[start + 1..end]
            .iter()
            .any(|key| client_text(key) != first)
        {
            keys[start..end].sort_unstable_by(|a, b| {
                client_text(a)
                    .cmp(&client_text(b))
                    .then(a.time.cmp(&b.time))
            });
        }
        start = end;
    }
    let order: Vec<(usize, usize)> = keys
        .iter()
        .map(|key| (key.batch as usize, key.row as usize))
        .collect();
    let Some((first, _)) = batches.first() else {
        return Err(ArrowError::InvalidArgumentError(
            "no rows held to sort".into(),
        ));
    };
    let columns = (0..first.num_columns())
        .map(|index| {
            let arrays: Vec<&dyn Array> = batches
                .iter()
                .map(|(batch, _)| batch.column(index).as_ref())
                .collect();
            // A column of one text in every row (the partition's own columns, an account, a
            // region) is that text repeated: the gather (8% of compaction's CPU) copied it a
            // row at a time.
            if let Some(column) = one_text(&arrays).and_then(|text| repeated(text, order.len())) {
                return Ok(column);
            }
            match dictionary_texts(&arrays, &order) {
                Some(column) => Ok(column),
                None => interleave(&arrays, &order).map(allocated_values),
            }
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    // Dictionary columns come out as their texts: the table's types.
    let fields: Vec<Field> = first
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(field, column)| {
            field
                .as_ref()
                .clone()
                .with_data_type(column.data_type().clone())
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        first.schema().metadata().clone(),
    ));
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    RecordBatch::try_new_with_options(schema, columns, &options)
}

/// A text dictionary column (32-bit keys) in `order`, written out as text: batches in flight
/// hold `source_object` so (see `table::batch::events_schema_in_flight`), and this is the one
/// copy of each row's text. `None` for other columns.
fn dictionary_texts(arrays: &[&dyn Array], order: &[(usize, usize)]) -> Option<ArrayRef> {
    let dictionaries: Vec<&DictionaryArray<Int32Type>> = arrays
        .iter()
        .map(|array| array.as_dictionary_opt::<Int32Type>())
        .collect::<Option<_>>()?;
    let texts: Vec<&StringArray> = dictionaries
        .iter()
        .map(|dictionary| dictionary.values().as_string_opt::<i32>())
        .collect::<Option<_>>()?;
    let text_of = |(batch, row): (usize, usize)| {
        let keys = dictionaries[batch].keys();
        keys.is_valid(row)
            .then(|| texts[batch].value(keys.value(row) as usize))
    };
    let bytes: usize = order
        .iter()
        .map(|&place| text_of(place).map_or(0, str::len))
        .sum();
    let mut column = StringBuilder::with_capacity(order.len(), bytes);
    for &place in order {
        column.append_option(text_of(place));
    }
    Some(allocated_values(Arc::new(column.finish())))
}

/// The text every row of `arrays` holds, if they are text columns without nulls that hold one
/// text throughout.
fn one_text<'a>(arrays: &[&'a dyn Array]) -> Option<&'a str> {
    let mut text: Option<&'a str> = None;
    for array in arrays {
        let strings = array.as_string_opt::<i32>()?;
        if strings.is_empty() {
            continue;
        }
        if strings.null_count() > 0 {
            return None;
        }
        let first = strings.value(0);
        if text.is_some_and(|text| text != first) {
            return None;
        }
        text = Some(first);
        let length = first.len();
        let offsets = strings.value_offsets();
        let base = offsets[0] as usize;
        let values = &strings.values()[base..offsets[offsets.len() - 1] as usize];
        // Every row `length` long, and the bytes periodic with that period (each byte equal
        // to the one `length` before it): then every row is the first. One compare of the
        // whole buffer, not one a row.
        let same_lengths = offsets
            .windows(2)
            .all(|pair| (pair[1] - pair[0]) as usize == length);
        if !same_lengths || values[length..] != values[..values.len() - length] {
            return None;
        }
    }
    text
}

/// `text` in each of `rows` rows; `None` if that is more than a text column holds.
fn repeated(text: &str, rows: usize) -> Option<ArrayRef> {
    let bytes = text.len().checked_mul(rows)?;
    i32::try_from(bytes).ok()?;
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(text.len(), rows));
    let values = Buffer::from_vec(text.as_bytes().repeat(rows));
    Some(allocated_values(Arc::new(StringArray::new(
        offsets, values, None,
    ))))
}

/// Room a text column's values always have, even when every row is empty. An empty string
/// whose pointer is an empty buffer's (dangling, on no page) made each `memcmp` of it 30 times
/// as slow as one inside an allocation on this machine (glibc's AVX-512 `memcmp` loads under a
/// zero mask, and a load from an unmapped page takes a slow assist): Parquet compares every
/// value for min/max, and one column of empty `region`s took a compaction's CPU from 0.775 to
/// 0.965 s.
const ALLOCATED_BYTES: usize = 64;

/// `column` with its values in an allocation if it is text whose values are all empty (see
/// [`ALLOCATED_BYTES`]); else as it is. Every text column the sort makes passes here.
fn allocated_values(column: ArrayRef) -> ArrayRef {
    match column.as_string_opt::<i32>() {
        Some(texts) if texts.values().is_empty() && !texts.is_empty() => {
            Arc::new(StringArray::new(
                texts.offsets().clone(),
                Buffer::from_vec(Vec::<u8>::with_capacity(ALLOCATED_BYTES)),
                texts.nulls().cloned(),
            ))
        }
        _ => column,
    }
}

/// A row's place in the sort: where it is, and what it is ordered by.
struct RowKey {
    /// The client's first sixteen bytes, big-endian (zero-padded), in two words;
    /// [`NULL_LAST`] for none.
    client_prefix: [u64; 2],
    /// Whether the time is null (nulls last), and the time.
    time: (bool, i64),
    batch: u32,
    row: u32,
}

/// The prefix of a null client: above every text's, whose bytes are UTF-8 (never 0xff).
const NULL_LAST: [u64; 2] = [u64::MAX, u64::MAX];

/// `text`'s first sixteen bytes as a big-endian number, zero-padded, in two words.
fn prefix(text: &[u8]) -> [u64; 2] {
    let mut bytes = [0u8; 16];
    let len = text.len().min(16);
    bytes[..len].copy_from_slice(&text[..len]);
    let number = u128::from_be_bytes(bytes);
    [(number >> 64) as u64, number as u64]
}

/// The values and nulls of a 64-bit integer or timestamp column.
fn i64_values(column: &dyn Array) -> Option<(&[i64], Option<&NullBuffer>)> {
    let values: &[i64] = match column.data_type() {
        DataType::Int64 => column.as_primitive_opt::<Int64Type>()?.values(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => column
            .as_primitive_opt::<TimestampMicrosecondType>()?
            .values(),
        _ => return None,
    };
    Some((values, column.nulls()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, ArrayRef, Int64Array, StringArray, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use proptest::prelude::*;
    use std::sync::Arc;

    type Row = (u8, Option<String>, i64, String, Option<String>);

    /// A batch of partition `partition`: its `dt` column holds one text a partition (two of
    /// them give the same text, so that runs of one text come from batches of others too);
    /// its `source_object`, as batches in flight hold it, a dictionary of a few texts (and
    /// nulls) that batches share.
    fn batch(partition: u8, rows: &[(Option<u8>, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("partition", DataType::UInt8, false),
            Field::new("client_id", DataType::Utf8, true),
            Field::new("time", DataType::Int64, false),
            Field::new("dt", DataType::Utf8, false),
            Field::new(
                "source_object",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]));
        let partitions = UInt8Array::from(vec![partition; rows.len()]);
        let day: StringArray = rows
            .iter()
            .map(|_| Some(format!("2026-12-{:02}", partition / 2)))
            .collect();
        let clients: StringArray = rows
            .iter()
            .map(|(client, _)| client.map(|c| CLIENTS[c as usize % CLIENTS.len()]))
            .collect();
        let times = Int64Array::from_iter_values(rows.iter().map(|(_, time)| *time));
        let objects: DictionaryArray<Int32Type> = rows
            .iter()
            .map(|(_, time)| (*time != 0).then(|| format!("object-{}", time.rem_euclid(3))))
            .collect::<Vec<_>>()
            .iter()
            .map(Option::as_deref)
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(partitions),
            Arc::new(clients),
            Arc::new(times),
            Arc::new(day),
            Arc::new(objects),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// Client texts, among them texts that tie on the sort's sixteen-byte prefix in each way
    /// they can: longer than it and different past it, different only in trailing zero bytes.
    const CLIENTS: [&str; 20] = [
        "",
        "\0",
        "a",
        "a\0",
        "a\0\0",
        "b",
        "customer-account",
        "customer-account\0",
        "customer-account-1",
        "customer-account-10",
        "customer-account-1\0",
        "customer-account-2",
        "customer-account-é",
        "customer-account-e",
        "customer-accounta",
        "customer-accoun",
        "customer-accounu",
        "é",
        "éa",
        "zz",
    ];

    fn rows_of(batch: &RecordBatch) -> Vec<Row> {
        let column = |index: usize| batch.column(index).as_any();
        let partitions = column(0).downcast_ref::<UInt8Array>().unwrap();
        let clients = column(1).downcast_ref::<StringArray>().unwrap();
        let times = column(2).downcast_ref::<Int64Array>().unwrap();
        let days = column(3).downcast_ref::<StringArray>().unwrap();
        // Text after the sort, a dictionary before it.
        let objects = arrow::compute::cast(batch.column(4), &DataType::Utf8).unwrap();
        let objects = objects.as_string::<i32>();
        (0..batch.num_rows())
            .map(|row| {
                let client = clients.is_valid(row).then(|| clients.value(row).to_owned());
                let object = objects.is_valid(row).then(|| objects.value(row).to_owned());
                (
                    partitions.value(row),
                    client,
                    times.value(row),
                    days.value(row).to_owned(),
                    object,
                )
            })
            .collect()
    }

    /// Columns whose texts are all empty come out with their values in an allocation (see
    /// [`ALLOCATED_BYTES`]): one text in every row, empty texts among nulls, a dictionary of an
    /// empty name.
    #[test]
    fn empty_texts_are_written_in_an_allocation() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("client_id", DataType::Utf8, true),
            Field::new("region", DataType::Utf8, true),
            Field::new("account", DataType::Utf8, true),
            Field::new(
                "source_object",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
        ]));
        let batch = |clients: Vec<&str>| {
            let rows = clients.len();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(clients)),
                Arc::new(StringArray::from(vec![""; rows])),
                Arc::new(StringArray::from_iter(
                    (0..rows).map(|row| (row % 2 == 0).then_some("")),
                )),
                Arc::new(DictionaryArray::<Int32Type>::from_iter(vec![""; rows])),
            ];
            (
                RecordBatch::try_new(schema.clone(), columns).unwrap(),
                Vec::new(),
            )
        };
        let run = sorted(&[batch(vec!["b", "a", "c"]), batch(vec!["d", "a"])]).unwrap();
        assert_eq!(run.num_rows(), 5);
        for name in ["region", "account", "source_object"] {
            let texts = run.column_by_name(name).unwrap().as_string::<i32>();
            assert!(
                texts.iter().all(|text| text.is_none_or(str::is_empty)),
                "{name}"
            );
            assert!(texts.values().capacity() >= ALLOCATED_BYTES, "{name}");
        }
    }

    proptest! {
        /// `one_text` finds the text exactly when every row of every array (sliced anywhere)
        /// holds it, and no row is null.
        #[test]
        fn one_text_is_the_text_of_every_row(
            arrays in prop::collection::vec(
                (prop::collection::vec(prop::option::weighted(0.97, "[ab]{0,3}"), 0..12), 0usize..3),
                1..4,
            ),
        ) {
            let arrays: Vec<StringArray> = arrays
                .iter()
                .map(|(rows, skip)| {
                    let array = StringArray::from(rows.clone());
                    let skip = (*skip).min(array.len());
                    array.slice(skip, array.len() - skip)
                })
                .collect();
            let rows: Vec<Option<&str>> = arrays
                .iter()
                .flat_map(|array| array.iter())
                .collect();
            let want = match rows.first() {
                Some(Some(first)) if rows.iter().all(|row| row == &Some(*first)) => Some(*first),
                _ => None,
            };
            let dynamic: Vec<&dyn Array> = arrays.iter().map(|array| array as &dyn Array).collect();
            prop_assert_eq!(one_text(&dynamic), want);
        }

        /// Whatever the batches, dropped rows and bounds: each row not dropped comes out once
        /// and no dropped row does, each run holds one partition's rows sorted by client (nulls
        /// last), then time, and no more than the bound stays held.
        #[test]
        fn every_row_comes_out_once_in_a_sorted_run_of_its_partition(
            pushes in prop::collection::vec(
                (
                    0u8..4,
                    prop::collection::vec((prop::option::of(0u8..20), -5i64..5, any::<bool>()), 0..40),
                ),
                0..30,
            ),
            max_held_bytes in 0usize..20_000,
            run_rows in 0usize..100,
        ) {
            let mut runs = SortedRuns::new(max_held_bytes, run_rows);
            let (mut pushed, mut out) = (Vec::new(), Vec::new());
            let mut check = |run: RecordBatch| {
                let rows = rows_of(&run);
                let mut want = rows.clone();
                want.sort_by(|a, b| (a.1.is_none(), &a.1, a.2).cmp(&(b.1.is_none(), &b.1, b.2)));
                assert_eq!(rows, want, "a run is not sorted");
                assert_eq!(run.schema().field(4).data_type(), &DataType::Utf8);
                assert!(rows.windows(2).all(|w| w[0].0 == w[1].0), "a run mixes partitions");
                out.extend(rows);
            };
            for (partition, rows) in &pushes {
                let cells: Vec<(Option<u8>, i64)> = rows.iter().map(|(c, t, _)| (*c, *t)).collect();
                let batch = batch(*partition, &cells);
                let dropped: Vec<usize> = (0..rows.len()).filter(|&row| rows[row].2).collect();
                let all = rows_of(&batch);
                pushed.extend((0..rows.len()).filter(|&row| !rows[row].2).map(|row| all[row].clone()));
                runs.push(*partition, batch, dropped).unwrap().into_iter().for_each(&mut check);
                prop_assert!(runs.held_bytes <= max_held_bytes);
            }
            runs.drain().unwrap().into_iter().for_each(&mut check);
            prop_assert_eq!(runs.held_bytes, 0);
            pushed.sort();
            out.sort();
            prop_assert_eq!(pushed, out);
        }
    }
}
