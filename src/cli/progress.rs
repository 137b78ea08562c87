//! The progress bar `compact` shows on a terminal: objects, bytes and records/s.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::compact::CompactProgress;

pub struct CompactBar {
    bar: ProgressBar,
    records: AtomicU64,
    objects_done: AtomicU64,
    objects_planned: AtomicU64,
}

impl CompactBar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            records: AtomicU64::new(0),
            objects_done: AtomicU64::new(0),
            objects_planned: AtomicU64::new(0),
        }
    }
}

impl CompactProgress for CompactBar {
    fn planned(&self, objects: u64, bytes: u64) {
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{objects} objects"));
        self.objects_planned.store(objects, Ordering::Relaxed);
    }

    fn object_done(&self, bytes: u64, records: u64) {
        self.bar.inc(bytes);
        let done = self.objects_done.fetch_add(1, Ordering::Relaxed) + 1;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        let seconds = self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{}/{} objects, {:.0} records/s",
            done,
            self.objects_planned.load(Ordering::Relaxed),
            records as f64 / seconds
        ));
    }
}

impl Drop for CompactBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// What `replay` shows as it goes: the loyalty warning, and on a terminal a bar of events
/// settled and events/s.
pub struct ReplayBar {
    bar: ProgressBar,
}

impl ReplayBar {
    pub fn new(visible: bool) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        if !visible {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::replay::ReplayProgress for ReplayBar {
    fn planned(&self, events: u64, loyalty_purchases: u64) {
        if loyalty_purchases > 0 {
            self.bar.suspend(|| {
                eprintln!(
                    "warning: the selection holds {loyalty_purchases} loyalty purchases; unless the Zendesk rule excludes replays ({{\"detail\": {{\"replay-name\": [{{\"exists\": false}}]}}}}), each opens another ticket"
                )
            });
        }
        self.bar.set_length(events);
    }

    fn done(&self, events: u64) {
        self.bar.inc(events);
    }
}
