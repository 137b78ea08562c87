//! The sample's transform never panics, and applying it to a record it already transformed
//! changes nothing (Firehose error records and re-delivered objects pass through it twice).
#![no_main]

use eventlake_core::record::{parse_record, Parsed};
use eventlake_core::transform::{Operation, Preset, Transform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let declarative = Transform::new(
        Preset::ClientEventSample,
        &[Operation::Rename {
            from: "detail.a".into(),
            to: "detail.b".into(),
        }],
    )
    .unwrap();
    let Ok(once) = declarative.apply_operations(&String::from_utf8_lossy(data)) else {
        return;
    };
    let twice = declarative
        .apply_operations(&once)
        .expect("a transformed record transforms again");
    let reparsed: serde_json::Value = serde_json::from_str(&twice).unwrap();
    let first: serde_json::Value = serde_json::from_str(&once).unwrap();
    // `detail.a` may reappear only if the record had both; the rest must be stable.
    if first.pointer("/detail/a").is_none() {
        assert_eq!(first, reparsed, "the transform is not idempotent");
    }
    let mut scratch = String::new();
    if let Ok(Parsed::Event(event)) = parse_record(once.as_bytes(), &Transform::sample(), &mut scratch) {
        assert!(event.resources.is_empty() || first.get("resources").is_some());
    }
});
