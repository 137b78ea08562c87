//! Splits a decompressed byte stream into raw records.
//!
//! Firehose objects hold JSON records as NDJSON, run together with no separator (`{…}{…}`, what the
//! sample's transform Lambda writes), or a mix of both. The framer finds each top-level `{…}` by
//! brace matching outside strings, and never lets one broken record hide its neighbours:
//!
//! - a newline inside a string, or `\n{` / `}{` inside an unfinished object, ends the broken
//!   record there (neither can occur inside one valid compact record);
//! - a string or an array where a record should be is one bad record (to its closing `"` or `]`,
//!   or its line's end); other bytes that do not start with `{` are junk up to the end of their
//!   line or the next `{`, reported as one bad record;
//! - a record longer than `max_record_bytes` is reported with its first bytes and skipped up to the
//!   next record start, so memory stays bounded whatever the input.
//!
//! Guarantee: every input byte is in exactly one frame, good or bad, except separators: JSON
//! whitespace, a byte order mark at the start, one `,` after a frame (as a Lambda joins records),
//! and the `[` … `]` of an array wrapping records (a `[` whose next non-blank byte is `{`). Bytes
//! past an oversized record's kept head belong to that record's error.

use crate::scan::{string_stop, AlsoStop};

/// What the framer found at one place in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A balanced `{…}`: still to be parsed.
    Record,
    /// Bytes that cannot be a record (junk, or an object cut short).
    Broken(BrokenKind),
    /// A record over the size limit; only its head is in the frame.
    Oversized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenKind {
    /// Text that does not start with `{`.
    NotAnObject,
    /// An object that never closed (cut at a line break, a new record, or the end of the object).
    Truncated,
}

/// One frame: where it starts in the whole object and its bytes (borrowed from the window).
#[derive(Debug)]
pub struct Frame<'a> {
    pub offset: u64,
    pub kind: FrameKind,
    pub bytes: &'a [u8],
}

/// Incremental framer over a window of bytes that the caller refills.
///
/// Usage: append bytes with [`Framer::buffer_mut`], call [`Framer::next_frame`] until it returns
/// `None`, then [`Framer::compact`] and refill; at the end call `finish()` and drain again.
pub struct Framer {
    window: Vec<u8>,
    /// Position of the first unconsumed byte in `window`.
    start: usize,
    /// Offset in the whole object of `window[0]`.
    window_offset: u64,
    eof: bool,
    max_record_bytes: usize,
    /// True while skipping the tail of an oversized record.
    skipping: bool,
    /// Bytes of an oversized record's head kept for the error table.
    head_bytes: usize,
    /// A frame ended and no `,` has followed it yet.
    after_frame: bool,
    /// Inside an array wrapping records: a `]` closes it.
    in_array: bool,
}

/// How many bytes of an oversized record are kept for the error table.
pub const OVERSIZED_HEAD_BYTES: usize = 64 * 1024;

impl Framer {
    pub fn new(max_record_bytes: usize) -> Self {
        Self::with_window(max_record_bytes, 1 << 20)
    }

    /// A framer whose window starts with room for `window_bytes` (it grows as needed): a
    /// small input needs no megabyte.
    pub fn with_window(max_record_bytes: usize, window_bytes: usize) -> Self {
        Self {
            window: Vec::with_capacity(window_bytes),
            ..Self::new_empty(max_record_bytes)
        }
    }

    /// Starts over on a new input (offsets from 0), keeping the window's allocation: one framer
    /// serves many small inputs, such as the records of a stream.
    pub fn reset(&mut self) {
        let mut window = std::mem::take(&mut self.window);
        window.clear();
        *self = Self {
            window,
            ..Self::new_empty(self.max_record_bytes)
        };
    }

    fn new_empty(max_record_bytes: usize) -> Self {
        Self {
            window: Vec::new(),
            start: 0,
            window_offset: 0,
            eof: false,
            max_record_bytes: max_record_bytes.max(16),
            skipping: false,
            head_bytes: OVERSIZED_HEAD_BYTES.min(max_record_bytes.max(16)),
            after_frame: false,
            in_array: false,
        }
    }

    /// Drops consumed bytes so the window only holds the unfinished tail.
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.window.drain(..self.start);
            self.window_offset += self.start as u64;
            self.start = 0;
        }
    }

    /// The buffer to append newly read bytes to (call [`Framer::compact`] first).
    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.window
    }

    /// No more input will come: the tail is framed as it stands.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// The window from the next record's `{` on (at most `max_record_bytes` of it), with its
    /// offset, for a reader that finds where a valid record ends and so frames it without the
    /// brace scan ([`crate::record::parse_record_prefix`]); it then [`Framer::consume`]s the
    /// record. `None`, or a record the reader declines: [`Framer::next_frame`] frames it.
    pub fn peek_record(&mut self) -> Option<(u64, &[u8])> {
        if self.skipping || self.in_array {
            return None;
        }
        self.skip_separators()?;
        let rest = &self.window[self.start..];
        if rest.first() != Some(&b'{') {
            return None;
        }
        let offset = self.window_offset + self.start as u64;
        Some((offset, &rest[..rest.len().min(self.max_record_bytes)]))
    }

    /// Takes the `len` bytes [`Framer::peek_record`] showed, a record the reader read whole,
    /// as the frame the scan would have found.
    pub fn consume(&mut self, len: usize) {
        self.start += len;
        self.after_frame = true;
    }

    /// Moves `start` past the separators before the next frame; `None` when more input must
    /// come first.
    fn skip_separators(&mut self) -> Option<()> {
        let window = &self.window;
        let mut pos = self.start;
        // A UTF-8 byte order mark at the start of an object is not data.
        if self.window_offset + pos as u64 == 0 && window.starts_with(&[0xEF, 0xBB, 0xBF]) {
            pos += 3;
        }
        // Skip separators between records.
        loop {
            match window.get(pos) {
                Some(byte) if is_json_whitespace(*byte) => {}
                Some(b',') if self.after_frame => self.after_frame = false,
                Some(b']') if self.in_array => {
                    self.in_array = false;
                    self.after_frame = true;
                }
                Some(b'[') if !self.in_array => {
                    match window[pos + 1..].iter().find(|&&b| !is_json_whitespace(b)) {
                        Some(b'{') => {
                            self.in_array = true;
                            self.after_frame = false;
                        }
                        Some(_) => break,
                        None if self.eof => break,
                        None => {
                            self.start = pos;
                            return None;
                        }
                    }
                }
                _ => break,
            }
            pos += 1;
        }
        self.start = pos;
        Some(())
    }

    /// The next complete frame, or `None` when more input is needed (or, after `finish`, the end).
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.skipping {
            // Discard an oversized record's tail up to the next record start.
            let rest = &self.window[self.start..];
            match find_record_start(rest) {
                Some(pos) => {
                    self.start += pos;
                    self.skipping = false;
                }
                None if self.eof => {
                    self.start = self.window.len();
                    self.skipping = false;
                    return None;
                }
                None => {
                    // Keep the last byte: it may be the `}` or `\n` of a boundary split across reads.
                    self.start += rest.len().saturating_sub(1);
                    return None;
                }
            }
        }
        self.skip_separators()?;
        let window = &self.window;
        let pos = self.start;
        if pos >= window.len() {
            return None;
        }
        let rest = &window[pos..];
        let offset = self.window_offset + pos as u64;
        if rest[0] != b'{' {
            let end = match junk_end(rest) {
                Some(end) => end,
                None if self.eof => rest.len(),
                None if rest.len() > self.max_record_bytes => rest.len(),
                None => return None,
            };
            let end = end.min(self.max_record_bytes);
            self.start = pos + end;
            self.after_frame = true;
            return Some(Frame {
                offset,
                kind: FrameKind::Broken(BrokenKind::NotAnObject),
                bytes: trim_end(&self.window[pos..pos + end]),
            });
        }
        self.after_frame = true;
        match scan_object(rest, self.max_record_bytes) {
            Scan::Complete(len) => {
                self.start = pos + len;
                Some(Frame {
                    offset,
                    kind: FrameKind::Record,
                    bytes: &self.window[pos..pos + len],
                })
            }
            Scan::Broken(len) => {
                self.start = pos + len;
                Some(Frame {
                    offset,
                    kind: FrameKind::Broken(BrokenKind::Truncated),
                    bytes: trim_end(&self.window[pos..pos + len]),
                })
            }
            Scan::TooLong => {
                let head = self.head_bytes.min(rest.len());
                self.skipping = true;
                self.start = pos + head;
                Some(Frame {
                    offset,
                    kind: FrameKind::Oversized,
                    bytes: &self.window[pos..pos + head],
                })
            }
            Scan::NeedMore if self.eof => {
                let len = rest.len();
                self.start = pos + len;
                Some(Frame {
                    offset,
                    kind: FrameKind::Broken(BrokenKind::Truncated),
                    bytes: trim_end(&self.window[pos..pos + len]),
                })
            }
            Scan::NeedMore => None,
        }
    }
}

/// The whitespace JSON allows between values (RFC 8259); nothing else is a blank.
pub fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

/// The framing contract, for the property test and the fuzz target (the framer does not use it):
/// whether `input[from..to]`, the bytes between two frames (`previous` the kind of the first,
/// `None` at the object's start), are separators and nothing else: JSON whitespace, a byte order
/// mark at the start, one `,` after a frame, and the brackets of an array wrapping records
/// (`[` only right before a record). After an oversized record its skipped tail is its own.
pub fn is_separator_gap(input: &[u8], from: usize, to: usize, previous: Option<FrameKind>) -> bool {
    if previous == Some(FrameKind::Oversized) {
        return true;
    }
    let mut gap = &input[from..to];
    if from == 0 && gap.starts_with(&[0xEF, 0xBB, 0xBF]) {
        gap = &gap[3..];
    }
    let marks: Vec<u8> = gap
        .iter()
        .copied()
        .filter(|b| !is_json_whitespace(*b))
        .collect();
    let shape_ok = match marks.as_slice() {
        [] | [b']'] | [b'['] | [b']', b'['] | [b']', b','] | [b']', b',', b'['] => true,
        [b',', rest @ ..] => {
            previous.is_some()
                && matches!(
                    rest,
                    [] | [b']'] | [b'['] | [b']', b'['] | [b']', b','] | [b']', b',', b'[']
                )
        }
        _ => false,
    };
    // A `[` opens a wrapper only right before a record.
    shape_ok && (!marks.ends_with(b"[") || input.get(to) == Some(&b'{'))
}

/// Where a bad record that does not start with `{` ends: a string at its closing quote, an
/// array at its closing bracket (strings and nesting honoured), other bytes at the line's end
/// or the next `{`; a string or array cut by a line break ends there. `None`: not in `bytes` yet.
fn junk_end(bytes: &[u8]) -> Option<usize> {
    match bytes[0] {
        b'"' | b'[' => {
            let mut depth = 0usize;
            let mut in_string = false;
            let mut index = 0;
            while index < bytes.len() {
                let byte = bytes[index];
                if byte == b'\n' {
                    return Some(index);
                }
                if in_string {
                    match byte {
                        // An escape never takes a line break into the string.
                        b'\\' if bytes.get(index + 1) != Some(&b'\n') => index += 1,
                        b'"' => {
                            in_string = false;
                            if depth == 0 {
                                return Some(index + 1);
                            }
                        }
                        _ => {}
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'[' => depth += 1,
                        b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Some(index + 1);
                            }
                        }
                        _ => {}
                    }
                }
                index += 1;
            }
            None
        }
        _ => bytes.iter().position(|&b| b == b'\n' || b == b'{'),
    }
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\r' | b'\n' | b' ' | b'\t') {
        end -= 1;
    }
    &bytes[..end]
}

/// Where the next record can start in the tail of an oversized record: after `}` + `{` or a newline + `{`.
fn find_record_start(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(2)
        .position(|pair| matches!(pair[0], b'}' | b'\n') && pair[1] == b'{')
        .map(|pos| pos + 1)
}

enum Scan {
    Complete(usize),
    /// The object cannot be valid: it ends before this length.
    Broken(usize),
    TooLong,
    NeedMore,
}

/// Matches braces from `bytes[0] == b'{'`, honouring strings and escapes, and cuts where a new
/// record must have begun: a `{` where JSON cannot have one (after a value inside an object, as
/// in `}{` or `"a": 1, {`), a line that starts with `{` inside an object, or a string that closed
/// on `{"` followed by a bare word (a record cut inside a string, then the next record).
fn scan_object(bytes: &[u8], max_len: usize) -> Scan {
    // Innermost containers, `{` or `[`; bounded by the record limit.
    let mut containers: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut last_significant = 0u8;
    let mut last_string_close = 0usize;
    let limit = bytes.len().min(max_len.saturating_add(1));
    let mut index = 0;
    while index < limit {
        if in_string {
            // Strings are most of a record's bytes: jump to the next byte that matters.
            let Some(offset) = string_stop(&bytes[index..limit], AlsoStop::Newline) else {
                break;
            };
            index += offset;
            match bytes[index] {
                // The escaped byte, whatever it is, is part of the string.
                b'\\' => index += 2,
                b'"' => {
                    in_string = false;
                    last_string_close = index;
                    index += 1;
                }
                // A raw newline cannot be inside a JSON string: the record was cut here.
                _ => return Scan::Broken(index),
            }
            continue;
        }
        let byte = bytes[index];
        match byte {
            b'"' => {
                in_string = true;
            }
            b'{' => {
                let legal = match containers.last() {
                    None => true,
                    Some(b'{') => {
                        last_significant == b':' && !(index > 0 && bytes[index - 1] == b'\n')
                    }
                    Some(_) => matches!(last_significant, b'[' | b','),
                };
                if !legal {
                    return Scan::Broken(index);
                }
                containers.push(b'{');
            }
            b'[' => containers.push(b'['),
            b'}' | b']' => {
                containers.pop();
                if containers.is_empty() {
                    return if index + 1 > max_len {
                        Scan::TooLong
                    } else {
                        Scan::Complete(index + 1)
                    };
                }
            }
            // `…"det{"version": …`: the string swallowed the next record's `{`.
            byte if byte.is_ascii_alphabetic()
                && last_significant == b'"'
                && last_string_close > 0
                && bytes[last_string_close - 1] == b'{' =>
            {
                return Scan::Broken(last_string_close - 1);
            }
            _ => {}
        }
        if !byte.is_ascii_whitespace() {
            last_significant = byte;
        }
        index += 1;
    }
    if bytes.len() > max_len {
        Scan::TooLong
    } else {
        Scan::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner as it was before strings were skipped with `memchr`: byte by byte, simple
    /// enough to be obviously right. The fast one must agree with it on every input.
    fn scan_object_reference(bytes: &[u8], max_len: usize) -> Scan {
        // Innermost containers, `{` or `[`; bounded by the record limit.
        let mut containers: Vec<u8> = Vec::new();
        let mut in_string = false;
        let mut escaped = false;
        let mut last_significant = 0u8;
        let mut last_string_close = 0usize;
        let limit = bytes.len().min(max_len.saturating_add(1));
        let mut index = 0;
        while index < limit {
            let byte = bytes[index];
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                    last_string_close = index;
                } else if byte == b'\n' {
                    // A raw newline cannot be inside a JSON string: the record was cut here.
                    return Scan::Broken(index);
                }
                index += 1;
                continue;
            }
            match byte {
                b'"' => {
                    in_string = true;
                }
                b'{' => {
                    let legal = match containers.last() {
                        None => true,
                        Some(b'{') => {
                            last_significant == b':' && !(index > 0 && bytes[index - 1] == b'\n')
                        }
                        Some(_) => matches!(last_significant, b'[' | b','),
                    };
                    if !legal {
                        return Scan::Broken(index);
                    }
                    containers.push(b'{');
                }
                b'[' => containers.push(b'['),
                b'}' | b']' => {
                    containers.pop();
                    if containers.is_empty() {
                        return if index + 1 > max_len {
                            Scan::TooLong
                        } else {
                            Scan::Complete(index + 1)
                        };
                    }
                }
                // `…"det{"version": …`: the string swallowed the next record's `{`.
                byte if byte.is_ascii_alphabetic()
                    && last_significant == b'"'
                    && last_string_close > 0
                    && bytes[last_string_close - 1] == b'{' =>
                {
                    return Scan::Broken(last_string_close - 1);
                }
                _ => {}
            }
            if !byte.is_ascii_whitespace() {
                last_significant = byte;
            }
            index += 1;
        }
        if bytes.len() > max_len {
            Scan::TooLong
        } else {
            Scan::NeedMore
        }
    }

    fn same_scan(fast: Scan, reference: Scan) -> bool {
        match (fast, reference) {
            (Scan::Complete(a), Scan::Complete(b)) | (Scan::Broken(a), Scan::Broken(b)) => a == b,
            (Scan::TooLong, Scan::TooLong) | (Scan::NeedMore, Scan::NeedMore) => true,
            _ => false,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
        #[test]
        fn the_fast_scanner_agrees_with_the_byte_by_byte_one(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(&b"{"[..]), proptest::strategy::Just(&b"}"[..]),
                proptest::strategy::Just(&b"["[..]), proptest::strategy::Just(&b"]"[..]),
                proptest::strategy::Just(&b"\""[..]), proptest::strategy::Just(&b"\\"[..]),
                proptest::strategy::Just(&b"\n"[..]), proptest::strategy::Just(&b":"[..]),
                proptest::strategy::Just(&b","[..]), proptest::strategy::Just(&b" "[..]),
                proptest::strategy::Just(&b"ab"[..]), proptest::strategy::Just(&b"1"[..]),
                proptest::strategy::Just(&b"{\"k\":\"v\"}"[..]),
            ], 0..60),
            max_len in 1usize..80,
        ) {
            let mut bytes = b"{".to_vec();
            for piece in pieces {
                bytes.extend_from_slice(piece);
            }
            for end in 1..=bytes.len() {
                let window = &bytes[..end];
                proptest::prop_assert!(same_scan(scan_object(window, max_len), scan_object_reference(window, max_len)),
                    "{:?} with max_len {}", String::from_utf8_lossy(window), max_len);
            }
        }
    }

    /// Frames `input` feeding it `chunk` bytes at a time; returns (offset, kind, text) triples.
    fn frame_all(input: &[u8], chunk: usize, max: usize) -> Vec<(u64, FrameKind, String)> {
        let mut framer = Framer::new(max);
        let mut frames = Vec::new();
        let mut fed = 0;
        loop {
            while let Some(frame) = framer.next_frame() {
                frames.push((
                    frame.offset,
                    frame.kind,
                    String::from_utf8_lossy(frame.bytes).into_owned(),
                ));
            }
            if fed >= input.len() {
                framer.finish();
                while let Some(frame) = framer.next_frame() {
                    frames.push((
                        frame.offset,
                        frame.kind,
                        String::from_utf8_lossy(frame.bytes).into_owned(),
                    ));
                }
                return frames;
            }
            framer.compact();
            let end = (fed + chunk).min(input.len());
            framer.buffer_mut().extend_from_slice(&input[fed..end]);
            fed = end;
        }
    }

    fn at_every_chunk_size(input: &[u8], max: usize) -> Vec<(u64, FrameKind, String)> {
        let expected = frame_all(input, input.len().max(1), max);
        for chunk in 1..=input.len().min(64) {
            assert_eq!(frame_all(input, chunk, max), expected, "chunk size {chunk}");
        }
        expected
    }

    #[test]
    fn ndjson_run_together_and_mixed_frame_alike_at_every_chunk_size() {
        let input = b"{\"a\": 1}\n{\"b\": \"}{\"}{\"c\":{\"d\":[1,2]}}\r\n\n{\"e\":\"\\\"\"}";
        let frames = at_every_chunk_size(input, 1 << 20);
        let texts: Vec<_> = frames.iter().map(|f| f.2.as_str()).collect();
        assert_eq!(
            texts,
            [
                "{\"a\": 1}",
                "{\"b\": \"}{\"}",
                "{\"c\":{\"d\":[1,2]}}",
                "{\"e\":\"\\\"\"}"
            ]
        );
        assert!(frames.iter().all(|f| f.1 == FrameKind::Record));
        assert_eq!(frames[1].0, 9);
    }

    #[test]
    fn truncated_record_does_not_hide_the_next_one() {
        let input = b"{\"id\":\"1\",\"detail\":{\"x\":1}{\"id\":\"2\"}\n{\"id\":\"3\",\"s\":\"cut\n{\"id\":\"4\"}";
        let frames = at_every_chunk_size(input, 1 << 20);
        let kinds: Vec<_> = frames.iter().map(|f| f.1).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::Broken(BrokenKind::Truncated),
                FrameKind::Record,
                FrameKind::Broken(BrokenKind::Truncated),
                FrameKind::Record
            ]
        );
        assert_eq!(frames[1].2, "{\"id\":\"2\"}");
        assert_eq!(frames[3].2, "{\"id\":\"4\"}");
    }

    #[test]
    fn records_cut_at_a_value_or_inside_a_string_do_not_hide_the_next_one() {
        let input = b"{\"a\": 1, {\"id\": \"2\"}{\"a\": \"x{\"id\": \"3\"}{\"l\": [{\"b\": 1}, {\"c\": {}}]}";
        let frames = at_every_chunk_size(input, 1 << 20);
        let texts: Vec<_> = frames.iter().map(|f| (f.1, f.2.as_str())).collect();
        assert_eq!(
            texts,
            [
                (FrameKind::Broken(BrokenKind::Truncated), "{\"a\": 1,"),
                (FrameKind::Record, "{\"id\": \"2\"}"),
                (FrameKind::Broken(BrokenKind::Truncated), "{\"a\": \"x"),
                (FrameKind::Record, "{\"id\": \"3\"}"),
                (FrameKind::Record, "{\"l\": [{\"b\": 1}, {\"c\": {}}]}"),
            ]
        );
    }

    #[test]
    fn pretty_printed_records_frame_whole() {
        let input = b"{\n  \"a\": [\n    {\"b\": 1},\n    {\"c\": 2}\n  ],\n  \"d\": {\n    \"e\": 3\n  }\n}\n{\"f\": 4}";
        let frames = at_every_chunk_size(input, 1 << 20);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(frames.iter().all(|f| f.1 == FrameKind::Record));
    }

    #[test]
    fn junk_lines_and_tail_are_reported() {
        let input = b"not json\n{\"a\":1}\nxx{\"b\":2}\n{\"c\":";
        let frames = at_every_chunk_size(input, 1 << 20);
        let kinds: Vec<_> = frames.iter().map(|f| f.1).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::Broken(BrokenKind::NotAnObject),
                FrameKind::Record,
                FrameKind::Broken(BrokenKind::NotAnObject),
                FrameKind::Record,
                FrameKind::Broken(BrokenKind::Truncated)
            ]
        );
        assert_eq!(frames[0].2, "not json");
        assert_eq!(frames[2].2, "xx");
    }

    #[test]
    fn oversized_record_is_reported_and_skipped_with_bounded_memory() {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(500));
        let input = format!("{{\"a\":1}}{big}{{\"b\":2}}\n");
        let frames = at_every_chunk_size(input.as_bytes(), 100);
        let kinds: Vec<_> = frames.iter().map(|f| f.1).collect();
        assert_eq!(kinds.len(), 3, "{frames:?}");
        assert!(kinds[1] == FrameKind::Oversized);
        assert_eq!(frames[2].2, "{\"b\":2}");
    }

    #[test]
    fn values_that_are_not_objects_are_one_error_each_with_all_their_bytes() {
        let input = b"\0\0\0\n[1,2,3]\n{\"a\":1}[1,2,3], \"str\",{\"b\":2}\n\x0c\n,,\n";
        let frames = at_every_chunk_size(input, 1 << 20);
        let texts: Vec<_> = frames.iter().map(|f| (f.1, f.2.as_str())).collect();
        let junk = FrameKind::Broken(BrokenKind::NotAnObject);
        assert_eq!(
            texts,
            [
                (junk, "\0\0\0"),
                (junk, "[1,2,3]"),
                (FrameKind::Record, "{\"a\":1}"),
                (junk, "[1,2,3]"),
                (junk, "\"str\""),
                (FrameKind::Record, "{\"b\":2}"),
                (junk, "\x0c"),
                (junk, ","),
            ]
        );
    }

    #[test]
    fn bom_and_array_wrapping_are_not_data() {
        let input = b"\xEF\xBB\xBF[{\"a\":1},\n{\"b\":2}]\n";
        let frames = at_every_chunk_size(input, 1 << 20);
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f.1 == FrameKind::Record));
    }
}
