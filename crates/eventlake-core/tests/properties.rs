//! Properties of the parsing core, checked on generated input (proptest chooses the cases and
//! prints a failing one shrunk, with its seed in `proptest-regressions/`):
//!
//! - framing never loses or duplicates a byte range, whatever the chunking;
//! - every record parses to an event or an error, never a panic;
//! - the sample's transform gives the same event on its fast path as on a whole record, and
//!   `undo` gives back what the client sent;
//! - a safe partition value is one safe path segment, and distinct values stay distinct;
//! - dates are written as chrono writes them, and a written time parses back.
//!
//! The fuzz targets in `fuzz/` check the same properties with coverage guidance.

use eventlake_core::framing::{is_separator_gap, FrameKind, Framer};
use eventlake_core::partition::{encoded_cost, safe_value, PartitionTemplate, DEFAULT_PREFIX};
use eventlake_core::record::{parse_record, parse_record_prefix, Parsed};
use eventlake_core::time::{parse_time, CivilTime};
use eventlake_core::transform::{ClientFields, Operation, Preset, Transform};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// (offset, kind, bytes) of every frame, feeding `input` `chunk` bytes at a time.
fn frames(input: &[u8], chunk: usize, max_record_bytes: usize) -> Vec<(u64, FrameKind, Vec<u8>)> {
    let mut framer = Framer::new(max_record_bytes);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        framer.compact();
        framer.buffer_mut().extend_from_slice(piece);
        while let Some(frame) = framer.next_frame() {
            out.push((frame.offset, frame.kind, frame.bytes.to_vec()));
        }
    }
    framer.compact();
    framer.finish();
    while let Some(frame) = framer.next_frame() {
        out.push((frame.offset, frame.kind, frame.bytes.to_vec()));
    }
    out
}

/// Pieces that make framing hard: records, halves of records, strings with braces and escapes,
/// junk, separators, multi-byte and invalid UTF-8.
fn framing_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"id":"a","detail":{"x":[1,{"y":"}"}]}}"#.to_vec()),
        Just(br#"{"s":"a\"b\\","t":"{\n"}"#.to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b" ".to_vec()),
        Just(b"[".to_vec()),
        Just(b"],".to_vec()),
        Just(b"}{".to_vec()),
        Just(b"junk".to_vec()),
        Just("é€😀".as_bytes().to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xFF, 0xC3]),
        Just(vec![0]),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

fn framing_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(framing_piece(), 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn framing_neither_loses_nor_duplicates_a_byte(input in framing_input(), chunk in 1usize..70) {
        let whole = frames(&input, input.len().max(1), 1 << 20);
        prop_assert_eq!(&frames(&input, chunk, 1 << 20), &whole, "chunking changed the frames");
        let mut covered = 0usize;
        let mut previous = None;
        for (offset, kind, bytes) in &whole {
            let offset = *offset as usize;
            prop_assert!(offset >= covered, "frames overlap at {}", offset);
            prop_assert!(!bytes.is_empty(), "empty frame at {}", offset);
            prop_assert_eq!(&input[offset..offset + bytes.len()], &bytes[..]);
            // What lies between frames is only separators.
            prop_assert!(is_separator_gap(&input, covered, offset, previous),
                "bytes {:?} at {} are in no frame", String::from_utf8_lossy(&input[covered..offset]), covered);
            previous = Some(*kind);
            covered = offset + bytes.len();
        }
        prop_assert!(is_separator_gap(&input, covered, input.len(), previous),
            "trailing bytes {:?} are in no frame", String::from_utf8_lossy(&input[covered..]));
    }

    #[test]
    fn oversized_records_keep_memory_and_frames_bounded(input in framing_input(), chunk in 1usize..70, max in 16usize..64) {
        for (offset, kind, bytes) in frames(&input, chunk, max) {
            prop_assert!(bytes.len() <= max, "a {:?} frame at {} holds {} bytes", kind, offset, bytes.len());
        }
    }
}

/// The frames a compaction worker takes: a record the one-pass reader reads where
/// [`Framer::peek_record`] shows one, else the scan's frame.
fn frames_reading_records(
    input: &[u8],
    chunk: usize,
    max: usize,
) -> Vec<(u64, FrameKind, Vec<u8>)> {
    let transform = Transform::sample();
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    let drain = |framer: &mut Framer, out: &mut Vec<_>| loop {
        if let Some((offset, window)) = framer.peek_record() {
            if let Some((len, _)) = parse_record_prefix(window, &transform) {
                out.push((offset, FrameKind::Record, window[..len].to_vec()));
                framer.consume(len);
                continue;
            }
        }
        let Some(frame) = framer.next_frame() else {
            break;
        };
        out.push((frame.offset, frame.kind, frame.bytes.to_vec()));
    };
    for piece in input.chunks(chunk.max(1)) {
        framer.compact();
        framer.buffer_mut().extend_from_slice(piece);
        drain(&mut framer, &mut out);
    }
    framer.compact();
    framer.finish();
    drain(&mut framer, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Records framed by the reader are the frames the scan finds: over records that parse
    /// (one a line, run together, spaced, CRLF, nested, with `\n{` inside) among every piece
    /// that makes framing hard, in any chunking and under any record limit.
    #[test]
    fn records_the_reader_frames_are_the_frames_the_scan_finds(
        pieces in prop::collection::vec(prop_oneof![
            2 => framing_piece(),
            2 => Just(br#"{"id":"a","time":"2026-11-20T10:00:00Z","detail":{"eventType":"x"}}"#.to_vec()),
            1 => Just(br#"{ "id" : "b\u0041", "time":"2026-11-20T10:00:00Z","detail":{"k":[1,{"}":"{"}]}} "#.to_vec()),
            1 => Just(b"{\"id\":\"c\",\"time\":\"2026-11-20T10:00:00Z\",\"detail\":\n{\"a\":\n{}}}".to_vec()),
            1 => Just(br#"{"id":"c","time":"2026-11-20T10:00:00Z","detail":{}}"#.to_vec()),
            2 => Just(b"\n".to_vec()),
            1 => Just(b",".to_vec()),
        ], 0..30),
        chunk in 1usize..90,
        max in prop_oneof![Just(1usize << 20), 16usize..120],
    ) {
        let input = pieces.concat();
        let by_scan = frames(&input, chunk, max);
        prop_assert_eq!(frames_reading_records(&input, chunk, max), by_scan, "{:?}", String::from_utf8_lossy(&input));
    }
}

/// A JSON value of an odd type for a field that wants a string.
fn odd_json() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("0".to_owned()),
        Just("-1e400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just(r#""""#.to_owned()),
        Just(r#""\ud800""#.to_owned()),
        Just(r#""\udc00\ud800""#.to_owned()),
        Just(r#""a\u0000b""#.to_owned()),
        Just(format!("\"{}\"", "x".repeat(70_000))),
        Just(r#""9999-12-31T23:59:59.999999Z""#.to_owned()),
        Just(r#""0000-01-01T00:00:00Z""#.to_owned()),
        Just(r#""+275760-09-13T00:00:00Z""#.to_owned()),
        Just(r#""2026-02-30T00:00:00Z""#.to_owned()),
        Just(r#""2026-11-20T13:00:00+25:00""#.to_owned()),
        "\"[a-z0-9 ./\\\\-]{0,12}\"".prop_map(|text| text),
    ]
}

/// Envelopes with every field possibly odd, duplicated, missing, or followed by junk.
fn hostile_envelope() -> impl Strategy<Value = Vec<u8>> {
    let field = |name: &'static str, good: &'static str| {
        prop_oneof![
            3 => Just(Some(format!("\"{name}\":{good}"))),
            1 => odd_json().prop_map(move |value| Some(format!("\"{name}\":{value}"))),
            1 => Just(None),
        ]
    };
    (
        field("id", r#""6f1c2a4e-0000-4000-8000-000000000001""#),
        field("time", r#""2026-11-20T13:00:00Z""#),
        field("detail-type", r#""prod""#),
        field("resources", r#"["c-1"]"#),
        prop_oneof![
            3 => Just(Some(r#""detail":{"eventType":"searching","schemaVersion":1}"#.to_owned())),
            1 => odd_json().prop_map(|value| Some(format!("\"detail\":{{\"eventType\":{value},\"schemaVersion\":{value}}}"))),
            1 => odd_json().prop_map(|value| Some(format!("\"detail\":{value}"))),
            1 => Just(None),
        ],
        0usize..3,
        prop::collection::vec("[a-z]{1,4}", 0..30),
        prop_oneof![Just(""), Just("junk"), Just("}"), Just("{"), Just("\u{0}")],
    )
        .prop_map(|(id, time, detail_type, resources, detail, repeats, extra_keys, junk)| {
            let mut fields: Vec<String> = [id, time, detail_type, resources, detail]
                .into_iter()
                .flatten()
                .collect();
            // Duplicate keys, and very many keys.
            for _ in 0..repeats {
                if let Some(first) = fields.first().cloned() {
                    fields.push(first);
                }
            }
            fields.extend(extra_keys.iter().map(|key| format!("\"{key}\":1")));
            format!("{{{}}}{junk}", fields.join(",")).into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn every_record_parses_to_an_event_or_an_error(record in prop_oneof![hostile_envelope(), prop::collection::vec(any::<u8>(), 0..64)]) {
        let declarative = Transform::new(
            Preset::ClientEventSample,
            &[Operation::Move { from: "detail.x".into(), to: "detail.y.z".into() }],
        ).unwrap();
        let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
        for transform in [Transform::sample(), Transform::none(), declarative] {
            let mut scratch = String::new();
            match parse_record(&record, &transform, &mut scratch) {
                Ok(Parsed::Event(mut event)) => {
                    prop_assert!(!event.id.is_empty());
                    prop_assert!(event.detail.text().starts_with('{'), "detail {:?}", event.detail);
                    template.make_typed_values_safe(&mut event);
                    if let Some(event_type) = &event.event_type {
                        prop_assert!(encoded_cost(event_type) <= 255);
                    }
                }
                Ok(Parsed::Firehose(_)) => {}
                Err(error) => prop_assert!(!error.message.is_empty()),
            }
        }
    }
}

/// Percent-encodes as Delta does for a partition value, then as object_store does for a path
/// part: the longest a value's segment can get in a key.
fn encoded_in_key(value: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const DELTA: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'!')
        .add(b'"')
        .add(b'#')
        .add(b'$')
        .add(b'%')
        .add(b'&')
        .add(b'\'')
        .add(b'(')
        .add(b')')
        .add(b'*')
        .add(b'+')
        .add(b',')
        .add(b'/')
        .add(b':')
        .add(b';')
        .add(b'<')
        .add(b'=')
        .add(b'>')
        .add(b'?')
        .add(b'@')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    const OBJECT_STORE: &AsciiSet = &CONTROLS
        .add(b'/')
        .add(b'\\')
        .add(b'{')
        .add(b'^')
        .add(b'}')
        .add(b'%')
        .add(b'`')
        .add(b']')
        .add(b'"')
        .add(b'>')
        .add(b'[')
        .add(b'~')
        .add(b'<')
        .add(b'#')
        .add(b'|')
        .add(b'\r')
        .add(b'\n')
        .add(b'*')
        .add(b'?');
    let delta = utf8_percent_encode(value, DELTA).to_string();
    utf8_percent_encode(&delta, OBJECT_STORE).to_string()
}

fn partition_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("__HIVE_DEFAULT_PARTITION__".to_owned()),
        "[a-z/%.~\\n]{0,300}",
        "[é€😀]{0,200}",
        // Values that look like a respelled one.
        "[a-z]{0,5}~[0-9a-f]{16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn a_safe_value_is_one_safe_path_segment(value in partition_value(), budget in 29usize..250) {
        let safe = safe_value(&value, budget);
        prop_assert!(encoded_cost(&safe) <= budget, "{:?} costs {}", safe, encoded_cost(&safe));
        prop_assert!(encoded_in_key(&safe).len() <= budget, "{:?} encodes to {}", safe, encoded_in_key(&safe));
        prop_assert!(!safe.is_empty() && safe != "." && safe != "..");
        prop_assert!(safe != "__HIVE_DEFAULT_PARTITION__");
        prop_assert!(!safe.chars().any(char::is_control));
        prop_assert!(!encoded_in_key(&safe).contains('/'));
        prop_assert_eq!(&safe, &safe_value(&value, budget), "the spelling is stable");
    }

    #[test]
    fn distinct_values_stay_distinct(first in partition_value(), second in partition_value(), common in "[a-z]{0,300}", budget in 29usize..250) {
        for (a, b) in [(first.clone(), second.clone()), (format!("{common}{first}"), format!("{common}{second}"))] {
            if a != b {
                prop_assert_ne!(safe_value(&a, budget), safe_value(&b, budget));
            }
        }
    }
}

/// A JSON value a client may put in `detail`: escapes, non-ASCII, numbers, nesting.
fn detail_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::from),
        "[a-z\"\\\n/é😀]{0,8}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    })
}

/// A detail object, without `accountNumber` (the member the transform fills).
fn client_detail() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map("[a-zA-Z]{1,8}", detail_value(), 0..8).prop_map(|detail| {
        let mut detail: serde_json::Map<String, Value> = detail.into_iter().collect();
        detail.remove("accountNumber");
        detail
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// The fast path (borrowed fields, one string insertion) against the plain one (the whole
    /// record parsed, changed and written again): the same event from the same record.
    #[test]
    fn the_fast_transform_agrees_with_the_whole_record_one(
        detail in client_detail(),
        resources in prop::collection::vec("[a-z0-9-]{0,6}|.{0,4}|a[\"\\\\\\x00-\\x1f]{1,3}", 0..3),
        account_number in prop::option::of("[a-z0-9-]{0,6}"),
        detail_is_object in prop::bool::weighted(0.9),
    ) {
        let mut detail = Value::Object(detail);
        if let Some(account_number) = &account_number {
            detail["accountNumber"] = Value::from(account_number.as_str());
        }
        if !detail_is_object {
            detail = json!([detail]);
        }
        let record = json!({
            "id": "e-1",
            "time": "2026-11-20T13:00:00Z",
            "resources": resources,
            "detail": detail,
        })
        .to_string();
        // An operation that matches nothing sends the record down the whole-record path.
        let whole_record = Transform::new(
            Preset::ClientEventSample,
            &[Operation::Drop { path: "detail.absent.member".into() }],
        )
        .unwrap();
        let (mut fast_scratch, mut whole_scratch) = (String::new(), String::new());
        let fast = parse_record(record.as_bytes(), &Transform::sample(), &mut fast_scratch);
        let whole = parse_record(record.as_bytes(), &whole_record, &mut whole_scratch);
        match (fast, whole) {
            (Ok(Parsed::Event(fast)), Ok(Parsed::Event(whole))) => {
                prop_assert_eq!(&fast.client_id, &whole.client_id);
                prop_assert_eq!(&fast.resources, &whole.resources);
                prop_assert!(fast.resources.is_empty());
                let fast_detail: Value = serde_json::from_str(&fast.detail.text()).unwrap();
                let whole_detail: Value = serde_json::from_str(&whole.detail.text()).unwrap();
                prop_assert_eq!(fast_detail, whole_detail);
            }
            (Err(fast), Err(whole)) => prop_assert_eq!(fast.code, whole.code),
            (fast, whole) => {
                return Err(TestCaseError::fail(format!(
                    "{record}: the fast path gave {:?}, the whole record {:?}",
                    fast.as_ref().map(|_| ()).map_err(|error| &error.message),
                    whole.as_ref().map(|_| ()).map_err(|error| &error.message),
                )));
            }
        }
    }

    /// `apply` then `undo` gives back what the client sent: the same detail and
    /// `resources: [client id]`.
    #[test]
    fn undo_reverses_apply(detail in client_detail(), client_id in any::<String>()) {
        let detail_text = Value::Object(detail.clone()).to_string();
        let mut fields = ClientFields {
            resources: vec![client_id.as_str().into()],
            account_number: None,
            detail: detail_text.as_str().into(),
        };
        Transform::sample().apply(&mut fields).unwrap();
        prop_assert!(fields.resources.is_empty());
        prop_assert_eq!(fields.account_number.as_deref(), Some(client_id.as_str()));

        let applied = fields.detail.text();
        let mut members: Vec<(String, &RawValue)> =
            serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(&applied)
                .unwrap()
                .into_iter()
                .collect();
        let mut resources = Vec::new();
        Transform::sample().undo(&mut members, &mut resources);
        prop_assert_eq!(resources, vec![client_id.clone()]);
        let undone: serde_json::Map<String, Value> = members
            .into_iter()
            .map(|(key, value)| (key, serde_json::from_str(value.get()).unwrap()))
            .collect();
        prop_assert_eq!(undone, detail);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// Every time from year 0 to 9999, against chrono (the general, obviously right one).
    #[test]
    fn times_are_written_as_chrono_writes_them(micros in -62_167_219_200_000_000i64..253_402_300_800_000_000) {
        let chrono = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        let time = CivilTime::from_micros(micros);
        prop_assert_eq!(time.rfc3339(), chrono.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        prop_assert_eq!(time.date(), chrono.format("%Y-%m-%d").to_string());
        prop_assert_eq!(time.date_hour(), chrono.format("%Y-%m-%d %H:00").to_string());
        prop_assert_eq!(time.hour_path(), chrono.format("%Y/%m/%d/%H").to_string());
        prop_assert_eq!(time.object_name_stamp(), chrono.format("%Y-%m-%d-%H-%M-%S").to_string());
        prop_assert_eq!(time.day_of_year(), i64::from(chrono::Datelike::ordinal(&chrono)));
        prop_assert_eq!(parse_time(&time.rfc3339()), Ok(micros.div_euclid(1_000_000) * 1_000_000));
    }
}
