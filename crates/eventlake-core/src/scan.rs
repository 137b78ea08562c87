//! The end of a JSON string's plain run: the first byte a string scan must look at. Shared by
//! the framer's brace scan and the envelope reader, which differ in their third stop byte.

/// What ends a plain run besides `"` and `\`.
#[derive(Clone, Copy)]
pub(crate) enum AlsoStop {
    /// A line break: the framer's scan cuts a record there.
    Newline,
    /// A control character (below 0x20): JSON forbids them in strings.
    Control,
}

/// The first byte of `bytes` that is `"`, `\` or `also`. Sixteen bytes a step with SSE2 (every
/// x86-64 CPU has it): large details' strings run to tens of bytes, and the eight-byte word
/// step that does the rest took a seventh of their compaction's samples.
#[inline]
pub(crate) fn string_stop(bytes: &[u8], also: AlsoStop) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        let at = sse2::plain_prefix(bytes, also);
        if at < (bytes.len() & !15) {
            return Some(at);
        }
        word_stop(&bytes[at..], also).map(|offset| at + offset)
    }
    #[cfg(not(target_arch = "x86_64"))]
    word_stop(bytes, also)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    use super::AlsoStop;

    /// Where the first stop lies if it is in one of `bytes`' whole 16-byte blocks, else the
    /// length of those blocks (the rest is for the caller).
    #[inline]
    pub(super) fn plain_prefix(bytes: &[u8], also: AlsoStop) -> usize {
        let blocks = bytes.len() & !15;
        let mut at = 0;
        while at < blocks {
            // SAFETY: `at + 16 <= bytes.len()`, and the load takes any alignment. SSE2 is part
            // of the x86-64 baseline, so its intrinsics exist on every CPU this code runs on.
            let stops = unsafe {
                let block = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
                let third = match also {
                    AlsoStop::Newline => _mm_cmpeq_epi8(block, _mm_set1_epi8(b'\n' as i8)),
                    // Unsigned `byte < 0x20`: the byte is its own minimum with 0x1f.
                    AlsoStop::Control => {
                        _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1f)), block)
                    }
                };
                let quote = _mm_cmpeq_epi8(block, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(block, _mm_set1_epi8(b'\\' as i8));
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), third)) as u32
            };
            if stops != 0 {
                return at + stops.trailing_zeros() as usize;
            }
            at += 16;
        }
        blocks
    }
}

/// [`string_stop`] eight bytes a step with word arithmetic, for short tails and other targets.
fn word_stop(bytes: &[u8], also: AlsoStop) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `word` that equals `byte`; the lowest one set is exact
    // (a borrow only runs towards higher bytes).
    let equal = |word: u64, byte: u8| {
        let diff = word ^ (ONES * byte as u64);
        diff.wrapping_sub(ONES) & !diff & HIGHS
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let third = match also {
            AlsoStop::Newline => equal(word, b'\n'),
            // Bytes below 0x20: as `equal`, against the whole range.
            AlsoStop::Control => word.wrapping_sub(ONES * 0x20) & !word & HIGHS,
        };
        let stops = equal(word, b'"') | equal(word, b'\\') | third;
        if stops != 0 {
            return Some(at + stops.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| is_stop(byte, also))
        .map(|offset| at + offset)
}

fn is_stop(byte: u8, also: AlsoStop) -> bool {
    byte == b'"'
        || byte == b'\\'
        || match also {
            AlsoStop::Newline => byte == b'\n',
            AlsoStop::Control => byte < 0x20,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever the bytes (any value, any length, any alignment), both scans find the first
        /// stop byte a byte-at-a-time search finds, for either third stop.
        #[test]
        fn string_stop_finds_the_first_stop_byte(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                8 => proptest::prelude::any::<u8>(),
                4 => proptest::prelude::Just(b'a'),
                1 => proptest::prelude::Just(b'"'),
                1 => proptest::prelude::Just(b'\\'),
                1 => proptest::prelude::Just(b'\n'),
                1 => proptest::prelude::Just(0x1f),
                1 => proptest::prelude::Just(0x20),
                1 => proptest::prelude::Just(0x80),
            ], 0..90),
            skip in 0usize..16,
            control in proptest::prelude::any::<bool>(),
        ) {
            let bytes = &bytes[skip.min(bytes.len())..];
            let also = if control { AlsoStop::Control } else { AlsoStop::Newline };
            let expected = bytes.iter().position(|&byte| is_stop(byte, also));
            proptest::prop_assert_eq!(string_stop(bytes, also), expected);
            proptest::prop_assert_eq!(word_stop(bytes, also), expected);
        }
    }
}
