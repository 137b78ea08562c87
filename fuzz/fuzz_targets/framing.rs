//! Framing never loses or duplicates a byte range, whatever the chunking: the frames of the
//! whole input equal those of the input fed in chunks, lie in order without overlap, hold the
//! input's bytes at their offsets, and leave out only separators; and a compaction worker's
//! frames (records the one-pass reader reads framed by it, the rest by the scan) are the same.
#![no_main]

use eventlake_core::framing::{is_separator_gap, FrameKind, Framer};
use eventlake_core::record::parse_record_prefix;
use eventlake_core::transform::Transform;
use libfuzzer_sys::fuzz_target;

/// The frames of `input` fed `chunk` bytes at a time; `reading`: as a compaction worker takes
/// them, a record the one-pass reader reads framed by it.
fn frames(input: &[u8], chunk: usize, reading: bool) -> Vec<(u64, FrameKind, Vec<u8>)> {
    let transform = Transform::sample();
    let mut framer = Framer::new(1 << 20);
    let mut out = Vec::new();
    let drain = |framer: &mut Framer, out: &mut Vec<_>| loop {
        if reading {
            if let Some((offset, window)) = framer.peek_record() {
                if let Some((len, _)) = parse_record_prefix(window, &transform) {
                    out.push((offset, FrameKind::Record, window[..len].to_vec()));
                    framer.consume(len);
                    continue;
                }
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

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let whole = frames(input, input.len(), false);
    let chunk = usize::from(chunk % 64) + 1;
    assert_eq!(frames(input, chunk, false), whole);
    assert_eq!(frames(input, chunk, true), whole);
    let mut covered = 0usize;
    let mut previous = None;
    for (offset, kind, bytes) in &whole {
        let offset = *offset as usize;
        assert!(offset >= covered && !bytes.is_empty());
        assert_eq!(&input[offset..offset + bytes.len()], &bytes[..]);
        assert!(
            is_separator_gap(input, covered, offset, previous),
            "bytes {covered}..{offset} are in no frame"
        );
        previous = Some(*kind);
        covered = offset + bytes.len();
    }
    assert!(
        is_separator_gap(input, covered, input.len(), previous),
        "bytes {covered}.. are in no frame"
    );
});
