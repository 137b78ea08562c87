//! One raw record → a typed event (after the transform), a Firehose failure, or a bad record.
//!
//! The fast path borrows from the raw bytes: the envelope is read with `serde` into borrowed
//! fields and `detail` stays as its JSON text, so a record costs one parse and, when the sample's
//! transform moves the client id, one small string insertion. Every way a record can be unusable
//! maps to an [`ErrorCode`], so the caller can put it in the `errors` table; nothing panics.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::EnvelopeFields;
use crate::time::{CivilTime, ParseTimeError};
use crate::transform::{ClientFields, Detail, Transform, TransformError};

/// Kept for the main crate's callers until they use [`crate::time::parse_time`], its home.
pub use crate::time::parse_time;

/// Why a record went to the `errors` table. The string forms are the `error_code` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not JSON at all, or JSON that is not an object.
    NotJson,
    /// An object cut short (a line break, a new record, or the end of the object came first).
    Truncated,
    InvalidUtf8,
    /// Larger than `max_record_bytes`.
    Oversized,
    /// `id`, `time` or `detail` is absent.
    MissingField,
    /// A field of the envelope or a typed detail field has the wrong JSON type.
    WrongType,
    /// `time` is not an ISO-8601 timestamp.
    InvalidTime,
    /// A partition key the prefix needs is absent from the record.
    MissingPartitionKey,
    /// A declarative transform could not apply.
    TransformFailed,
    /// A Firehose processing or delivery failure from its `error/` prefix.
    FirehoseError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotJson => "not_json",
            ErrorCode::Truncated => "truncated",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::Oversized => "oversized",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::InvalidTime => "invalid_time",
            ErrorCode::MissingPartitionKey => "missing_partition_key",
            ErrorCode::TransformFailed => "transform_failed",
            ErrorCode::FirehoseError => "firehose_error",
        }
    }
}

/// A bad record's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: ErrorCode,
    pub message: String,
}

impl RecordError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<TransformError> for RecordError {
    fn from(error: TransformError) -> Self {
        let code = match &error {
            TransformError::NotJson(_) | TransformError::NotAnObject => ErrorCode::NotJson,
            TransformError::Detail(_) => ErrorCode::WrongType,
            TransformError::EmptyStep { .. }
            | TransformError::UnclosedIndex { .. }
            | TransformError::BadIndex { .. }
            | TransformError::UnexpectedText { .. }
            | TransformError::EmptyTarget
            | TransformError::NotUnderObject { .. }
            | TransformError::NoElement { .. } => ErrorCode::TransformFailed,
        };
        RecordError::new(code, error.to_string())
    }
}

impl From<ParseTimeError> for RecordError {
    fn from(error: ParseTimeError) -> Self {
        RecordError::new(ErrorCode::InvalidTime, format!("`time` {error}"))
    }
}

/// A record Firehose itself failed, carried over from its `error/` prefix.
#[derive(Debug)]
pub struct FirehoseFailure {
    /// Firehose's `errorCode` (or `ErrorCode` / `lastErrorCode`).
    pub error_code: String,
    pub message: String,
    /// The original record, decoded from `rawData` (the envelope itself when that fails).
    pub raw_record: Vec<u8>,
}

/// A good event, with the transform applied. Strings borrow from the raw record where they can.
#[derive(Debug)]
pub struct Event<'a> {
    pub id: Cow<'a, str>,
    pub detail_type: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub account: Option<Cow<'a, str>>,
    /// Event time, microseconds since the Unix epoch (UTC).
    pub time_micros: i64,
    pub region: Option<Cow<'a, str>>,
    pub resources: Vec<Cow<'a, str>>,
    pub client_id: Option<Cow<'a, str>>,
    pub event_type: Option<Cow<'a, str>>,
    pub schema_version: Option<i64>,
    /// The `detail` object as JSON text, after the transform.
    pub detail: Detail<'a>,
}

impl<'a> Event<'a> {
    /// A typed field's value as text: strings as they are, `time` as RFC 3339 to the second
    /// (UTC), `schema_version` in decimal.
    pub fn field_text(&self, field: TypedField) -> Option<Cow<'_, str>> {
        match field {
            TypedField::Time => Some(Cow::Owned(
                CivilTime::from_micros(self.time_micros).rfc3339(),
            )),
            TypedField::SchemaVersion => self
                .schema_version
                .map(|version| Cow::Owned(version.to_string())),
            TypedField::Id
            | TypedField::DetailType
            | TypedField::Source
            | TypedField::Account
            | TypedField::Region
            | TypedField::ClientId
            | TypedField::EventType => self.text_field(field).map(Cow::Borrowed),
        }
    }

    fn text_field(&self, field: TypedField) -> Option<&str> {
        match field {
            TypedField::Id => Some(&self.id),
            TypedField::DetailType => self.detail_type.as_deref(),
            TypedField::Source => self.source.as_deref(),
            TypedField::Account => self.account.as_deref(),
            TypedField::Region => self.region.as_deref(),
            TypedField::ClientId => self.client_id.as_deref(),
            TypedField::EventType => self.event_type.as_deref(),
            TypedField::Time | TypedField::SchemaVersion => None,
        }
    }

    /// A typed string field, to respell in place; `None` for `time` and `schema_version`, which
    /// are not strings, and for absent fields.
    pub fn text_field_mut(&mut self, field: TypedField) -> Option<&mut Cow<'a, str>> {
        match field {
            TypedField::Id => Some(&mut self.id),
            TypedField::DetailType => self.detail_type.as_mut(),
            TypedField::Source => self.source.as_mut(),
            TypedField::Account => self.account.as_mut(),
            TypedField::Region => self.region.as_mut(),
            TypedField::ClientId => self.client_id.as_mut(),
            TypedField::EventType => self.event_type.as_mut(),
            TypedField::Time | TypedField::SchemaVersion => None,
        }
    }
}

/// A typed column of the `events` table: an event field pulled out of the envelope or its
/// `detail` ([`Event`] holds them). The one list of them: partition templates find theirs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedField {
    Id,
    DetailType,
    Source,
    Account,
    Time,
    Region,
    ClientId,
    EventType,
    SchemaVersion,
}

impl TypedField {
    pub const ALL: [TypedField; 9] = [
        TypedField::Id,
        TypedField::DetailType,
        TypedField::Source,
        TypedField::Account,
        TypedField::Time,
        TypedField::Region,
        TypedField::ClientId,
        TypedField::EventType,
        TypedField::SchemaVersion,
    ];

    /// The column's name in the `events` table.
    pub fn column(self) -> &'static str {
        match self {
            TypedField::Id => "id",
            TypedField::DetailType => "detail_type",
            TypedField::Source => "source",
            TypedField::Account => "account",
            TypedField::Time => "time",
            TypedField::Region => "region",
            TypedField::ClientId => "client_id",
            TypedField::EventType => "event_type",
            TypedField::SchemaVersion => "schema_version",
        }
    }

    /// Where the field is in a record after the transform: the steps of its jq path.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            TypedField::Id => &["id"],
            TypedField::DetailType => &["detail-type"],
            TypedField::Source => &["source"],
            TypedField::Account => &["account"],
            TypedField::Time => &["time"],
            TypedField::Region => &["region"],
            TypedField::ClientId => &["detail", "accountNumber"],
            TypedField::EventType => &["detail", "eventType"],
            TypedField::SchemaVersion => &["detail", "schemaVersion"],
        }
    }
}

pub enum Parsed<'a> {
    Event(Event<'a>),
    Firehose(FirehoseFailure),
}

/// The EventBridge envelope, and the fields of a Firehose error record, borrowed.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow, rename = "detail-type")]
    detail_type: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    account: Option<Text<'a>>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    region: Option<Text<'a>>,
    #[serde(borrow)]
    resources: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    // Firehose error record fields (https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html#retry).
    #[serde(borrow, rename = "rawData")]
    raw_data: Option<Text<'a>>,
    #[serde(
        borrow,
        rename = "errorCode",
        alias = "ErrorCode",
        alias = "lastErrorCode"
    )]
    error_code: Option<Text<'a>>,
    #[serde(
        borrow,
        rename = "errorMessage",
        alias = "ErrorMessage",
        alias = "lastErrorMessage"
    )]
    error_message: Option<Text<'a>>,
}

/// The detail fields that become typed columns; the rest stays in the JSON text.
#[derive(Debug, PartialEq)]
struct DetailFields<'a> {
    event_type: Option<Cow<'a, str>>,
    /// The value's JSON text.
    schema_version: Option<&'a str>,
    account_number: Option<Cow<'a, str>>,
}

impl<'a> DetailFields<'a> {
    /// Reads the fields from `detail`, an object's JSON text that serde_json has validated
    /// already (the envelope's parse): one scan of its top level, nested values skipped by
    /// their brackets, instead of a second full parse. As serde would, it refuses a field of
    /// the wrong type or given twice; `null` is an absent field.
    fn scan(detail: &'a str) -> Result<Self, RecordError> {
        let mut values = [None; 3];
        let members = Members {
            text: detail,
            at: 1,
        };
        for (key, value) in members {
            let slot = match key {
                "eventType" => 0,
                "schemaVersion" => 1,
                "accountNumber" => 2,
                escaped if escaped.contains('\\') => {
                    match serde_json::from_str::<String>(&format!("\"{escaped}\"")).as_deref() {
                        Ok("eventType") => 0,
                        Ok("schemaVersion") => 1,
                        Ok("accountNumber") => 2,
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if values[slot].replace(value).is_some() {
                return Err(RecordError::new(
                    ErrorCode::WrongType,
                    format!("detail: duplicate field `{}`", DETAIL_FIELDS[slot]),
                ));
            }
        }
        Self::from_values(values)
    }

    /// The fields from the JSON text of each of [`DETAIL_FIELDS`]' values, given once at most.
    fn from_values(values: DetailValues<'a>) -> Result<Self, RecordError> {
        let mut fields = DetailFields {
            event_type: None,
            schema_version: None,
            account_number: None,
        };
        for (slot, value) in values.into_iter().enumerate() {
            let Some(value) = value.filter(|&value| value != "null") else {
                continue;
            };
            if slot == 1 {
                fields.schema_version = Some(value);
                continue;
            }
            let text = json_string(value).ok_or_else(|| {
                RecordError::new(
                    ErrorCode::WrongType,
                    format!("detail: `{}` is not a string: {value}", DETAIL_FIELDS[slot]),
                )
            })?;
            if slot == 0 {
                fields.event_type = Some(text);
            } else {
                fields.account_number = Some(text);
            }
        }
        Ok(fields)
    }
}

/// The detail members that become typed columns, in the order of [`DetailValues`].
pub(crate) const DETAIL_FIELDS: [&str; 3] = ["eventType", "schemaVersion", "accountNumber"];

/// The JSON text of the values of [`DETAIL_FIELDS`] in a detail object, where present.
pub(crate) type DetailValues<'a> = [Option<&'a str>; 3];

/// A JSON string value's text, borrowed unless it has escapes; `None` if `value` (valid JSON)
/// is not a string.
fn json_string(value: &str) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(value).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The top-level members of a valid JSON object's text, as (key as written, value's text).
struct Members<'a> {
    text: &'a str,
    /// Where the next member (or the closing brace) starts, past whitespace or not.
    at: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        let mut at = skip_whitespace(bytes, self.at);
        if bytes.get(at) == Some(&b',') {
            at = skip_whitespace(bytes, at + 1);
        }
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(bytes, at);
        let key = self.text.get(at + 1..key_end - 1)?;
        let colon = skip_whitespace(bytes, key_end);
        let value_start = skip_whitespace(bytes, colon + 1);
        let value_end = value_end(bytes, value_start);
        self.at = value_end;
        Some((key, self.text.get(value_start..value_end)?))
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Just past the closing quote of the string that opens at `at`.
fn string_end(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Just past the value that starts at `at`.
fn value_end(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at) {
        Some(b'"') => string_end(bytes, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            bytes.len()
        }
        _ => {
            let mut i = at;
            while i < bytes.len()
                && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// The detail members the envelope reader noted give the fields the detail scan reads (or
/// the same kind of error).
#[cfg(test)]
pub(crate) fn check_detail_values(fields: &EnvelopeFields<'_>) {
    let (Some(values), Some(detail)) = (fields.detail_values, fields.detail) else {
        return;
    };
    match (
        DetailFields::from_values(values),
        DetailFields::scan(detail),
    ) {
        (Ok(noted), Ok(scanned)) => assert_eq!(noted, scanned, "{detail}"),
        (Err(noted), Err(scanned)) => assert_eq!(noted.code, scanned.code, "{detail}"),
        (noted, scanned) => panic!("{detail}: noted {noted:?}, scanned {scanned:?}"),
    }
}

/// serde's reading of the same fields: the model [`DetailFields::scan`] is tested against.
#[cfg(test)]
#[derive(Deserialize)]
struct DetailFieldsBySerde<'a> {
    #[serde(borrow, rename = "eventType")]
    event_type: Option<Text<'a>>,
    #[serde(borrow, rename = "schemaVersion")]
    schema_version: Option<&'a RawValue>,
    #[serde(borrow, rename = "accountNumber")]
    account_number: Option<Text<'a>>,
}

/// A JSON string that borrows from the input unless it has escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E>(self, value: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

fn text<'a>(value: Option<Text<'a>>) -> Option<Cow<'a, str>> {
    value.map(|text| text.0)
}

/// Parses one framed record. `scratch` holds the re-serialised record when a declarative
/// transform rewrote it, so the event can still borrow.
pub fn parse_record<'a>(
    raw_record: &'a [u8],
    transform: &Transform,
    scratch: &'a mut String,
) -> Result<Parsed<'a>, RecordError> {
    let record_text = std::str::from_utf8(raw_record).map_err(|error| {
        RecordError::new(
            ErrorCode::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", error.valid_up_to()),
        )
    })?;
    let record_text: &'a str = if transform.has_operations() {
        *scratch = transform.apply_operations(record_text)?;
        scratch.as_str()
    } else {
        record_text
    };
    // The one-pass reader takes nearly every record; what it declines, serde reads (and
    // words the error for).
    let envelope = match crate::envelope::read(record_text) {
        Some(fields) => fields,
        None => envelope_by_serde(record_text)?,
    };
    event_of(envelope, raw_record, transform)
}

/// The record `window` starts with (at its `{`; the bytes after the record are not looked at)
/// when the one-pass reader reads it, with its length: what [`parse_record`] gives for the
/// frame the framer's scan would find there, without the scan. `None`: frame it with the scan.
pub fn parse_record_prefix<'a>(
    window: &'a [u8],
    transform: &Transform,
) -> Option<(usize, Result<Parsed<'a>, RecordError>)> {
    if transform.has_operations() {
        return None;
    }
    let (envelope, len) = crate::envelope::read_prefix(window)?;
    Some((len, event_of(envelope, &window[..len], transform)))
}

/// The event (or Firehose failure) a record's envelope holds, the transform applied.
fn event_of<'a>(
    envelope: EnvelopeFields<'a>,
    raw_record: &'a [u8],
    transform: &Transform,
) -> Result<Parsed<'a>, RecordError> {
    if envelope.detail.is_none() && envelope.id.is_none() && envelope.raw_data.is_some() {
        return Ok(Parsed::Firehose(firehose_failure(envelope, raw_record)));
    }
    let id = envelope.id.ok_or_else(|| missing("id"))?;
    let time = envelope.time.ok_or_else(|| missing("time"))?;
    let detail_text = envelope.detail.ok_or_else(|| missing("detail"))?;
    if id.is_empty() {
        return Err(RecordError::new(ErrorCode::MissingField, "`id` is empty"));
    }
    let time_micros = crate::time::parse_time(&time)?;
    if !detail_text.starts_with('{') {
        return Err(RecordError::new(
            ErrorCode::WrongType,
            "`detail` is not a JSON object",
        ));
    }
    let fields = match envelope.detail_values {
        Some(values) => DetailFields::from_values(values)?,
        None => DetailFields::scan(detail_text)?,
    };
    let schema_version = fields
        .schema_version
        .map(parse_schema_version)
        .transpose()?;

    let mut client_fields = ClientFields {
        resources: envelope.resources.unwrap_or_default(),
        account_number: fields.account_number,
        detail: Detail::Text(Cow::Borrowed(detail_text)),
    };
    transform.apply(&mut client_fields)?;
    let ClientFields {
        resources,
        account_number: mut client_id,
        detail,
    } = client_fields;
    if client_id.is_none() {
        // Untransformed records carry the client id in resources.
        client_id = resources.first().cloned();
    }
    Ok(Parsed::Event(Event {
        id,
        detail_type: envelope.detail_type,
        source: envelope.source,
        account: envelope.account,
        time_micros,
        region: envelope.region,
        resources,
        client_id,
        event_type: fields.event_type,
        schema_version,
        detail,
    }))
}

/// The envelope as serde reads it: the model of [`crate::envelope::read`], and the path of
/// the records that reader declines.
pub(crate) fn envelope_by_serde(record_text: &str) -> Result<EnvelopeFields<'_>, RecordError> {
    let envelope: Envelope<'_> = serde_json::from_str(record_text).map_err(json_error)?;
    Ok(EnvelopeFields {
        id: text(envelope.id),
        detail_type: text(envelope.detail_type),
        source: text(envelope.source),
        account: text(envelope.account),
        time: text(envelope.time),
        region: text(envelope.region),
        resources: envelope
            .resources
            .map(|resources| resources.into_iter().map(|text| text.0).collect()),
        detail: envelope.detail.map(RawValue::get),
        detail_values: None,
        raw_data: text(envelope.raw_data),
        error_code: text(envelope.error_code),
        error_message: text(envelope.error_message),
    })
}

fn missing(field: &str) -> RecordError {
    RecordError::new(ErrorCode::MissingField, format!("no `{field}` field"))
}

fn json_error(error: serde_json::Error) -> RecordError {
    use serde_json::error::Category;
    let code = match error.classify() {
        Category::Data => ErrorCode::WrongType,
        Category::Eof => ErrorCode::Truncated,
        Category::Syntax | Category::Io => ErrorCode::NotJson,
    };
    RecordError::new(code, error.to_string())
}

fn parse_schema_version(text: &str) -> Result<i64, RecordError> {
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let not_integer = || {
        RecordError::new(
            ErrorCode::WrongType,
            format!("detail.schemaVersion is not an integer: {text}"),
        )
    };
    match digits.parse::<i64>() {
        Ok(version) => Ok(version),
        // `2.0` from a client that sent a float is still version 2.
        Err(_) => match digits.parse::<f64>() {
            Ok(version) if version.fract() == 0.0 && version.abs() < 1e15 => Ok(version as i64),
            _ => Err(not_integer()),
        },
    }
}

fn firehose_failure(envelope: EnvelopeFields<'_>, raw_record: &[u8]) -> FirehoseFailure {
    let raw_data = envelope.raw_data.unwrap_or_default();
    let error_message = envelope.error_message.unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw_data.trim().as_bytes());
    let (raw_record, message) = match decoded {
        Ok(bytes) => (bytes, error_message.into_owned()),
        Err(error) => (
            raw_record.to_vec(),
            format!("{error_message} (rawData is not base64: {error})"),
        ),
    };
    FirehoseFailure {
        error_code: envelope
            .error_code
            .map(Cow::into_owned)
            .unwrap_or_else(|| "Unknown".to_owned()),
        message,
        raw_record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON values as text, nested and spaced every way JSON allows.
    fn json_text() -> impl Strategy<Value = String> {
        let space = || proptest::sample::select(vec!["", " ", "\n\t", "\r "]);
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            (-1000i64..1000).prop_map(|n| n.to_string()),
            Just("2.0".to_owned()),
            Just("-1e3".to_owned()),
            "[a-z\\[\\]{}:,]{0,6}".prop_map(|text| serde_json::to_string(&text).unwrap()),
            Just(r#""esc\"aped\\ \u00e9\n""#.to_owned()),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                (proptest::collection::vec((inner.clone(), space()), 0..4)).prop_map(|items| {
                    let items: Vec<_> = items
                        .into_iter()
                        .map(|(v, s)| format!("{s}{v}{s}"))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                (proptest::collection::vec(("[a-z]{1,3}", inner, space()), 0..4)).prop_map(
                    |members| {
                        let members: Vec<_> = members
                            .into_iter()
                            .map(|(k, v, s)| format!("{s}\"{k}\"{s}:{s}{v}"))
                            .collect();
                        format!("{{{}}}", members.join(","))
                    }
                ),
            ]
        })
    }

    proptest! {
        /// The scan reads the typed detail fields as serde's full parse does, or refuses the
        /// detail exactly when serde does, over objects of any shape, spacing and escapes.
        #[test]
        fn detail_scan_agrees_with_serde(
            members in proptest::collection::vec((
                proptest::sample::select(vec![
                    "eventType", "schemaVersion", "accountNumber", "event\\u0054ype", "data", "x", "",
                ]),
                json_text(),
                proptest::sample::select(vec!["", " ", "\n"]),
            ), 0..6)
        ) {
            let members: Vec<_> =
                members.iter().map(|(key, value, space)| format!("{space}\"{key}\"{space}:{space}{value}{space}")).collect();
            let detail = format!("{{{}}}", members.join(","));
            let by_serde = serde_json::from_str::<DetailFieldsBySerde>(&detail).map(|fields| DetailFields {
                event_type: fields.event_type.map(|text| text.0),
                schema_version: fields.schema_version.map(RawValue::get),
                account_number: fields.account_number.map(|text| text.0),
            });
            // The members the envelope reader notes on its way read as the scan does.
            if let Some(fields) = crate::envelope::read(&format!("{{\"detail\": {detail}}}")) {
                check_detail_values(&fields);
            }
            match (DetailFields::scan(&detail), by_serde) {
                (Ok(scanned), Ok(parsed)) => prop_assert_eq!(scanned, parsed, "{}", detail),
                (Err(scanned), Err(_)) => prop_assert_eq!(scanned.code, ErrorCode::WrongType),
                (scanned, parsed) => prop_assert!(false, "{}: scan {:?}, serde {:?}", detail, scanned, parsed.err()),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Over envelopes of any shape (known fields of every type, given twice, escaped keys,
        /// nested values, spacing): what the one-pass reader accepts, serde reads with the same
        /// fields, and a well-formed sample envelope it always accepts.
        #[test]
        fn the_envelope_reader_reads_as_serde_does(
            members in proptest::collection::vec((
                proptest::sample::select(vec![
                    "id", "detail-type", "source", "account", "time", "region", "resources",
                    "detail", "rawData", "errorCode", "ErrorCode", "lastErrorMessage", "version",
                    "i\\u0064", "x",
                ]),
                prop_oneof![
                    json_text(),
                    "[a-z0-9 -]{0,8}".prop_map(|text| format!("\"{text}\"")),
                    proptest::collection::vec("[a-z0-9]{0,4}", 0..3)
                        .prop_map(|items| serde_json::to_string(&items).unwrap()),
                ],
                proptest::sample::select(vec!["", " ", "\n", "\r\t"]),
            ), 0..8)
        ) {
            let members: Vec<_> =
                members.iter().map(|(key, value, space)| format!("{space}\"{key}\"{space}:{space}{value}{space}")).collect();
            let text = format!("{{{}}}", members.join(","));
            if let Some(fields) = crate::envelope::read(&text) {
                let by_serde = envelope_by_serde(&text);
                prop_assert!(by_serde.is_ok(), "{}: serde {:?}", text, by_serde.err());
                check_detail_values(&fields);
                let fields = EnvelopeFields { detail_values: None, ..fields };
                prop_assert_eq!(fields, by_serde.unwrap(), "{}", text);
            }
            prop_assert!(crate::envelope::read(UNTRANSFORMED).is_some());
        }
    }

    const UNTRANSFORMED: &str = r#"{"version": "0", "id": "6f1c", "detail-type": "prod", "source": "clientevents", "account": "123456789012", "time": "2026-11-20T13:45:01Z", "region": "us-east-1", "resources": ["client-1"], "detail": {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}}}"#;

    fn event(raw: &str, transform: &Transform) -> Result<Event<'static>, RecordError> {
        let raw: &'static str = Box::leak(raw.to_owned().into_boxed_str());
        let scratch: &'static mut String = Box::leak(Box::default());
        match parse_record(raw.as_bytes(), transform, scratch)? {
            Parsed::Event(event) => Ok(event),
            Parsed::Firehose(_) => panic!("not an event"),
        }
    }

    #[test]
    fn sample_transform_moves_client_id_into_detail() {
        let event = event(UNTRANSFORMED, &Transform::sample()).unwrap();
        assert_eq!(event.client_id.as_deref(), Some("client-1"));
        assert!(event.resources.is_empty());
        let detail: serde_json::Value = serde_json::from_str(&event.detail.text()).unwrap();
        assert_eq!(detail["accountNumber"], "client-1");
        assert_eq!(detail["data"]["searchTerm"], "games");
        assert_eq!(event.event_type.as_deref(), Some("searching"));
        assert_eq!(event.schema_version, Some(1));
        assert_eq!(
            event.time_micros,
            parse_time("2026-11-20T13:45:01+00:00").unwrap()
        );
    }

    #[test]
    fn sample_transform_is_harmless_on_transformed_records() {
        let transformed = UNTRANSFORMED.replace(r#"["client-1"]"#, "[]").replace(
            r#""schemaVersion": 1"#,
            r#""schemaVersion": 1, "accountNumber": "client-1""#,
        );
        let event = event(&transformed, &Transform::sample()).unwrap();
        assert_eq!(event.client_id.as_deref(), Some("client-1"));
        assert!(matches!(event.detail, Detail::Text(Cow::Borrowed(_))));
    }

    #[test]
    fn without_transform_client_id_falls_back_to_resources() {
        let event = event(UNTRANSFORMED, &Transform::none()).unwrap();
        assert_eq!(event.client_id.as_deref(), Some("client-1"));
        assert_eq!(event.resources.len(), 1);
    }

    #[test]
    fn bad_records_get_their_codes() {
        let cases = [
            (
                r#"{"id": "1", "time": "2026-11-20T13:45:01Z"}"#,
                ErrorCode::MissingField,
            ),
            (
                r#"{"id": 5, "time": "2026-11-20T13:45:01Z", "detail": {}}"#,
                ErrorCode::WrongType,
            ),
            (
                r#"{"id": "1", "time": "yesterday", "detail": {}}"#,
                ErrorCode::InvalidTime,
            ),
            (
                r#"{"id": "1", "time": "2026-11-20T13:45:01Z", "detail": "x"}"#,
                ErrorCode::WrongType,
            ),
            (
                r#"{"id": "1", "time": "2026-11-20T13:45:01Z", "detail": {"schemaVersion": "v2"}}"#,
                ErrorCode::WrongType,
            ),
            (
                r#"{"id": "1", "time": "2026-11-20T13:45:01Z", "detail": {"eventType": 3}}"#,
                ErrorCode::WrongType,
            ),
            (
                r#"{"id": "1", "time": "2026-11-20T13:45:01Z", "detail": {"a": tru}}"#,
                ErrorCode::NotJson,
            ),
            ("[1, 2]", ErrorCode::WrongType),
        ];
        for (raw, code) in cases {
            assert_eq!(
                event(raw, &Transform::sample()).unwrap_err().code,
                code,
                "{raw}"
            );
        }
        let mut scratch = String::new();
        let invalid = b"{\"id\": \"\xff\"}";
        let error = parse_record(invalid, &Transform::sample(), &mut scratch)
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::InvalidUtf8);
    }

    #[test]
    fn firehose_error_records_decode_raw_data() {
        let raw = r#"{"attemptsMade": 4, "arrivalTimestamp": 1700000000000, "errorCode": "Lambda.FunctionError", "errorMessage": "boom", "rawData": "eyJhIjoxfQ==", "lambdaArn": "arn"}"#;
        let mut scratch = String::new();
        match parse_record(raw.as_bytes(), &Transform::sample(), &mut scratch).unwrap() {
            Parsed::Firehose(failure) => {
                assert_eq!(failure.error_code, "Lambda.FunctionError");
                assert_eq!(failure.raw_record, b"{\"a\":1}");
                assert_eq!(failure.message, "boom");
            }
            Parsed::Event(_) => panic!("expected a Firehose failure"),
        }
    }

    #[test]
    fn typed_fields_are_listed_once_each() {
        for (index, field) in TypedField::ALL.into_iter().enumerate() {
            // Exhaustive: a new field fails to compile here until it is in `ALL`.
            let position = match field {
                TypedField::Id => 0,
                TypedField::DetailType => 1,
                TypedField::Source => 2,
                TypedField::Account => 3,
                TypedField::Time => 4,
                TypedField::Region => 5,
                TypedField::ClientId => 6,
                TypedField::EventType => 7,
                TypedField::SchemaVersion => 8,
            };
            assert_eq!(position, index, "{field:?}");
        }
        let event = event(UNTRANSFORMED, &Transform::sample()).unwrap();
        let texts: Vec<_> = TypedField::ALL
            .into_iter()
            .map(|field| event.field_text(field))
            .collect();
        assert_eq!(
            texts,
            [
                Some("6f1c".into()),
                Some("prod".into()),
                Some("clientevents".into()),
                Some("123456789012".into()),
                Some("2026-11-20T13:45:01Z".into()),
                Some("us-east-1".into()),
                Some("client-1".into()),
                Some("searching".into()),
                Some("1".into()),
            ]
        );
    }

    #[test]
    fn transform_failures_keep_their_codes_and_text() {
        let declarative = Transform::new(
            crate::transform::Preset::None,
            &[crate::transform::Operation::Move {
                from: "a".into(),
                to: "b.c".into(),
            }],
        )
        .unwrap();
        let mut scratch = String::new();
        let error = parse_record(br#"{"a":1,"b":2}"#, &declarative, &mut scratch)
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::TransformFailed);
        assert_eq!(error.message, "`c` is under a value that is not an object");
        let error = parse_record(b"[1]", &declarative, &mut scratch)
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::NotJson);
        assert_eq!(error.message, "the record is not a JSON object");
        let error =
            event(r#"{"id":"1","time":"yesterday","detail":{}}"#, &declarative).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidTime);
        assert!(
            error.message.starts_with("`time` \"yesterday\": "),
            "{}",
            error.message
        );
    }
}
