//! The worker pool: each manifest entry (an object, or a stream shard's range of records) is
//! run through the pipeline on a blocking thread, `workers` at a time, sending batches to the sink through a bounded channel.
//!
//! Guarantee: the pool awaits every worker it started; a worker that panics or is cancelled is
//! reported as `Failed(WorkerLost)` for its object, so the sink never commits a unit with an
//! object missing.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::pipeline::{ObjectPipeline, WorkerMessage};
use crate::config::CompactPlan;
use crate::error::Error;
use crate::source::kinesis::StreamRecord;
use crate::source::{Source, SourceObject};
use crate::table::batch::events_schema;

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
    let objects = objects.to_vec();
    let input = input.clone();
    let plan = Arc::new(plan.clone());
    let schema = events_schema(&plan.template);
    let runtime = tokio::runtime::Handle::current();
    tokio::spawn(async move {
        let limit = Arc::new(tokio::sync::Semaphore::new(plan.workers.max(1)));
        let mut handles = Vec::new();
        for (index, object) in objects.into_iter().enumerate() {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            if sender.is_closed() {
                break;
            }
            let (input, plan, schema, runtime, sender) = (
                input.clone(),
                plan.clone(),
                schema.clone(),
                runtime.clone(),
                sender.clone(),
            );
            let object_uri = object.uri.clone();
            let handle = tokio::task::spawn_blocking(move || {
                let pipeline = ObjectPipeline {
                    plan: &plan,
                    schema,
                    ingested_at_micros,
                };
                let mut send = |message| {
                    sender
                        .blocking_send(message)
                        .map_err(|_| Error::WriterStopped)
                };
                let result =
                    match &input {
                        UnitInput::Objects(source) => source
                            .open_blocking(&object, &runtime)
                            .and_then(|mut reader| {
                                pipeline.run(index, &object, &mut reader, &mut send)
                            }),
                        UnitInput::Records {
                            stream_uri,
                            shards,
                            records,
                        } => pipeline.run_records(
                            index,
                            &object,
                            &format!("{stream_uri}/{}", shards[index]),
                            &records[index],
                            &mut send,
                        ),
                    };
                if let Err(error) = result {
                    let _ = sender.blocking_send(WorkerMessage::Failed(error));
                }
                drop(permit);
            });
            handles.push((object_uri, handle));
        }
        for (object, handle) in handles {
            if let Err(join_error) = handle.await {
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
