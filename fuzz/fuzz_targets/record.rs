//! Every record parses to an event or an error, never a panic; an event's typed partition
//! values, once made safe, fit a path segment.
#![no_main]

use eventlake_core::partition::{encoded_cost, PartitionTemplate, DEFAULT_PREFIX};
use eventlake_core::record::{parse_record, Parsed};
use eventlake_core::transform::{Operation, Preset, Transform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).unwrap();
    let declarative = Transform::new(
        Preset::ClientEventSample,
        &[Operation::Move {
            from: "detail.x".into(),
            to: "detail.y.z".into(),
        }],
    )
    .unwrap();
    for transform in [Transform::sample(), Transform::none(), declarative] {
        let mut scratch = String::new();
        match parse_record(data, &transform, &mut scratch) {
            Ok(Parsed::Event(mut event)) => {
                assert!(!event.id.is_empty());
                assert!(event.detail.starts_with('{'));
                template.make_typed_values_safe(&mut event);
                if let Some(event_type) = &event.event_type {
                    assert!(encoded_cost(event_type) <= 255);
                }
                let mut values = eventlake_core::partition::PartitionValues::new();
                let context = eventlake_core::partition::PartitionContext {
                    arrival_micros: 0,
                    object_random: "r",
                };
                let _ = template.evaluate(&event, &context, &mut values);
            }
            Ok(Parsed::Firehose(_)) => {}
            Err(error) => assert!(!error.message.is_empty()),
        }
    }
});
