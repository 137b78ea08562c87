//! The worker pool: `workers` blocking threads, each taking the unit's manifest entries (an
//! object, or a stream shard's range of records) in turn and running them through the pipeline,
//! sending batches to the sink through a bounded channel. A worker's event builders outlive an
//! entry, so many small objects make full batches, not one small batch a partition each; what
//! they hold is sent when the worker runs out of entries.
//!
//! Guarantee: the pool awaits every worker it started; a worker that panics or is cancelled is
//! reported as `Failed(WorkerLost)` for the entry it was on, so the sink never commits a unit
//! with an object missing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::pipeline::{ObjectPipeline, WorkerMessage};
use crate::config::CompactPlan;
use crate::error::Error;
use crate::source::kinesis::StreamRecord;
use crate::source::{Source, SourceObject};
use crate::table::batch::events_schema_in_flight;

/// Where a unit's entries are read from.
#[derive(Clone)]
pub(super) enum UnitInput {
    /// Objects of a bucket or folder.
    Objects(Source),
    /// Ranges of a stream's shards, fetched already: entry `i` is `ranges[i]`'s records.
    Records {
        /// `kinesis://STREAM`; a record is named `<stream_uri>/<shard>/<sequence>`.
        stream_uri: String,
        shards: Arc<Vec<String>>,
        records: Arc<Vec<Vec<StreamRecord>>>,
    },
}

/// Starts the pool over `objects`; the handle finishes when every worker has.
pub(super) fn spawn(
    input: &UnitInput,
    objects: &[SourceObject],
    plan: &CompactPlan,
    ingested_at_micros: i64,
    sender: mpsc::Sender<WorkerMessage>,
) -> tokio::task::JoinHandle<()> {
    let objects = Arc::new(objects.to_vec());
    let input = input.clone();
    let plan = Arc::new(plan.clone());
    let schema = events_schema_in_flight(&plan.template);
    let runtime = tokio::runtime::Handle::current();
    // The next entry a worker takes; each worker keeps the one it is on, to name it if it dies.
    let next_entry = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        let mut handles = Vec::new();
        for _ in 0..plan.workers.max(1).min(objects.len()) {
            let (input, plan, schema, runtime, sender, objects, next_entry) = (
                input.clone(),
                plan.clone(),
                schema.clone(),
                runtime.clone(),
                sender.clone(),
                objects.clone(),
                next_entry.clone(),
            );
            let current = Arc::new(AtomicUsize::new(0));
            let on_entry = current.clone();
            let handle = tokio::task::spawn_blocking(move || {
                let pipeline = ObjectPipeline {
                    plan: &plan,
                    schema,
                    ingested_at_micros,
                };
                let mut batches = pipeline.batches();
                let mut send = |message| {
                    sender
                        .blocking_send(message)
                        .map_err(|_| Error::WriterStopped)
                };
                let mut run_entries = || -> crate::error::Result<()> {
                    loop {
                        let index = next_entry.fetch_add(1, Ordering::Relaxed);
                        let Some(object) = objects.get(index) else {
                            return batches.flush(&mut send);
                        };
                        if sender.is_closed() {
                            return Ok(());
                        }
                        on_entry.store(index, Ordering::Relaxed);
                        match &input {
                            UnitInput::Objects(source) => {
                                let mut reader = source.open_blocking(object, &runtime)?;
                                pipeline.run(
                                    &mut batches,
                                    index,
                                    object,
                                    &mut reader,
                                    &mut send,
                                )?;
                            }
                            UnitInput::Records {
                                stream_uri,
                                shards,
                                records,
                            } => pipeline.run_records(
                                &mut batches,
                                index,
                                object,
                                &format!("{stream_uri}/{}", shards[index]),
                                &records[index],
                                &mut send,
                            )?,
                        }
                    }
                };
                if let Err(error) = run_entries() {
                    let _ = sender.blocking_send(WorkerMessage::Failed(error));
                }
            });
            handles.push((current, handle));
        }
        for (current, handle) in handles {
            if let Err(join_error) = handle.await {
                let object = objects[current.load(Ordering::Relaxed)].uri.clone();
                let reason = match join_error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<&str>()
                        .map(|text| text.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .map_or_else(
                            || "it panicked".to_owned(),
                            |text| format!("it panicked: {text}"),
                        ),
                    Err(join_error) => join_error.to_string(),
                };
                let _ = sender
                    .send(WorkerMessage::Failed(Error::WorkerLost { object, reason }))
                    .await;
            }
        }
    })
}
