//! Framing never loses or duplicates a byte range, whatever the chunking: the frames of the
//! whole input equal those of the input fed in chunks, lie in order without overlap, hold the
//! input's bytes at their offsets, and leave out only separators.
#![no_main]

use eventlake_core::framing::{is_separator_gap, FrameKind, Framer};
use libfuzzer_sys::fuzz_target;

fn frames(input: &[u8], chunk: usize) -> Vec<(u64, FrameKind, Vec<u8>)> {
    let mut framer = Framer::new(1 << 20);
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

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let whole = frames(input, input.len());
    assert_eq!(frames(input, usize::from(chunk % 64) + 1), whole);
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
