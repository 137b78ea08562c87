//! Firehose dynamic-partitioning prefixes, parsed once and evaluated per record.
//!
//! A Firehose user can paste their prefix and extraction query
//! (<https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning.html>):
//!
//! ```text
//! prefix: event_type=!{partitionKeyFromQuery:eventType}/dt=!{eventTime:yyyy-MM-dd}/
//! query:  {eventType:.detail.eventType,schemaVersion:.detail.schemaVersion}
//! ```
//!
//! Each `/`-separated segment is one Delta partition column: `name=<template>` names it, a bare
//! template gets a derived name (`eventType` → `event_type`, `yyyy` → `year`, `yyyy-MM-dd` → `dt`).
//! Expressions: `!{partitionKeyFromQuery:K}`, `!{timestamp:<DateTimeFormatter>}` (Firehose's: the
//! arrival time, taken from the source object), `!{eventTime:<pattern>}` (eventlake's: the event's
//! own `time`, UTC) and `!{firehose:random-string}` (a value per source object).
//!
//! Partition values from data never become paths as they stand. Every partition column, typed
//! (`event_type`) or extra, goes through [`safe_value`] first: control characters are dropped,
//! `""`, `.`, `..` and Hive's null marker get another spelling, and the value is cut so that its
//! segment, once Delta and the object store have percent-encoded it, stays within a file name's
//! 255 bytes and all segments together within S3's 1,024-byte key. A value that had to change
//! ends in `~` and 16 hex digits of its SHA-256, so distinct values stay distinct; a value that
//! already ends that way is respelled too, so a changed value never equals an unchanged one.
//! Delta then percent-encodes each value into one `name=value` segment (`/`, `%`, `:` and the
//! rest escaped), so no record can write outside its table.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::record::{Event, TypedField};
use crate::time::CivilTime;

/// The sample's extraction query, used when a prefix names query keys and no query is given.
pub const DEFAULT_QUERY: &str = "{eventType:.detail.eventType,schemaVersion:.detail.schemaVersion}";
/// eventlake's default layout: by event type and the event's UTC date.
pub const DEFAULT_PREFIX: &str =
    "event_type=!{partitionKeyFromQuery:eventType}/dt=!{eventTime:yyyy-MM-dd}/";
/// Most filesystems cap a file or folder name at 255 bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// S3 caps a whole key at 1,024 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// What a key spends outside the partition segments: the lake's own prefix (a longer lake root is
/// refused by `compact`), the table folder and a data file's name
/// (`part-00001-<uuid>-c000.zstd.parquet`).
pub const MAX_LAKE_PREFIX_BYTES: usize = 320;
const TABLE_AND_FILE_BYTES: usize = 96;
/// Bytes one input byte can take in a key: Delta's percent-encoding turns it into `%XX`, and
/// object_store's path encoding can turn that `%` into `%25` again.
const ESCAPED_BYTE_COST: usize = 5;
/// `~` and 16 hex digits.
const HASH_SUFFIX_BYTES: usize = 17;
/// What the suffix costs in a key: object_store escapes `~`.
const HASH_SUFFIX_COST: usize = ESCAPED_BYTE_COST + 16;
/// The smallest budget a value may get: room for the hash suffix and a readable start.
pub const MIN_VALUE_BUDGET: usize = HASH_SUFFIX_COST + 8;
/// Delta and Hive write a null partition value as this; a value that equals it is respelled.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";
/// The `events` table's columns that are not typed fields: no partition column may take their
/// names either.
const OTHER_EVENT_COLUMNS: [&str; 4] = ["resources", "detail", "source_object", "ingested_at"];

/// Why a prefix or extraction query is refused, or a record has no value for a partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("partition column `{name}` would replace the typed column of that name with other values; name it differently")]
    ReplacesTypedColumn { name: String },

    #[error("partition column `{name}` appears twice in the prefix")]
    DuplicateColumn { name: String },

    #[error("the prefix has too many partition columns ({count}) for their values to fit in a 1,024-byte S3 key")]
    TooManyColumns { count: usize },

    #[error("partition column name `{name}` must be lower-case letters, digits and `_`")]
    InvalidColumnName { name: String },

    #[error("extraction query {query:?} must be an object like {{key:.path}}")]
    QueryNotAnObject { query: String },

    #[error("extraction query entry {entry:?} must be key:.path")]
    QueryEntry { entry: String },

    #[error("extraction path {path:?}: only simple paths (.a.b, .a[0]) are supported")]
    UnsupportedPath { path: String },

    #[error(
        "extraction path {path:?}: only envelope fields and paths under .detail are supported"
    )]
    PathOutsideRecord { path: String },

    #[error("unclosed `!{{` in prefix {template:?}")]
    UnclosedExpression { template: String },

    #[error("prefix uses key `{key}`, which the extraction query does not define")]
    UndefinedKey { key: String },

    #[error("!{{partitionKeyFromLambda:…}} needs a Lambda; eventlake partitions with partitionKeyFromQuery")]
    LambdaKey,

    #[error("unsupported prefix expression !{{{expression}}}")]
    UnsupportedExpression { expression: String },

    #[error("empty segment in prefix {template:?}")]
    EmptySegment { template: String },

    #[error("unclosed quote in time pattern {pattern:?}")]
    UnclosedQuote { pattern: String },

    #[error("time pattern {pattern:?}: `{letters}` is not supported (use yyyy, yy, MM, dd, HH, mm, ss, DDD)")]
    UnsupportedTimeLetters { pattern: String, letters: String },

    /// A record lacks a query key the prefix uses.
    #[error("partition key `{key}` is absent")]
    MissingKey { key: String },
}

/// Where a query key reads from.
#[derive(Debug, Clone, PartialEq)]
enum FieldRef {
    Typed(TypedField),
    /// `.resources[i]` (after the transform).
    Resource(usize),
    /// Any other path under `detail`.
    Detail(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum TimeToken {
    Year4,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    DayOfYear,
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Query { key: String, field: FieldRef },
    ArrivalTime(Vec<TimeToken>),
    EventTime(Vec<TimeToken>),
    RandomString,
}

/// One partition column and how its value is made.
#[derive(Debug, Clone)]
pub struct PartitionColumn {
    pub name: String,
    parts: Vec<Part>,
    /// Set when the column is a typed column of the table (its value is that field).
    pub typed: Option<TypedField>,
    /// The most a value may cost in the key (see [`encoded_cost`]).
    value_budget: usize,
    /// For a column made of nothing but literals, times and the object's random string: the
    /// span of event time (microseconds) within which its value cannot change, so that a
    /// record in the span of the one before reuses its value.
    same_value_within: Option<i64>,
}

/// The extra partition columns' values of the last record evaluated ([`PartitionTemplate::evaluate`]
/// refills them), and what is known of them: most records fall in the same event-time span of
/// the same object as the one before, and their time-made values are then kept as they are.
#[derive(Debug, Default)]
pub struct PartitionValues {
    values: Vec<String>,
    /// For each value: the event-time span it was made for, if it depends on nothing else.
    spans: Vec<Option<i64>>,
    /// The context the spans hold in: the object's arrival time and random string.
    context: Option<(i64, String)>,
}

impl std::ops::Deref for PartitionValues {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.values
    }
}

impl PartitionValues {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the spans if `context` is not the one they were made in.
    fn enter(&mut self, context: &PartitionContext<'_>) {
        let same = self.context.as_ref().is_some_and(|(arrival, random)| {
            *arrival == context.arrival_micros && random == context.object_random
        });
        if !same {
            self.spans.iter_mut().for_each(|span| *span = None);
            self.context = Some((context.arrival_micros, context.object_random.to_owned()));
        }
    }
}

/// The span of event time within which `tokens` format to the same text: a second, a minute,
/// an hour, or a UTC day (a day, month, year or day of the year).
fn span_of(tokens: &[TimeToken]) -> i64 {
    const SECOND: i64 = 1_000_000;
    tokens
        .iter()
        .map(|token| match token {
            TimeToken::Second => SECOND,
            TimeToken::Minute => 60 * SECOND,
            TimeToken::Hour => 3_600 * SECOND,
            TimeToken::Year4
            | TimeToken::Year2
            | TimeToken::Month
            | TimeToken::Day
            | TimeToken::DayOfYear
            | TimeToken::Literal(_) => 86_400 * SECOND,
        })
        .min()
        .unwrap_or(86_400 * SECOND)
}

/// A column's [`PartitionColumn::same_value_within`].
fn same_value_within(parts: &[Part]) -> Option<i64> {
    parts
        .iter()
        .try_fold(86_400_000_000, |span: i64, part| match part {
            Part::Literal(_) | Part::ArrivalTime(_) | Part::RandomString => Some(span),
            Part::EventTime(tokens) => Some(span.min(span_of(tokens))),
            Part::Query { .. } => None,
        })
}

/// A parsed prefix: the partition columns, in path order.
#[derive(Debug, Clone)]
pub struct PartitionTemplate {
    pub columns: Vec<PartitionColumn>,
    needs_detail: bool,
}

/// What a record's partition values are computed from besides the event.
pub struct PartitionContext<'a> {
    /// The source object's time (Firehose's arrival time), microseconds since the epoch.
    pub arrival_micros: i64,
    /// A value fixed per source object for `!{firehose:random-string}`.
    pub object_random: &'a str,
}

impl PartitionTemplate {
    /// Parses a prefix and its extraction query. Errors name the offending piece.
    pub fn parse(prefix: &str, query: Option<&str>) -> Result<Self, PartitionError> {
        let keys = parse_query(query.unwrap_or(DEFAULT_QUERY))?;
        let mut columns: Vec<PartitionColumn> = Vec::new();
        for segment in prefix.split('/').filter(|segment| !segment.is_empty()) {
            let (explicit_name, template) = match segment.find('=') {
                Some(eq) if !segment[..eq].contains("!{") => {
                    (Some(&segment[..eq]), &segment[eq + 1..])
                }
                _ => (None, segment),
            };
            let parts = parse_template(template, &keys)?;
            let derived = derive_name(&parts);
            let typed = match parts.as_slice() {
                [Part::Query {
                    field: FieldRef::Typed(field),
                    ..
                }] => Some(*field),
                _ => None,
            };
            let mut name = match explicit_name {
                Some(name) => name.to_owned(),
                None => derived.unwrap_or_else(|| format!("partition_{}", columns.len())),
            };
            validate_column_name(&name)?;
            let typed = match (typed, typed_column(&name)) {
                (Some(field), Some(column)) if field == column => Some(field),
                (_, Some(_)) if explicit_name.is_some() => {
                    return Err(PartitionError::ReplacesTypedColumn { name })
                }
                (_, Some(_)) => {
                    name.push_str("_partition");
                    None
                }
                (_, None) => None,
            };
            if columns.iter().any(|column| column.name == name) {
                return Err(PartitionError::DuplicateColumn { name });
            }
            columns.push(PartitionColumn {
                name,
                same_value_within: same_value_within(&parts),
                parts,
                typed,
                value_budget: 0,
            });
        }
        // Each `name=value/` shares what a key leaves after the lake prefix and the file name.
        let column_count = columns.len();
        let share =
            (MAX_KEY_BYTES - MAX_LAKE_PREFIX_BYTES - TABLE_AND_FILE_BYTES) / column_count.max(1);
        for column in &mut columns {
            let segment = share.min(MAX_SEGMENT_BYTES + 1) - 1;
            column.value_budget = segment.saturating_sub(column.name.len() + 1);
            if column.value_budget < MIN_VALUE_BUDGET {
                return Err(PartitionError::TooManyColumns {
                    count: column_count,
                });
            }
        }
        let needs_detail = columns.iter().flat_map(|column| &column.parts).any(|part| {
            matches!(
                part,
                Part::Query {
                    field: FieldRef::Detail(_),
                    ..
                }
            )
        });
        Ok(Self {
            columns,
            needs_detail,
        })
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|column| column.name.clone())
            .collect()
    }

    /// Columns that are not typed columns of the table (string columns added to it).
    pub fn extra_columns(&self) -> impl Iterator<Item = &PartitionColumn> {
        self.columns.iter().filter(|column| column.typed.is_none())
    }

    /// Gives the event's typed partition columns (such as `event_type`) their safe spelling, the
    /// same rule [`Self::evaluate`] applies to extra columns. The raw record's `detail` keeps the
    /// original value.
    pub fn make_typed_values_safe(&self, event: &mut Event<'_>) {
        for column in &self.columns {
            // Numbers and timestamps are not text fields: they are safe as Delta writes them.
            let value = column.typed.and_then(|field| event.text_field_mut(field));
            if let Some(value) = value {
                if let Cow::Owned(respelled) = safe_value(value, column.value_budget) {
                    *value = Cow::Owned(respelled);
                }
            }
        }
    }

    /// Sets `key` to a text that two events share exactly when their partition values do: the
    /// typed columns' values and `values` (as [`Self::evaluate`] left them), each with its
    /// length, so no value can run into the next. It groups rows by partition.
    pub fn partition_key(&self, event: &Event<'_>, values: &[String], key: &mut String) {
        key.clear();
        let mut extra = values.iter();
        for column in &self.columns {
            let text = match column.typed {
                Some(TypedField::Time) => {
                    let _ = write!(key, "t{};", event.time_micros);
                    continue;
                }
                Some(TypedField::SchemaVersion) => {
                    match event.schema_version {
                        Some(version) => {
                            let _ = write!(key, "v{version};");
                        }
                        None => key.push_str("-;"),
                    }
                    continue;
                }
                Some(field) => event.field_text(field),
                None => extra.next().map(|value| Cow::Borrowed(value.as_str())),
            };
            match text {
                Some(text) => {
                    push_decimal(key, text.len());
                    key.push(':');
                    key.push_str(&text);
                }
                None => key.push('-'),
            }
        }
    }

    /// Writes the value of each extra column into `values` (its strings refilled; a value made
    /// of times only kept while the event time stays in its span). Errors name the missing
    /// query key.
    pub fn evaluate(
        &self,
        event: &Event<'_>,
        context: &PartitionContext<'_>,
        values: &mut PartitionValues,
    ) -> Result<(), PartitionError> {
        let detail: Option<Value> = if self.needs_detail {
            serde_json::from_str(&event.detail.text()).ok()
        } else {
            None
        };
        values.enter(context);
        let mut filled = 0;
        for column in &self.columns {
            if column.typed.is_some() {
                // A typed column's value is its field, which the row holds already: only its
                // presence is checked.
                for part in &column.parts {
                    if let Part::Query { key, field } = part {
                        if resolve(field, event, detail.as_ref()).is_none() {
                            return Err(PartitionError::MissingKey { key: key.clone() });
                        }
                    }
                }
                continue;
            }
            if values.values.len() == filled {
                values.values.push(String::new());
                values.spans.push(None);
            }
            let slot = filled;
            filled += 1;
            let span = column
                .same_value_within
                .map(|within| event.time_micros.div_euclid(within));
            if span.is_some() && values.spans[slot] == span {
                continue;
            }
            values.spans[slot] = None;
            let value = &mut values.values[slot];
            value.clear();
            for part in &column.parts {
                match part {
                    Part::Literal(text) => value.push_str(text),
                    Part::Query { key, field } => match resolve(field, event, detail.as_ref()) {
                        Some(resolved) => value.push_str(&resolved),
                        None => return Err(PartitionError::MissingKey { key: key.clone() }),
                    },
                    Part::ArrivalTime(tokens) => format_time(tokens, context.arrival_micros, value),
                    Part::EventTime(tokens) => format_time(tokens, event.time_micros, value),
                    Part::RandomString => value.push_str(context.object_random),
                }
            }
            if let Cow::Owned(respelled) = safe_value(value, column.value_budget) {
                *value = respelled;
            }
            values.spans[slot] = span;
        }
        values.values.truncate(filled);
        values.spans.truncate(filled);
        Ok(())
    }
}

/// The typed field whose column is called `name`; `Some(Id)` stands for the table's other
/// columns too.
fn typed_column(name: &str) -> Option<TypedField> {
    TypedField::ALL
        .into_iter()
        .find(|field| field.column() == name)
        .or_else(|| {
            OTHER_EVENT_COLUMNS
                .contains(&name)
                .then_some(TypedField::Id)
        })
}

fn validate_column_name(name: &str) -> Result<(), PartitionError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(PartitionError::InvalidColumnName {
            name: name.to_owned(),
        })
    }
}

fn derive_name(parts: &[Part]) -> Option<String> {
    match parts {
        [Part::Query { key, .. }] => Some(snake_case(key)),
        [Part::ArrivalTime(tokens) | Part::EventTime(tokens)] => match tokens.as_slice() {
            [TimeToken::Year4] => Some("year".into()),
            [TimeToken::Month] => Some("month".into()),
            [TimeToken::Day] => Some("day".into()),
            [TimeToken::Hour] => Some("hour".into()),
            [TimeToken::Year4, TimeToken::Literal(_), TimeToken::Month, TimeToken::Literal(_), TimeToken::Day] => {
                Some("dt".into())
            }
            _ => None,
        },
        _ => None,
    }
}

fn snake_case(key: &str) -> String {
    let mut out = String::new();
    for (index, ch) in key.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else {
            out.push('_');
        }
    }
    out
}

/// `{eventType:.detail.eventType, "schema":.detail.schemaVersion}` → key → field.
fn parse_query(query: &str) -> Result<Vec<(String, FieldRef)>, PartitionError> {
    let body = query
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(|| PartitionError::QueryNotAnObject {
            query: query.to_owned(),
        })?;
    let mut keys = Vec::new();
    for entry in body
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (key, path) = entry
            .split_once(':')
            .ok_or_else(|| PartitionError::QueryEntry {
                entry: entry.to_owned(),
            })?;
        let key = key.trim().trim_matches('"').to_owned();
        keys.push((key, parse_field(path.trim())?));
    }
    Ok(keys)
}

/// A jq path over the record: `.a.b`, `."detail-type"`, `.resources[0]`, `.detail["x"]`.
fn parse_field(path: &str) -> Result<FieldRef, PartitionError> {
    let unsupported = || PartitionError::UnsupportedPath {
        path: path.to_owned(),
    };
    let mut steps: Vec<String> = Vec::new();
    let mut index: Option<usize> = None;
    let mut rest = path.strip_prefix('.').ok_or_else(unsupported)?;
    while !rest.is_empty() {
        if index.is_some() {
            return Err(unsupported());
        }
        if let Some(after) = rest.strip_prefix('"') {
            let close = after.find('"').ok_or_else(unsupported)?;
            steps.push(after[..close].to_owned());
            rest = &after[close + 1..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(unsupported)?;
            let inner = after[..close].trim();
            match inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                Some(key) => steps.push(key.to_owned()),
                None => index = Some(inner.parse().map_err(|_| unsupported())?),
            }
            rest = &after[close + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return Err(unsupported());
            }
            steps.push(name.to_owned());
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    if let Some(index) = index {
        return match steps.as_slice() {
            ["resources"] => Ok(FieldRef::Resource(index)),
            _ => Err(unsupported()),
        };
    }
    if let Some(field) = TypedField::ALL
        .into_iter()
        .find(|field| field.path() == steps.as_slice())
    {
        return Ok(FieldRef::Typed(field));
    }
    match steps.as_slice() {
        ["detail", rest @ ..] if !rest.is_empty() => Ok(FieldRef::Detail(
            rest.iter().map(|s| s.to_string()).collect(),
        )),
        _ => Err(PartitionError::PathOutsideRecord {
            path: path.to_owned(),
        }),
    }
}

fn parse_template(
    template: &str,
    keys: &[(String, FieldRef)],
) -> Result<Vec<Part>, PartitionError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("!{") {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find('}')
            .ok_or_else(|| PartitionError::UnclosedExpression {
                template: template.to_owned(),
            })?;
        let (namespace, argument) = after[..close]
            .split_once(':')
            .unwrap_or((&after[..close], ""));
        parts.push(match namespace {
            "partitionKeyFromQuery" => {
                let field = keys
                    .iter()
                    .find(|(key, _)| key == argument)
                    .map(|(_, field)| field.clone())
                    .ok_or_else(|| PartitionError::UndefinedKey {
                        key: argument.to_owned(),
                    })?;
                Part::Query {
                    key: argument.to_owned(),
                    field,
                }
            }
            "timestamp" => Part::ArrivalTime(parse_time_pattern(argument)?),
            "eventTime" => Part::EventTime(parse_time_pattern(argument)?),
            "firehose" if argument == "random-string" => Part::RandomString,
            "partitionKeyFromLambda" => return Err(PartitionError::LambdaKey),
            _ => {
                return Err(PartitionError::UnsupportedExpression {
                    expression: after[..close].to_owned(),
                })
            }
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    if parts.is_empty() {
        return Err(PartitionError::EmptySegment {
            template: template.to_owned(),
        });
    }
    Ok(parts)
}

/// The subset of Java's `DateTimeFormatter` patterns Firehose users write.
fn parse_time_pattern(pattern: &str) -> Result<Vec<TimeToken>, PartitionError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        let run = chars[index..].iter().take_while(|&&c| c == ch).count();
        let token = match (ch, run) {
            ('y' | 'u', 4) => TimeToken::Year4,
            ('y' | 'u', 2) => TimeToken::Year2,
            ('M', 2) => TimeToken::Month,
            ('d', 2) => TimeToken::Day,
            ('H', 2) => TimeToken::Hour,
            ('m', 2) => TimeToken::Minute,
            ('s', 2) => TimeToken::Second,
            ('D', 3) => TimeToken::DayOfYear,
            ('\'', _) => {
                let close = chars[index + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or_else(|| PartitionError::UnclosedQuote {
                        pattern: pattern.to_owned(),
                    })?;
                tokens.push(TimeToken::Literal(
                    chars[index + 1..index + 1 + close].iter().collect(),
                ));
                index += close + 2;
                continue;
            }
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(PartitionError::UnsupportedTimeLetters {
                    pattern: pattern.to_owned(),
                    letters: chars[index..index + run].iter().collect(),
                })
            }
            (c, _) => TimeToken::Literal(std::iter::repeat_n(c, run).collect()),
        };
        tokens.push(token);
        index += run;
    }
    Ok(tokens)
}

fn format_time(tokens: &[TimeToken], micros: i64, out: &mut String) {
    let time = CivilTime::from_micros(micros);
    for token in tokens {
        match token {
            TimeToken::Year4 => push_padded(out, time.year, 4),
            TimeToken::Year2 => push_padded(out, time.year.rem_euclid(100), 2),
            TimeToken::Month => push_padded(out, time.month, 2),
            TimeToken::Day => push_padded(out, time.day, 2),
            TimeToken::Hour => push_padded(out, time.hour, 2),
            TimeToken::Minute => push_padded(out, time.minute, 2),
            TimeToken::Second => push_padded(out, time.second, 2),
            TimeToken::DayOfYear => push_padded(out, time.day_of_year(), 3),
            TimeToken::Literal(text) => out.push_str(text),
        }
    }
}

/// `value` in decimal, as `write!` would put it (which took a fifth of `partition_key`).
fn push_decimal(out: &mut String, value: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits[start..]
        .iter()
        .for_each(|&digit| out.push(char::from(digit)));
}

/// `value` as `{value:0width$}` writes it. Digits by hand for what fits `width` (every field of
/// a time of years 0 to 9999): `write!` was 1.5% of compaction's CPU, run for every record.
fn push_padded(out: &mut String, value: i64, width: u32) {
    if !(0..10_i64.pow(width)).contains(&value) {
        let _ = write!(out, "{value:0width$}", width = width as usize);
        return;
    }
    for place in (0..width).rev() {
        let digit = (value / 10_i64.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// The value of `!{firehose:random-string}` for a source object: fixed per object URI, so a
/// rerun puts its records in the same partitions. Eight hex digits of the URI's FNV-1a hash.
pub fn object_random(object_uri: &str) -> String {
    format!("{:08x}", fnv1a(object_uri.as_bytes()) as u32)
}

/// FNV-1a (<http://www.isthe.com/chongo/tech/comp/fnv/>): stable and seedless, unlike std's
/// hashers, so the value is the same in every run and build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn resolve<'e>(
    field: &FieldRef,
    event: &'e Event<'_>,
    detail: Option<&Value>,
) -> Option<Cow<'e, str>> {
    match field {
        FieldRef::Typed(typed) => event.field_text(*typed),
        FieldRef::Resource(index) => event
            .resources
            .get(*index)
            .map(|resource| Cow::Borrowed(&**resource)),
        FieldRef::Detail(path) => {
            let value = path.iter().try_fold(detail?, |node, key| node.get(key))?;
            match value {
                Value::Null => None,
                Value::String(text) => Some(Cow::Owned(text.clone())),
                other => Some(Cow::Owned(other.to_string())),
            }
        }
    }
}

/// What `value` costs in an object key at most, once percent-encoded: bytes outside
/// `[A-Za-z0-9._-]` cost [`ESCAPED_BYTE_COST`].
pub fn encoded_cost(value: &str) -> usize {
    value.bytes().map(byte_cost).sum()
}

fn byte_cost(byte: u8) -> usize {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
        1
    } else {
        ESCAPED_BYTE_COST
    }
}

/// The spelling of a partition value that is safe as one path segment in every store (see the
/// module docs): the value itself when it already is, otherwise a cleaned, cut prefix of it with
/// `~` and 16 hex digits of its SHA-256. `budget` is the most the result may cost
/// ([`encoded_cost`]); it must be at least [`MIN_VALUE_BUDGET`].
pub fn safe_value(value: &str, budget: usize) -> Cow<'_, str> {
    if is_safe_as_it_is(value, budget) {
        return Cow::Borrowed(value);
    }
    let room = budget.saturating_sub(HASH_SUFFIX_COST);
    let mut kept = String::new();
    let mut cost = 0;
    for ch in value.chars().filter(|ch| !ch.is_control()) {
        let mut utf8 = [0u8; 4];
        let ch_cost = encoded_cost(ch.encode_utf8(&mut utf8));
        if cost + ch_cost > room {
            break;
        }
        cost += ch_cost;
        kept.push(ch);
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(value.as_bytes());
    kept.push('~');
    for byte in &digest[..8] {
        let _ = write!(kept, "{byte:02x}");
    }
    Cow::Owned(kept)
}

/// The check every value pays, in one pass over its bytes for the usual ASCII value.
fn is_safe_as_it_is(value: &str, budget: usize) -> bool {
    if value.is_empty()
        || value == "."
        || value == ".."
        || value == HIVE_NULL
        || has_hash_suffix(value)
    {
        return false;
    }
    let mut cost = 0;
    for &byte in value.as_bytes() {
        if byte < 0x20 || byte == 0x7f {
            return false;
        }
        cost += byte_cost(byte);
    }
    // Beyond ASCII, C1 controls (U+0080–U+009F) are control characters too.
    cost <= budget && (value.is_ascii() || !value.chars().any(char::is_control))
}

/// True when `value` ends the way a respelled value does: `~` and 16 lower-case hex digits.
fn has_hash_suffix(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= HASH_SUFFIX_BYTES
        && bytes[bytes.len() - HASH_SUFFIX_BYTES] == b'~'
        && bytes[bytes.len() - 16..]
            .iter()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    fn event(detail: &'static str, time: &str) -> Event<'static> {
        Event {
            id: "e1".into(),
            detail_type: Some("prod".into()),
            source: Some("clientevents".into()),
            account: None,
            time_micros: crate::time::parse_time(time).unwrap(),
            region: None,
            resources: vec![],
            client_id: Some("c1".into()),
            event_type: Some("searching".into()),
            schema_version: Some(1),
            detail: detail.into(),
        }
    }

    const CONTEXT: PartitionContext<'static> = PartitionContext {
        arrival_micros: 86_400_000_000 * 3 + 3_600_000_000 * 5,
        object_random: "r4nd",
    };

    proptest::proptest! {
        /// Values kept from the record before are the values the record's own evaluation
        /// makes: whatever the template, the times (across seconds, hours, days, before 1970)
        /// and the objects, one `PartitionValues` over a run of records holds what a fresh one
        /// does for each, and fails where it fails.
        #[test]
        fn values_kept_between_records_are_each_records_own(
            prefix in proptest::sample::select(vec![
                "dt=!{eventTime:yyyy-MM-dd}/",
                "!{eventTime:yyyy}/!{eventTime:MM}/h=!{eventTime:HH}/",
                "m=!{eventTime:mm}/s=!{eventTime:ss}/doy=!{eventTime:DDD}/",
                "t=!{eventTime:yyyy-MM-dd'T'HH}-!{firehose:random-string}-!{timestamp:yyyyMMdd}/",
                "k=!{partitionKeyFromQuery:a}/dt=!{eventTime:yyyyMMdd}/",
                "fixed=x/",
            ]),
            records in proptest::collection::vec(
                (proptest::prop_oneof![
                    -3_000_000_000i64..3_000_000_000,
                    proptest::num::i64::ANY.prop_map(|micros| micros / 1_000),
                ], 0usize..3, proptest::bool::ANY),
                1..40,
            ),
        ) {
            let template = PartitionTemplate::parse(prefix, Some("{a: .detail.a}")).unwrap();
            // Objects that share an arrival time or a random string, not both.
            let objects = [(0, "r4nd"), (0, "0bj2"), (86_400_000_000, "r4nd")];
            let mut kept = PartitionValues::new();
            let mut start = 1_700_000_000_000_000i64;
            for (step, object, has_key) in records {
                start = start.saturating_add(step);
                let detail = if has_key { r#"{"a":"v"}"# } else { "{}" };
                let mut event = event(detail, "2026-11-20T13:00:00Z");
                event.time_micros = start;
                let (arrival_micros, object_random) = objects[object];
                let context = PartitionContext { arrival_micros, object_random };
                let mut fresh = PartitionValues::new();
                let want = template.evaluate(&event, &context, &mut fresh).map(|()| fresh.to_vec());
                let got = template.evaluate(&event, &context, &mut kept).map(|()| kept.to_vec());
                proptest::prop_assert_eq!(got, want);
            }
        }

        /// The hand-written decimal is `format!`'s.
        #[test]
        fn decimal_digits_are_formats(value in proptest::prop_oneof![0usize..1_000, proptest::num::usize::ANY]) {
            let mut out = String::from("x");
            push_decimal(&mut out, value);
            proptest::prop_assert_eq!(out, format!("x{value}"));
        }

        /// The hand-written digits are `format!`'s, in range and out of it.
        #[test]
        fn padded_digits_are_formats(value in proptest::prop_oneof![-20_000i64..20_000, proptest::num::i64::ANY], width in 2u32..5) {
            let mut out = String::from("x");
            push_padded(&mut out, value, width);
            proptest::prop_assert_eq!(out, format!("x{value:0w$}", w = width as usize));
        }

        /// Rows are grouped into one batch per partition by this key: two events share it
        /// exactly when their partition values (typed columns and extra ones) are equal.
        #[test]
        fn partition_keys_are_equal_exactly_when_partition_values_are(
            rows in proptest::collection::vec(
                (proptest::option::of("[a:-]{0,3}"), proptest::option::of(0i64..3), 0i64..3,
                 proptest::collection::vec("[a:1-]{0,3}", 2)),
                2..8,
            )
        ) {
            let template = PartitionTemplate::parse(
                "event_type=!{partitionKeyFromQuery:event_type}/schema_version=!{partitionKeyFromQuery:schema_version}/\
                 time=!{partitionKeyFromQuery:time}/a=!{partitionKeyFromQuery:a}/b=!{partitionKeyFromQuery:b}/",
                Some("{event_type: .detail.eventType, schema_version: .detail.schemaVersion, time: .time, a: .detail.a, b: .detail.b}"),
            ).unwrap();
            let typed: Vec<_> = template.columns.iter().map(|column| column.typed).collect();
            proptest::prop_assert_eq!(typed.iter().filter(|field| field.is_some()).count(), 3);
            let keyed: Vec<(String, _)> = rows.iter().map(|(kind, version, seconds, extra)| {
                let mut event = event("{}", "2026-11-02T00:00:00Z");
                event.event_type = kind.clone().map(Cow::Owned);
                event.schema_version = *version;
                event.time_micros += seconds * 1_000_000;
                let mut key = String::new();
                template.partition_key(&event, extra, &mut key);
                (key, (kind.clone(), *version, *seconds, extra.clone()))
            }).collect();
            for (key_a, values_a) in &keyed {
                for (key_b, values_b) in &keyed {
                    proptest::prop_assert_eq!(key_a == key_b, values_a == values_b, "{} / {}", key_a, key_b);
                }
            }
        }
    }

    #[test]
    fn default_prefix_partitions_by_event_type_and_event_date() {
        let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
        assert_eq!(template.column_names(), ["event_type", "dt"]);
        assert_eq!(template.columns[0].typed, Some(TypedField::EventType));
        let mut values = PartitionValues::new();
        template
            .evaluate(&event("{}", "2026-11-20T23:59:59Z"), &CONTEXT, &mut values)
            .unwrap();
        assert_eq!(*values, ["2026-11-20"]);
    }

    #[test]
    fn sample_prefix_and_firehose_timestamps_parse() {
        let sample = PartitionTemplate::parse(
            "!{partitionKeyFromQuery:eventType}/!{partitionKeyFromQuery:schemaVersion}/",
            None,
        )
        .unwrap();
        assert_eq!(sample.column_names(), ["event_type", "schema_version"]);
        assert!(sample.extra_columns().next().is_none());

        let hourly = PartitionTemplate::parse(
            "year=!{timestamp:yyyy}/!{timestamp:MM}/d=!{timestamp:dd}/h!{timestamp:HH}/",
            None,
        )
        .unwrap();
        assert_eq!(hourly.column_names(), ["year", "month", "d", "partition_3"]);
        let mut values = PartitionValues::new();
        hourly
            .evaluate(&event("{}", "2026-11-20T13:00:00Z"), &CONTEXT, &mut values)
            .unwrap();
        assert_eq!(*values, ["1970", "01", "04", "h05"]);
    }

    #[test]
    fn detail_paths_and_missing_keys() {
        let template = PartitionTemplate::parse(
            "term=!{partitionKeyFromQuery:term}/",
            Some("{term:.detail.data.searchTerm}"),
        )
        .unwrap();
        let mut values = PartitionValues::new();
        template
            .evaluate(
                &event(
                    r#"{"data":{"searchTerm":"../../etc"}}"#,
                    "2026-11-20T13:00:00Z",
                ),
                &CONTEXT,
                &mut values,
            )
            .unwrap();
        assert_eq!(*values, ["../../etc"]);
        let missing = template.evaluate(
            &event(r#"{"data":{}}"#, "2026-11-20T13:00:00Z"),
            &CONTEXT,
            &mut values,
        );
        assert_eq!(
            missing.unwrap_err().to_string(),
            "partition key `term` is absent"
        );
    }

    #[test]
    fn long_and_control_values_are_respelled() {
        assert_eq!(safe_value("searching", 100), "searching");
        let newline = safe_value("new\nline", 100);
        assert!(newline.starts_with("newline~"), "{newline}");
        for odd in ["", ".", "..", HIVE_NULL] {
            assert!(has_hash_suffix(&safe_value(odd, 100)), "{odd:?}");
        }
        let long = safe_value(&"x".repeat(1000), 100).into_owned();
        assert!(encoded_cost(&long) <= 100);
        assert_ne!(long, safe_value(&format!("{}y", "x".repeat(999)), 100));
        // A value spelled like a respelled one is respelled too, so the two cannot meet.
        let respelled = safe_value("..", 100).into_owned();
        assert_ne!(safe_value(&respelled, 100), respelled);
    }

    #[test]
    fn typed_partition_values_are_made_safe() {
        let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
        let mut long = event("{}", "2026-11-20T13:00:00Z");
        long.event_type = Some("é".repeat(150).into());
        template.make_typed_values_safe(&mut long);
        let value = long.event_type.unwrap();
        assert!(
            encoded_cost(&value) <= template.columns[0].value_budget,
            "{value}"
        );
        assert!(has_hash_suffix(&value));
    }

    #[test]
    fn too_many_columns_for_a_key_are_refused() {
        let prefix: String = (0..40)
            .map(|i| format!("c{i}=!{{timestamp:yyyy}}/"))
            .collect();
        assert!(PartitionTemplate::parse(&prefix, None).is_err());
    }

    #[test]
    fn bad_templates_are_clear_errors() {
        for (prefix, query) in [
            ("a=!{partitionKeyFromQuery:nope}/", None),
            ("a=!{partitionKeyFromLambda:k}/", None),
            ("a=!{timestamp:yyyy-MMM}/", None),
            ("Bad=!{timestamp:yyyy}/", None),
            ("region=!{partitionKeyFromQuery:eventType}/", None),
            ("a=!{partitionKeyFromQuery:k}/", Some("{k:.detail.items[]}")),
        ] {
            assert!(PartitionTemplate::parse(prefix, query).is_err(), "{prefix}");
        }
    }
}
