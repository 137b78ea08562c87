//! The envelope's fields in one pass over a record's text, validating all of it: the fast path
//! of [`crate::record::parse_record`]. It reads what nearly every record is (an object with
//! string fields, a `resources` array of strings and a `detail` value) and declines the rest,
//! which serde then reads: so a record is accepted only if serde accepts it too, and every
//! error, with its category and message, is serde's.
//!
//! It declines (returns `None`) on anything it does not read itself: a syntax error, an
//! escape in a key or in a field it returns, a `\u` surrogate anywhere (serde refuses some
//! lone ones), a known field given twice or of the wrong type, nesting deeper than
//! [`MAX_DEPTH`] (serde's limit is 128), text that is not one object.

use std::borrow::Cow;

use crate::record::{DetailValues, DETAIL_FIELDS};
use crate::scan::{string_stop, AlsoStop};

/// Nesting beyond this declines (serde refuses 128 levels; this stays well inside).
const MAX_DEPTH: usize = 100;

/// The envelope's fields as serde's `Envelope` reads them, borrowed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EnvelopeFields<'a> {
    pub id: Option<Cow<'a, str>>,
    pub detail_type: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub account: Option<Cow<'a, str>>,
    pub time: Option<Cow<'a, str>>,
    pub region: Option<Cow<'a, str>>,
    pub resources: Option<Vec<Cow<'a, str>>>,
    /// The `detail` value's JSON text.
    pub detail: Option<&'a str>,
    /// The typed members of a `detail` object, read on the way (`None` when a key of its top
    /// level has an escape or one of them is given twice: the detail scan then decides).
    pub detail_values: Option<DetailValues<'a>>,
    pub raw_data: Option<Cow<'a, str>>,
    pub error_code: Option<Cow<'a, str>>,
    pub error_message: Option<Cow<'a, str>>,
}

/// The fields a record's envelope names, each a slot that may be filled once.
#[derive(Clone, Copy)]
enum Slot {
    Id,
    DetailType,
    Source,
    Account,
    Time,
    Region,
    Resources,
    Detail,
    RawData,
    ErrorCode,
    ErrorMessage,
}

impl Slot {
    fn of(key: &[u8]) -> Option<Slot> {
        Some(match key {
            b"id" => Slot::Id,
            b"detail-type" => Slot::DetailType,
            b"source" => Slot::Source,
            b"account" => Slot::Account,
            b"time" => Slot::Time,
            b"region" => Slot::Region,
            b"resources" => Slot::Resources,
            b"detail" => Slot::Detail,
            b"rawData" => Slot::RawData,
            // serde's aliases: one field, so two of them are a duplicate.
            b"errorCode" | b"ErrorCode" | b"lastErrorCode" => Slot::ErrorCode,
            b"errorMessage" | b"ErrorMessage" | b"lastErrorMessage" => Slot::ErrorMessage,
            _ => return None,
        })
    }
}

/// Reads `text` as one JSON object (whitespace around it), or declines.
pub(crate) fn read(text: &str) -> Option<EnvelopeFields<'_>> {
    let (fields, end) = read_prefix(text.as_bytes())?;
    text.as_bytes()[end..]
        .iter()
        .all(|&byte| matches!(byte, b' ' | b'\n' | b'\r' | b'\t'))
        .then_some(fields)
}

/// Reads the JSON object `bytes` start with (the bytes after it are not looked at), or
/// declines; with its length. UTF-8 is checked over the object only. The object is the frame
/// the framer's brace scan finds there: it declines a `{` right after a line break, where the
/// scan cuts a record.
pub(crate) fn read_prefix(bytes: &[u8]) -> Option<(EnvelopeFields<'_>, usize)> {
    let mut reader = Reader { bytes, at: 0 };
    let mut fields = RawFields::default();
    let mut seen = 0u16;
    reader.skip_whitespace();
    reader.expect(b'{')?;
    reader.skip_whitespace();
    if reader.peek() == Some(b'}') {
        reader.at += 1;
    } else {
        loop {
            let key = reader.plain_string()?;
            reader.skip_whitespace();
            reader.expect(b':')?;
            reader.skip_whitespace();
            match Slot::of(key) {
                None => reader.skip_value(1)?,
                Some(slot) => {
                    let bit = 1u16 << slot as u16;
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    reader.field(slot, &mut fields)?;
                }
            }
            reader.skip_whitespace();
            match reader.next()? {
                b',' => reader.skip_whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    let end = reader.at;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    Some((fields.into_text(text)?, end))
}

/// [`EnvelopeFields`] as byte slices of the object, before its UTF-8 is checked.
#[derive(Default)]
struct RawFields<'a> {
    id: Option<&'a [u8]>,
    detail_type: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    account: Option<&'a [u8]>,
    time: Option<&'a [u8]>,
    region: Option<&'a [u8]>,
    /// The array's text: strings without escapes, so each is what lies between two quotes.
    resources: Option<&'a [u8]>,
    detail: Option<&'a [u8]>,
    detail_values: Option<[Option<&'a [u8]>; 3]>,
    raw_data: Option<&'a [u8]>,
    error_code: Option<&'a [u8]>,
    error_message: Option<&'a [u8]>,
}

impl<'a> RawFields<'a> {
    /// The same slices of `text`, the object's bytes checked as UTF-8. Each slice starts and
    /// ends at an ASCII byte (a quote or a bracket), so at a character boundary.
    fn into_text(self, text: &'a str) -> Option<EnvelopeFields<'a>> {
        let base = text.as_ptr() as usize;
        let of = |slice: &'a [u8]| {
            let start = slice.as_ptr() as usize - base;
            text.get(start..start + slice.len())
        };
        // `None`: not a slice of `text` (cannot happen); `Some(None)`: the field is absent.
        let text_of = |slice: Option<&'a [u8]>| match slice {
            None => Some(None),
            Some(slice) => of(slice).map(Some),
        };
        let cow_of = |slice: Option<&'a [u8]>| Some(text_of(slice)?.map(Cow::Borrowed));
        Some(EnvelopeFields {
            id: cow_of(self.id)?,
            detail_type: cow_of(self.detail_type)?,
            source: cow_of(self.source)?,
            account: cow_of(self.account)?,
            time: cow_of(self.time)?,
            region: cow_of(self.region)?,
            // One vector a record, built here: `["a", "b"]` split at its quotes is `[`, `a`,
            // `, `, `b`, `]`.
            resources: text_of(self.resources)?.map(|array| {
                array
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(Cow::Borrowed)
                    .collect()
            }),
            detail: text_of(self.detail)?,
            detail_values: match self.detail_values {
                Some([a, b, c]) => Some([text_of(a)?, text_of(b)?, text_of(c)?]),
                None => None,
            },
            raw_data: cow_of(self.raw_data)?,
            error_code: cow_of(self.error_code)?,
            error_message: cow_of(self.error_message)?,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// One known field's value into its slot: a string or null, `resources` an array of
    /// strings or null, `detail` any value (null is absent).
    fn field(&mut self, slot: Slot, fields: &mut RawFields<'a>) -> Option<()> {
        if self.bytes[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(());
        }
        let text = match slot {
            Slot::Resources => {
                fields.resources = Some(self.strings()?);
                return Some(());
            }
            Slot::Detail => {
                let start = self.at;
                if self.peek() == Some(b'{') && !self.after_line_break() {
                    fields.detail_values = self.detail_object()?;
                } else {
                    self.skip_value(1)?;
                }
                fields.detail = Some(&self.bytes[start..self.at]);
                return Some(());
            }
            _ => Some(self.plain_string()?),
        };
        let target = match slot {
            Slot::Id => &mut fields.id,
            Slot::DetailType => &mut fields.detail_type,
            Slot::Source => &mut fields.source,
            Slot::Account => &mut fields.account,
            Slot::Time => &mut fields.time,
            Slot::Region => &mut fields.region,
            Slot::RawData => &mut fields.raw_data,
            Slot::ErrorCode => &mut fields.error_code,
            Slot::ErrorMessage => &mut fields.error_message,
            Slot::Resources | Slot::Detail => return None,
        };
        *target = text;
        Some(())
    }

    /// Past the `detail` object (at depth 2), validated, noting its typed members' values.
    fn detail_object(&mut self) -> Option<Option<[Option<&'a [u8]>; 3]>> {
        self.expect(b'{')?;
        let mut values = Some([None; 3]);
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(values);
        }
        loop {
            let key_start = self.at;
            self.skip_string()?;
            let key = &self.bytes[key_start + 1..self.at - 1];
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value_start = self.at;
            self.skip_value(2)?;
            if key.contains(&b'\\') {
                values = None;
            }
            let slot = DETAIL_FIELDS.iter().position(|name| name.as_bytes() == key);
            if let (Some(slot), Some(found)) = (slot, values.as_mut()) {
                if found[slot].is_some() {
                    values = None;
                } else {
                    found[slot] = Some(&self.bytes[value_start..self.at]);
                }
            }
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b'}' => return Some(values),
                _ => return None,
            }
        }
    }

    /// An array of strings without escapes: its text, brackets included.
    fn strings(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.expect(b'[')?;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Some(&self.bytes[start..self.at]);
        }
        loop {
            self.plain_string()?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b']' => return Some(&self.bytes[start..self.at]),
                _ => return None,
            }
        }
    }

    /// A string with no escapes, its bytes without the quotes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let stop = self.at + string_stop(&self.bytes[self.at..], AlsoStop::Control)?;
        if self.bytes[stop] != b'"' {
            return None;
        }
        self.at = stop + 1;
        Some(&self.bytes[start..stop])
    }

    /// Past one string (the opening quote at `at`), escapes checked.
    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            self.at += string_stop(&self.bytes[self.at..], AlsoStop::Control)?;
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = self.bytes.get(self.at..self.at + 4)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        let digits = std::str::from_utf8(hex).ok()?;
                        let unit = u16::from_str_radix(digits, 16).ok()?;
                        if (0xD800..0xE000).contains(&unit) {
                            return None;
                        }
                        self.at += 4;
                    }
                    _ => return None,
                },
                // A control character.
                _ => return None,
            }
        }
    }

    /// Past one value of any kind, validated; `depth` is the nesting it starts at.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' if self.after_line_break() => None,
            b'{' | b'[' => self.skip_container(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// Whether the byte before `at` is a line break: the framer's scan cuts a record at a
    /// `{` there (inside an object), so the reader declines it everywhere.
    fn after_line_break(&self) -> bool {
        self.at > 0 && self.bytes[self.at - 1] == b'\n'
    }

    fn skip_container(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let close = if self.next()? == b'{' { b'}' } else { b']' };
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(());
        }
        loop {
            if close == b'}' {
                self.skip_string()?;
                self.skip_whitespace();
                self.expect(b':')?;
                self.skip_whitespace();
            }
            self.skip_value(depth)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                byte if byte == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.bytes[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(0)?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits(1)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits(1)?;
        }
        Some(())
    }

    /// Past a run of digits; `None` if it is shorter than `at_least`.
    fn digits(&mut self, at_least: usize) -> Option<()> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at - start >= at_least).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_an_envelope() {
        let text = r#" {"version":"0","id":"a-1","detail-type":"prod","source":"s","account":"1",
            "time":"2026-11-20T10:00:00Z","region":"r","resources":["c1", "c2"],
            "detail":{"eventType":"x","n":[1,-2.5e3,true,null,{"k":"\u00e9\n"}]}} "#;
        let fields = read(text).expect("read");
        assert_eq!(fields.id.as_deref(), Some("a-1"));
        assert_eq!(fields.time.as_deref(), Some("2026-11-20T10:00:00Z"));
        assert_eq!(
            fields.resources,
            Some(vec![Cow::Borrowed("c1"), Cow::Borrowed("c2")])
        );
        assert_eq!(
            fields.detail,
            Some(r#"{"eventType":"x","n":[1,-2.5e3,true,null,{"k":"\u00e9\n"}]}"#)
        );
    }

    #[test]
    fn declines_what_it_does_not_read_itself() {
        for text in [
            r#"{"id":"a\"b"}"#,
            r#"{"id":1}"#,
            r#"{"id":"a","id":"b"}"#,
            r#"{"errorCode":"a","ErrorCode":"b"}"#,
            r#"{"i\u0064":"a"}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":01}"#,
            r#"{"x":1.}"#,
            r#"{"x":"tab	here"}"#,
            r#"{"resources":["a",null]}"#,
            r#"{"a":1}x"#,
            r#"{"a":1,}"#,
            r#"["a"]"#,
            r#"{"a":"#,
        ] {
            assert_eq!(read(text), None, "{text}");
        }
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(read(&format!(r#"{{"x":{deep}}}"#)), None);
    }

    /// Pieces of JSON, valid and not, for the property below to join.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("{"),
            Just("}"),
            Just("["),
            Just("]"),
            Just(","),
            Just(":"),
            Just(" "),
            Just("\n"),
            Just("\""),
            Just("\\"),
            Just("\\u00e9"),
            Just("\\ud83d\\ude00"),
            Just("\\ud800"),
            Just("\\x"),
            Just("\t"),
            Just("1"),
            Just("0"),
            Just("-"),
            Just("."),
            Just("e"),
            Just("+"),
            Just("true"),
            Just("nul"),
            Just("null"),
            Just("é"),
            Just("\"id\":"),
            Just("\"detail\":"),
            Just("\"resources\":"),
            Just("\"time\":"),
            Just("\"errorCode\":"),
            Just("\"ErrorCode\":"),
            Just("\"rawData\":"),
            Just("\"x\""),
            Just("\"a-1\""),
            Just("[\"c\"]"),
            Just("{\"k\":[1,2.5e-3]}"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Whatever the text: when the fast reader accepts it, serde accepts it with the same
        /// fields (when it declines, serde decides).
        #[test]
        fn what_it_reads_serde_reads_alike(pieces in prop::collection::vec(piece(), 0..24)) {
            let text = format!("{{{}", pieces.concat());
            if let Some(fields) = read(&text) {
                let by_serde = crate::record::envelope_by_serde(&text).ok();
                crate::record::check_detail_values(&fields);
                let fields = EnvelopeFields { detail_values: None, ..fields };
                prop_assert_eq!(Some(fields), by_serde, "{}", text);
            }
        }
    }
}
