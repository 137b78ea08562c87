//! CPU time of the parse stage's parts over a file of raw records (decompressed):
//! framing alone, then framing and `parse_record`, then those and the partition values.
//! usage: cargo run --release -p eventlake-core --example parse_stages -- FILE [ROUNDS]
use std::time::Instant;

use eventlake_core::framing::{FrameKind, Framer};
use eventlake_core::partition::{
    PartitionContext, PartitionTemplate, PartitionValues, DEFAULT_PREFIX,
};
use eventlake_core::record::{parse_record, Parsed};
use eventlake_core::transform::Transform;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_stages FILE [ROUNDS]");
    let rounds: usize = args.next().map_or(3, |n| n.parse().expect("ROUNDS"));
    let input = std::fs::read(&path).expect("read FILE");
    let transform = Transform::sample();
    let template = PartitionTemplate::parse(DEFAULT_PREFIX, None).expect("template");
    let context = PartitionContext {
        arrival_micros: 0,
        object_random: "abc",
    };
    let megabytes = input.len() as f64 / 1e6;
    for stage in ["frame", "frame+parse", "frame+parse+partition"] {
        let mut best = f64::MAX;
        let mut records = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let mut framer = Framer::new(1 << 20);
            framer.buffer_mut().extend_from_slice(&input);
            framer.finish();
            let (mut scratch, mut values, mut key) =
                (String::new(), PartitionValues::new(), String::new());
            records = 0;
            while let Some(frame) = framer.next_frame() {
                records += 1;
                if stage == "frame" || frame.kind != FrameKind::Record {
                    std::hint::black_box(frame.bytes);
                    continue;
                }
                let parsed = parse_record(frame.bytes, &transform, &mut scratch);
                if let (Ok(Parsed::Event(mut event)), true) = (parsed, stage.ends_with("partition"))
                {
                    if template.evaluate(&event, &context, &mut values).is_ok() {
                        template.make_typed_values_safe(&mut event);
                        template.partition_key(&event, &values, &mut key);
                    }
                    std::hint::black_box(&event);
                }
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{stage:24} {:6.3} s/GB  ({records} records, {:.0} ns a record)",
            best / megabytes * 1e3,
            best / records as f64 * 1e9
        );
    }
}
