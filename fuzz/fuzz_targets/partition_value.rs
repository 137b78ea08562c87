//! A safe partition value is one safe path segment within its budget, stable, and distinct
//! inputs stay distinct.
#![no_main]

use eventlake_core::partition::{encoded_cost, safe_value, MIN_VALUE_BUDGET};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&budget, rest)) = data.split_first() else {
        return;
    };
    let budget = MIN_VALUE_BUDGET + usize::from(budget);
    let text = String::from_utf8_lossy(rest);
    // Two values from one input: split at the first 0xFF byte (never valid UTF-8 itself).
    let (first, second) = match text.split_once('\u{FFFD}') {
        Some((first, second)) => (first.to_owned(), second.to_owned()),
        None => (text.to_string(), format!("{text}x")),
    };
    for value in [&first, &second] {
        let safe = safe_value(value, budget);
        assert!(encoded_cost(&safe) <= budget);
        assert!(!safe.is_empty() && safe != "." && safe != "..");
        assert!(!safe.chars().any(char::is_control));
        assert_eq!(safe, safe_value(value, budget));
    }
    if first != second {
        assert_ne!(safe_value(&first, budget), safe_value(&second, budget));
    }
});
