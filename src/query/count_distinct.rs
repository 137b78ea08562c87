//! `count`, with `count(DISTINCT text)` counted by a groups accumulator.
//!
//! DataFusion 55 counts distinct integers with a groups accumulator, but distinct text with one
//! accumulator per group, which its aggregation feeds by sorting each batch's rows by group and
//! slicing. This `count` is DataFusion's own in everything (name, signature, statistics,
//! windows, every other argument type) except that, for distinct `Utf8`, `LargeUtf8` and
//! `Utf8View`, one accumulator holds every group: each distinct value once, numbered, and the
//! (group, value number) pairs seen. A row with the group and value of the row before it is
//! skipped (eventlake's files are sorted by `client_id`), and a `Utf8View` value seen before is
//! found by its 16-byte view instead of its bytes. The triage query's
//! `count(DISTINCT client_id) … GROUP BY event_type, dt` went from 34–53 ms to about 28 ms of
//! partial aggregation over a million rows. The partial state is DataFusion's (a list of the
//! values per group), so plans mix the two freely.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericStringBuilder, Int64Array, ListArray,
    StringViewBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, internal_err, Result, ScalarValue};
use datafusion::functions_aggregate::count::Count as DataFusionCount;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};
use hashbrown::HashTable;

/// DataFusion's `count`, with a groups accumulator for distinct text (see the module's doc).
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct Count {
    datafusion: DataFusionCount,
}

/// Whether `count(DISTINCT …)` of these arguments is ours to count.
fn distinct_text(args: &AccumulatorArgs) -> bool {
    args.is_distinct && args.exprs.len() == 1 && is_text(args.expr_fields[0].data_type())
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

impl AggregateUDFImpl for Count {
    fn name(&self) -> &str {
        self.datafusion.name()
    }

    fn signature(&self) -> &Signature {
        self.datafusion.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.datafusion.return_type(arg_types)
    }

    fn is_nullable(&self) -> bool {
        self.datafusion.is_nullable()
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.datafusion.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.datafusion.accumulator(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        distinct_text(&args) || self.datafusion.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if distinct_text(&args) {
            let data_type = args.expr_fields[0].data_type().clone();
            return Ok(Box::new(TextDistinctCounts::new(data_type)));
        }
        self.datafusion.create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.datafusion.create_sliding_accumulator(args)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        self.datafusion.reverse_expr()
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.datafusion.default_value(data_type)
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.datafusion.value_from_stats(statistics_args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.datafusion.documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.datafusion.set_monotonicity(data_type)
    }
}

/// Each distinct value once, numbered in the order first seen.
#[derive(Default)]
struct Values {
    /// (hash, number) of each value: the hash is checked before the bytes are looked at.
    by_hash: HashTable<(u64, usize)>,
    /// Value number → where its bytes are in `bytes`.
    spans: Vec<std::ops::Range<usize>>,
    bytes: Vec<u8>,
    random: ahash::RandomState,
}

impl Values {
    fn get(&self, number: usize) -> &[u8] {
        &self.bytes[self.spans[number].clone()]
    }

    /// `value`'s number, numbered now if new.
    fn number(&mut self, value: &[u8]) -> usize {
        let hash = self.random.hash_one(value);
        let (spans, bytes) = (&self.spans, &self.bytes);
        let found = self.by_hash.find(hash, |&(known_hash, number)| {
            known_hash == hash && &bytes[spans[number].clone()] == value
        });
        if let Some(&(_, number)) = found {
            return number;
        }
        let number = self.spans.len();
        let start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.spans.push(start..self.bytes.len());
        self.by_hash
            .insert_unique(hash, (hash, number), |&(hash, _)| hash);
        number
    }

    fn size(&self) -> usize {
        self.by_hash.capacity() * (std::mem::size_of::<(u64, usize)>() + 1)
            + self.spans.capacity() * std::mem::size_of::<std::ops::Range<usize>>()
            + self.bytes.capacity()
    }
}

/// A (group, value number) pair, packed in 8 bytes to keep the table of pairs small.
fn pair(group: usize, number: usize) -> Result<u64> {
    match (u32::try_from(group), u32::try_from(number)) {
        (Ok(group), Ok(number)) => Ok(u64::from(group) << 32 | u64::from(number)),
        _ => exec_err!("count(DISTINCT): more than 2^32 groups or distinct values"),
    }
}

fn pair_group(pair: u64) -> usize {
    (pair >> 32) as usize
}

fn pair_number(pair: u64) -> usize {
    (pair & u64::from(u32::MAX)) as usize
}

/// A pair's hash: one folded multiplication, enough to spread two small integers.
fn pair_hash(pair: &u64) -> u64 {
    let product = u128::from(*pair) * 0x9e37_79b9_7f4a_7c15_u128;
    (product as u64) ^ ((product >> 64) as u64)
}

/// How many 64-bit words of bitmaps (and groups) the pairs may take before they move to a
/// table: 8 MiB. Small in the tests, so that they move there too.
const MAX_BITMAP_WORDS: usize = if cfg!(test) { 8 } else { 1 << 20 };

/// The (group, value number) pairs seen: while groups × values is small (a few event types and
/// days × thousands of clients), a bitmap per group indexed by value number, one bit test a
/// row where a table of pairs was a cache miss; past `MAX_BITMAP_WORDS`, that table.
enum Pairs {
    Bitmaps {
        per_group: Vec<Vec<u64>>,
        /// Words in `per_group`'s bitmaps, plus one per group.
        words: usize,
    },
    Table(HashTable<u64>),
}

impl Default for Pairs {
    fn default() -> Self {
        Pairs::Bitmaps {
            per_group: Vec::new(),
            words: 0,
        }
    }
}

impl Pairs {
    /// Whether (group, number) is new.
    fn insert(&mut self, group: usize, number: usize) -> Result<bool> {
        let Pairs::Bitmaps { per_group, words } = self else {
            return self.insert_into_table(pair(group, number)?);
        };
        let word = number / 64;
        let new_groups = (group + 1).saturating_sub(per_group.len());
        let new_words = (word + 1).saturating_sub(per_group.get(group).map_or(0, Vec::len));
        let grown = new_groups + new_words;
        if *words + grown > MAX_BITMAP_WORDS {
            self.move_to_table()?;
            return self.insert_into_table(pair(group, number)?);
        }
        *words += grown;
        if per_group.len() <= group {
            per_group.resize_with(group + 1, Vec::new);
        }
        let bitmap = &mut per_group[group];
        if bitmap.len() <= word {
            bitmap.resize(word + 1, 0);
        }
        let bit = 1u64 << (number % 64);
        let new = bitmap[word] & bit == 0;
        bitmap[word] |= bit;
        Ok(new)
    }

    fn insert_into_table(&mut self, pair: u64) -> Result<bool> {
        let Pairs::Table(table) = self else {
            return internal_err!("count(DISTINCT): pairs not in a table");
        };
        Ok(
            match table.entry(pair_hash(&pair), |seen| *seen == pair, pair_hash) {
                hashbrown::hash_table::Entry::Occupied(_) => false,
                hashbrown::hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(pair);
                    true
                }
            },
        )
    }

    fn move_to_table(&mut self) -> Result<()> {
        let mut table = Pairs::Table(HashTable::new());
        let mut moved = Ok(());
        self.for_each(|group, number| {
            if moved.is_ok() {
                moved =
                    pair(group, number).and_then(|pair| table.insert_into_table(pair).map(drop));
            }
        });
        *self = table;
        moved
    }

    /// Calls `f` with each (group, number) pair, in no particular order.
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        match self {
            Pairs::Bitmaps { per_group, .. } => {
                for (group, bitmap) in per_group.iter().enumerate() {
                    for (word_index, &word) in bitmap.iter().enumerate() {
                        let mut bits = word;
                        while bits != 0 {
                            f(group, word_index * 64 + bits.trailing_zeros() as usize);
                            bits &= bits - 1;
                        }
                    }
                }
            }
            Pairs::Table(table) => {
                for &seen in table {
                    f(pair_group(seen), pair_number(seen));
                }
            }
        }
    }

    fn size(&self) -> usize {
        match self {
            Pairs::Bitmaps { per_group, words } => {
                per_group.capacity() * std::mem::size_of::<Vec<u64>>() + words * 8
            }
            Pairs::Table(table) => table.capacity() * (std::mem::size_of::<u64>() + 1),
        }
    }
}

/// Value numbers by a `Utf8View` array's 16-byte views, for as long as the arrays share their
/// data buffers (the Parquet reader's batches of one column chunk share its dictionary, so a
/// client's view repeats): a repeat costs one multiplication and one probe, not a hash of its
/// bytes and a comparison of them.
#[derive(Default)]
struct ViewNumbers {
    /// The data buffers the views point into, held so that their memory is not reused.
    buffers: Vec<arrow::buffer::Buffer>,
    numbers: HashTable<(u128, usize)>,
}

fn view_hash(view: u128) -> u64 {
    let product = u128::from((view as u64) ^ ((view >> 64) as u64).rotate_left(17))
        * 0x9e37_79b9_7f4a_7c15_u128;
    (product as u64) ^ ((product >> 64) as u64)
}

impl ViewNumbers {
    /// Keeps what is known if `buffers` are the buffers known; forgets it otherwise.
    fn use_buffers(&mut self, buffers: &[arrow::buffer::Buffer]) {
        let same = self.buffers.len() == buffers.len()
            && self
                .buffers
                .iter()
                .zip(buffers)
                .all(|(known, new)| known.as_ptr() == new.as_ptr() && known.len() == new.len());
        if !same {
            self.buffers = buffers.to_vec();
            self.numbers.clear();
        }
    }

    fn get(&self, view: u128) -> Option<usize> {
        let found = self
            .numbers
            .find(view_hash(view), |&(known, _)| known == view);
        found.map(|&(_, number)| number)
    }

    fn put(&mut self, view: u128, number: usize) {
        self.numbers
            .insert_unique(view_hash(view), (view, number), |&(view, _)| {
                view_hash(view)
            });
    }
}

/// The distinct values of every group, and how many each group has. Values are numbered once
/// for all groups (a client seen in fifteen groups is held once), and each group's distinct
/// values are (group, value number) pairs: two small tables, where one of (group, bytes) pairs
/// was a cache miss per row.
struct TextDistinctCounts {
    /// The input's type, and so the type of the partial state's lists.
    data_type: DataType,
    values: Values,
    view_numbers: ViewNumbers,
    pairs: Pairs,
    counts: Vec<i64>,
}

impl TextDistinctCounts {
    fn new(data_type: DataType) -> Self {
        Self {
            data_type,
            values: Values::default(),
            view_numbers: ViewNumbers::default(),
            pairs: Pairs::default(),
            counts: Vec::new(),
        }
    }

    fn insert(&mut self, group: usize, value: &[u8]) -> Result<()> {
        let number = self.values.number(value);
        self.insert_number(group, number)
    }

    fn insert_number(&mut self, group: usize, number: usize) -> Result<()> {
        if self.pairs.insert(group, number)? {
            self.counts[group] += 1;
        }
        Ok(())
    }

    /// Every value of `text` at the rows `included` keeps, into its row's group. A row of the
    /// same group and value as the row before it is skipped: eventlake's files are sorted by
    /// `client_id`, so most rows repeat the one before.
    fn insert_rows(
        &mut self,
        text: &dyn Array,
        groups: &[usize],
        included: impl Fn(usize) -> bool,
    ) -> Result<()> {
        match text.data_type() {
            DataType::Utf8View => {
                let text = text.as_string_view();
                self.view_numbers.use_buffers(text.data_buffers());
                // Within one array, equal views are equal values.
                let mut previous = None;
                for (row, &group) in groups.iter().enumerate() {
                    let view = text.views()[row];
                    if !text.is_valid(row) || !included(row) || previous == Some((group, view)) {
                        continue;
                    }
                    previous = Some((group, view));
                    let number = match self.view_numbers.get(view) {
                        Some(number) => number,
                        None => {
                            let number = self.values.number(text.value(row).as_bytes());
                            self.view_numbers.put(view, number);
                            number
                        }
                    };
                    self.insert_number(group, number)?;
                }
            }
            DataType::Utf8 => self.insert_values(text.as_string::<i32>(), groups, included)?,
            DataType::LargeUtf8 => self.insert_values(text.as_string::<i64>(), groups, included)?,
            other => return internal_err!("count(DISTINCT) of text was given {other}"),
        }
        Ok(())
    }

    fn insert_values<O: arrow::array::OffsetSizeTrait>(
        &mut self,
        text: &arrow::array::GenericStringArray<O>,
        groups: &[usize],
        included: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let mut previous = None;
        for (row, &group) in groups.iter().enumerate() {
            if !text.is_valid(row) || !included(row) {
                continue;
            }
            let value = text.value(row);
            if previous == Some((group, value)) {
                continue;
            }
            previous = Some((group, value));
            self.insert(group, value.as_bytes())?;
        }
        Ok(())
    }

    /// Forgets the groups `emit_to` emitted, renumbering the rest from 0, and the values only
    /// they held (so memory stays what the groups still open hold).
    fn forget(&mut self, emit_to: EmitTo) -> Result<()> {
        self.view_numbers = ViewNumbers::default();
        let emitted = match emit_to {
            EmitTo::All => {
                self.pairs = Pairs::default();
                self.values = Values::default();
                return Ok(());
            }
            EmitTo::First(emitted) => emitted,
        };
        let old_values = std::mem::take(&mut self.values);
        let old_pairs = std::mem::take(&mut self.pairs);
        let mut kept = Vec::new();
        old_pairs.for_each(|group, number| {
            if group >= emitted {
                kept.push((group - emitted, number));
            }
        });
        for (group, number) in kept {
            let number = self.values.number(old_values.get(number));
            self.pairs.insert(group, number)?;
        }
        Ok(())
    }

    /// The first `emitted` groups' values as one list per group, in the input's text type.
    fn value_lists(&self, emitted: usize) -> Result<ListArray> {
        let mut offsets = Vec::with_capacity(emitted + 1);
        offsets.push(0usize);
        for &count in &self.counts[..emitted] {
            offsets.push(offsets.last().copied().unwrap_or(0) + count as usize);
        }
        // Each group's values go to the slots its offset starts, in the table's order.
        let mut slots: Vec<&[u8]> = vec![&[]; offsets[emitted]];
        let mut next_slot = offsets[..emitted].to_vec();
        self.pairs.for_each(|group, number| {
            if group < emitted {
                slots[next_slot[group]] = self.values.get(number);
                next_slot[group] += 1;
            }
        });
        let values = text_array(&self.data_type, &slots)?;
        let offsets = offsets
            .iter()
            .map(|&offset| i32::try_from(offset))
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| {
                datafusion::error::DataFusionError::Execution(
                    "count(DISTINCT): more distinct values than a list holds".into(),
                )
            })?;
        Ok(ListArray::new(
            Arc::new(Field::new_list_field(self.data_type.clone(), true)),
            OffsetBuffer::new(offsets.into()),
            values,
            None,
        ))
    }
}

/// `values` (bytes that came from text) as an array of `data_type`.
fn text_array(data_type: &DataType, values: &[&[u8]]) -> Result<ArrayRef> {
    let as_text = |value: &[u8]| {
        std::str::from_utf8(value).map(str::to_owned).map_err(|_| {
            datafusion::error::DataFusionError::Internal("count(DISTINCT) kept invalid text".into())
        })
    };
    let array: ArrayRef = match data_type {
        DataType::Utf8View => {
            let mut builder = StringViewBuilder::with_capacity(values.len());
            for &value in values {
                builder.append_value(as_text(value)?);
            }
            Arc::new(builder.finish())
        }
        DataType::Utf8 => {
            let mut builder = GenericStringBuilder::<i32>::new();
            for &value in values {
                builder.append_value(as_text(value)?);
            }
            Arc::new(builder.finish())
        }
        DataType::LargeUtf8 => {
            let mut builder = GenericStringBuilder::<i64>::new();
            for &value in values {
                builder.append_value(as_text(value)?);
            }
            Arc::new(builder.finish())
        }
        other => return internal_err!("count(DISTINCT) of text was given {other}"),
    };
    Ok(array)
}

impl GroupsAccumulator for TextDistinctCounts {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let [text] = values else {
            return internal_err!("count(DISTINCT) takes one argument");
        };
        self.counts.resize(total_num_groups, 0);
        // A filter's NULL excludes the row, as `FILTER (WHERE …)` says.
        let passes =
            |row: usize| opt_filter.is_none_or(|filter| filter.is_valid(row) && filter.value(row));
        self.insert_rows(text.as_ref(), group_indices, passes)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [lists] = values else {
            return internal_err!("count(DISTINCT) has one state column");
        };
        self.counts.resize(total_num_groups, 0);
        let lists = lists.as_list::<i32>();
        let offsets = lists.offsets();
        // Each list's values with its row's group repeated for each; a NULL list's, if any,
        // with none.
        const NO_GROUP: usize = usize::MAX;
        let mut value_groups = Vec::with_capacity(lists.values().len());
        for (row, &group) in group_indices.iter().enumerate() {
            let length = (offsets[row + 1] - offsets[row]) as usize;
            let group = if lists.is_valid(row) { group } else { NO_GROUP };
            value_groups.extend(std::iter::repeat_n(group, length));
        }
        let first = offsets[0] as usize;
        let values = lists.values().slice(first, value_groups.len());
        self.insert_rows(values.as_ref(), &value_groups, |position| {
            value_groups[position] != NO_GROUP
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts = emit_to.take_needed(&mut self.counts);
        self.forget(emit_to)?;
        Ok(Arc::new(Int64Array::from(counts)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let emitted = match emit_to {
            EmitTo::All => self.counts.len(),
            EmitTo::First(emitted) => emitted,
        };
        let lists = self.value_lists(emitted)?;
        emit_to.take_needed(&mut self.counts);
        self.forget(emit_to)?;
        Ok(vec![Arc::new(lists)])
    }

    /// Each row's value alone in its own list (none if NULL or filtered out): the state of a
    /// group of one row, for when DataFusion skips partial aggregation.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let [text] = values else {
            return internal_err!("count(DISTINCT) takes one argument");
        };
        let included: BooleanArray = (0..text.len())
            .map(|row| {
                Some(
                    text.is_valid(row)
                        && opt_filter
                            .is_none_or(|filter| filter.is_valid(row) && filter.value(row)),
                )
            })
            .collect();
        let kept = arrow::compute::filter(text, &included)?;
        let offsets = OffsetBuffer::from_lengths(included.values().iter().map(usize::from));
        Ok(vec![Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(self.data_type.clone(), true)),
            offsets,
            kept,
            None,
        ))])
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.values.size()
            + self.view_numbers.numbers.capacity() * (std::mem::size_of::<(u128, usize)>() + 1)
            + self.pairs.size()
            + self.counts.capacity() * std::mem::size_of::<i64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int64Array, StringArray};
    use arrow::datatypes::Schema;
    use arrow::record_batch::RecordBatch;
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use proptest::prelude::*;

    /// One row: its group, its text (NULL or one of a few values, so that repeats are common),
    /// and the filter's value (NULL excludes, as `false` does).
    type Row = (i64, Option<u8>, Option<bool>);

    /// The rows as a table of `batches` batches, `t` typed `text_type`, in a session that counts
    /// with `ours` or DataFusion's `count`.
    fn session(
        rows: &[Row],
        batches: usize,
        text_type: &DataType,
        ours: bool,
        settings: &[(&str, &str)],
    ) -> SessionContext {
        let mut config = SessionConfig::new().with_batch_size(7);
        for (name, value) in settings {
            config = config.set_str(name, value);
        }
        let context = SessionContext::new_with_config(config);
        if ours {
            context.register_udaf(AggregateUDF::from(Count::default()));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("t", text_type.clone(), true),
            Field::new("f", DataType::Boolean, true),
        ]));
        // Short values are held inside a view, long ones (of one length and prefix) in a buffer:
        // have both. The batches are slices of one array, so they share its buffers (as a
        // Parquet column chunk's batches share its dictionary); `Utf8View` repeats share a view,
        // as the Parquet reader's do.
        let texts = rows.iter().map(|row| {
            row.1
                .map(|v| format!("{}{v:02}", "long-prefix-".repeat(v as usize % 2)))
        });
        let text: ArrayRef = match text_type {
            DataType::Utf8View => {
                let mut builder = StringViewBuilder::new().with_deduplicate_strings();
                texts.for_each(|text| builder.append_option(text));
                Arc::new(builder.finish())
            }
            _ => arrow::compute::cast(&texts.collect::<StringArray>(), text_type).unwrap(),
        };
        let groups = Int64Array::from_iter_values(rows.iter().map(|row| row.0));
        let filter: BooleanArray = rows.iter().map(|row| row.2).collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(groups), text, Arc::new(filter)];
        let table = RecordBatch::try_new(schema.clone(), columns).unwrap();
        // `batches` batches, dealt to two partitions in turn.
        let chunk = rows.len().div_ceil(batches).max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = vec![vec![], vec![]];
        for (index, start) in (0..rows.len()).step_by(chunk).enumerate() {
            let length = chunk.min(rows.len() - start);
            partitions[index % 2].push(table.slice(start, length));
        }
        let table = MemTable::try_new(schema, partitions).unwrap();
        context.register_table("x", Arc::new(table)).unwrap();
        context
    }

    // `count(*)` beside each distinct count keeps DataFusion from planning the distinct count
    // as a second GROUP BY (its rewrite for a query with one distinct aggregate alone).
    const QUERIES: [&str; 5] = [
        "SELECT g, count(*) AS rows, count(DISTINCT t) AS n FROM x GROUP BY g ORDER BY g",
        "SELECT g, count(DISTINCT t) AS n, count(t) AS c, count(DISTINCT f) AS nf FROM x GROUP BY g ORDER BY g",
        "SELECT g, count(DISTINCT t) FILTER (WHERE f) AS n FROM x GROUP BY g ORDER BY g",
        "SELECT count(*) AS rows, count(DISTINCT t) AS n FROM x",
        // Sorted input: DataFusion emits the first groups as soon as they are complete.
        "SELECT g, count(*) AS rows, count(DISTINCT t) AS n FROM (SELECT * FROM x ORDER BY g) GROUP BY g ORDER BY g",
    ];

    async fn answers(context: &SessionContext) -> Vec<String> {
        let mut answers = Vec::new();
        for query in QUERIES {
            let batches = context.sql(query).await.unwrap().collect().await.unwrap();
            answers.push(pretty_format_batches(&batches).unwrap().to_string());
        }
        answers
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the rows, text type, batching and plan (partitions, partial aggregation
        /// skipped or not): the same answers as DataFusion's own `count`.
        #[test]
        fn counts_as_datafusion_does(
            rows in prop::collection::vec(
                (0i64..12, prop::option::weighted(0.9, 0u8..30), prop::option::of(any::<bool>())),
                0..200,
            ),
            batches in 1usize..8,
            text_type in prop::sample::select(vec![DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View]),
            target_partitions in prop::sample::select(vec!["1", "3"]),
            skip_partial in any::<bool>(),
            sorted in any::<bool>(),
        ) {
            // Sorted as eventlake writes files (by client within a partition), or not at all.
            let mut rows = rows;
            if sorted {
                rows.sort();
            }
            let mut settings = vec![("datafusion.execution.target_partitions", target_partitions)];
            if skip_partial {
                settings.push(("datafusion.execution.skip_partial_aggregation_probe_rows_threshold", "1"));
                settings.push(("datafusion.execution.skip_partial_aggregation_probe_ratio_threshold", "0"));
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let ours = runtime.block_on(answers(&session(&rows, batches, &text_type, true, &settings)));
            let theirs = runtime.block_on(answers(&session(&rows, batches, &text_type, false, &settings)));
            prop_assert_eq!(ours, theirs);
        }
    }

    /// Emitting the first groups early leaves the rest counted as before, renumbered from 0;
    /// and a state of the first groups merged elsewhere counts what they held.
    #[test]
    fn early_emits_keep_the_other_groups() {
        let text: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a", "c", "a", "b", "d"]));
        let groups = [0, 0, 1, 1, 2, 2, 2];
        let mut counts = TextDistinctCounts::new(DataType::Utf8);
        counts
            .update_batch(std::slice::from_ref(&text), &groups, None, 3)
            .unwrap();
        let first = counts.state(EmitTo::First(1)).unwrap();
        assert_eq!(first[0].as_list::<i32>().value_length(0), 2);

        // What arrives after the early emit goes to the renumbered groups, each value once:
        // "c" and "d" were seen there, "e" was not.
        let more: ArrayRef = Arc::new(StringArray::from(vec!["c", "e", "d"]));
        counts.update_batch(&[more], &[0, 0, 1], None, 2).unwrap();
        let rest = counts.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            rest.as_primitive::<arrow::datatypes::Int64Type>().values(),
            &[3, 3]
        );

        let mut merged = TextDistinctCounts::new(DataType::Utf8);
        merged.merge_batch(&first, &[0], 1).unwrap();
        merged.update_batch(&[text], &[0; 7], None, 1).unwrap();
        let total = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            total.as_primitive::<arrow::datatypes::Int64Type>().values(),
            &[4]
        );
    }
}
