//! One object's pass, storage-free: decompressed bytes in, Arrow batches of events and errors
//! out. Frame → parse and transform → partition → append to batch builders. A worker's event
//! builders outlive the object ([`WorkerBatches`]): small objects still make full batches.
//!
//! Guarantee: every framed record becomes exactly one event row or one error row, and the
//! object's entry in a `Done` message says so (`records = events + errors`); the sink refuses
//! to commit an object whose counts do not add up, or that no `Done` names. An object's event
//! rows and its `Done` may reach the sink after it is read, at the latest in the worker's
//! [`WorkerBatches::flush`], before its sender drops; its error rows come before its `Done`.
//!
//! Memory: a worker's framer window (one read chunk and at most `max_record_bytes` past it,
//! kept over its objects) and its batches (one a partition) of at most `BATCH_ROWS` rows or
//! `BATCH_BYTES` in all; after a send, each partition's builder keeps room for a quarter more
//! rows and bytes than it sent (reserved, not written).

use std::io::Read;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::partition::{PartitionContext, PartitionValues};
use crate::record::{parse_record, parse_record_prefix, ErrorCode, Parsed};
use crate::source::framing::{BrokenKind, Frame, FrameKind, Framer};
use crate::source::kinesis::StreamRecord;
use crate::source::{arrival_time_from_name, is_store_error, SourceObject};
use crate::table::batch::{EntryRuns, ErrorBatchBuilder, ErrorRow, PartitionedEventBatches};
use crate::table::ledger::ObjectCounts;

/// Rows per batch a worker sends to the sink.
const BATCH_ROWS: usize = 16 * 1024;
/// Bytes per batch, so that large records do not make huge batches.
const BATCH_BYTES: usize = 16 << 20;
/// Error rows per batch: bad records are rare, and each keeps its raw bytes.
const ERROR_BATCH_ROWS: usize = 4096;
/// Entries a worker reports done in one message, at most, and the raw bytes past which it
/// reports them at once: a message an entry woke the sink for each, about two context switches
/// an object of 60 KB; a large object is still reported as soon as it is read.
const DONE_ENTRIES: usize = 64;
const DONE_BYTES: u64 = 8 << 20;
/// Bytes asked of the reader at a time; the framer window grows by this much.
const READ_CHUNK_BYTES: usize = 1 << 20;
/// The chunk of an object smaller than this is this large.
const MIN_READ_CHUNK_BYTES: usize = 64 << 10;

/// What a worker sends to the sink.
pub(super) enum WorkerMessage {
    /// Rows of one partition, and the manifest entries they came from.
    Events {
        entries: EntryRuns,
        batch: RecordBatch,
    },
    Errors {
        batch: RecordBatch,
    },
    /// Entries read to their end, in the order the worker read them.
    Done(Vec<ObjectDone>),
    Failed(Error),
}

/// An object read to its end.
pub(super) struct ObjectDone {
    /// The object's index in the unit's manifest.
    pub object: usize,
    pub counts: ObjectCounts,
    /// Raw (compressed) bytes.
    pub bytes: u64,
    /// CPU seconds reading and decompressing.
    pub read_seconds: f64,
    /// CPU seconds framing, parsing, partitioning and building batches.
    pub parse_seconds: f64,
}

/// A worker's event rows not yet sent, over the entries it has read, the entries it has read
/// but not yet reported done, and the framer its objects are read through (one window
/// allocation for all of them, not one an object).
pub(super) struct WorkerBatches {
    events: PartitionedEventBatches,
    done: Vec<ObjectDone>,
    done_bytes: u64,
    framer: Framer,
}

impl WorkerBatches {
    /// Sends the rows held, a batch per partition, and reports the entries read.
    pub fn flush(&mut self, send: &mut dyn FnMut(WorkerMessage) -> Result<()>) -> Result<()> {
        self.send_largest(0, 0, send)?;
        self.send_done(send)
    }

    /// Holds `done` to report with the next entries; reports them all once there are
    /// `DONE_ENTRIES` or `DONE_BYTES`.
    fn report_done(
        &mut self,
        done: ObjectDone,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        self.done_bytes += done.bytes;
        self.done.push(done);
        if self.done.len() >= DONE_ENTRIES || self.done_bytes >= DONE_BYTES {
            self.send_done(send)?;
        }
        Ok(())
    }

    fn send_done(&mut self, send: &mut dyn FnMut(WorkerMessage) -> Result<()>) -> Result<()> {
        self.done_bytes = 0;
        if self.done.is_empty() {
            return Ok(());
        }
        send(WorkerMessage::Done(std::mem::take(&mut self.done)))
    }

    /// Sends the batches of the partitions that hold the most rows until at most `keep_rows`
    /// rows and `keep_bytes` bytes stay held.
    fn send_largest(
        &mut self,
        keep_rows: usize,
        keep_bytes: usize,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        for (batch, entries) in self.events.finish_largest(keep_rows, keep_bytes)? {
            send(WorkerMessage::Events { entries, batch })?;
        }
        Ok(())
    }
}

/// Turns one object's bytes into batches.
pub(super) struct ObjectPipeline<'a> {
    pub plan: &'a CompactPlan,
    pub schema: SchemaRef,
    pub ingested_at_micros: i64,
}

impl ObjectPipeline<'_> {
    /// Empty builders for one worker's rows.
    pub fn batches(&self) -> WorkerBatches {
        let extra_columns = self.plan.template.extra_columns().count();
        WorkerBatches {
            events: PartitionedEventBatches::new(self.schema.clone(), extra_columns),
            done: Vec::new(),
            done_bytes: 0,
            framer: Framer::with_window(self.plan.max_record_bytes, MIN_READ_CHUNK_BYTES),
        }
    }

    /// Reads `reader` (the decompressed bytes of manifest entry `index`) to its end, sending
    /// full batches through `send`; its last rows and its `Done` may stay in `batches` (see
    /// `WorkerBatches::report_done`), for the worker's next entries or its flush.
    pub fn run(
        &self,
        batches: &mut WorkerBatches,
        index: usize,
        object: &SourceObject,
        reader: &mut dyn Read,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        let started_cpu = thread_cpu_seconds();
        let mut read_seconds = 0.0;
        // Out of `batches` while the output borrows them; put back once the object is done.
        let mut framer = std::mem::replace(
            &mut batches.framer,
            Framer::with_window(self.plan.max_record_bytes, 0),
        );
        framer.reset();
        let mut output = EntryOutput::new(self, batches, index);
        // Firehose's `!{firehose:random-string}` is stable per object, so a rerun lands alike.
        let object_random = crate::partition::object_random(&object.uri);
        let context = PartitionContext {
            arrival_micros: arrival_time_from_name(&object.path)
                .unwrap_or(object.last_modified_micros),
            object_random: &object_random,
        };
        // Read in chunks sized for the object (a compressed object in several).
        let chunk_bytes = (object.size as usize).clamp(MIN_READ_CHUNK_BYTES, READ_CHUNK_BYTES);
        let mut corrupt_rest = None;
        let mut finished = false;

        while !finished {
            framer.compact();
            let read_started = thread_cpu_seconds();
            // Straight into the framer's window, no chunk between; on an error, what was read
            // before it is in the window too.
            let read = (&mut *reader)
                .take(chunk_bytes as u64)
                .read_to_end(framer.buffer_mut());
            read_seconds += thread_cpu_seconds() - read_started;
            match read {
                Ok(0) => {
                    framer.finish();
                    finished = true;
                }
                Ok(_) => {}
                Err(error) if is_store_error(&error) => {
                    return Err(Error::ReadObject {
                        object: object.uri.clone(),
                        source: error,
                    });
                }
                Err(error) => {
                    // Corrupt compression: what was framed stays; the unreadable rest is one error.
                    framer.finish();
                    finished = true;
                    corrupt_rest = Some(format!(
                        "the object cannot be decompressed past this point: {error}"
                    ));
                }
            }
            loop {
                // A record the one-pass reader reads is framed by it, without the brace scan.
                if let Some((offset, window)) = framer.peek_record() {
                    let read = output.take_record_at(
                        offset,
                        window,
                        &object.uri,
                        &object.uri,
                        &context,
                        send,
                    )?;
                    if let Some(len) = read {
                        framer.consume(len);
                        output.after_record();
                        continue;
                    }
                }
                let Some(frame) = framer.next_frame() else {
                    break;
                };
                output.take_frame(&frame, &object.uri, &object.uri, &context, send)?;
                output.after_record();
            }
        }
        if let Some(message) = corrupt_rest {
            // The unreadable rest of the object is one bad record.
            output.counts.records += 1;
            output.error_row(&object.uri, None, "corrupt_object", &message, &[]);
        }
        let parse_seconds = thread_cpu_seconds() - started_cpu - read_seconds;
        let finished = output.finish(object.size, read_seconds, parse_seconds, send);
        batches.framer = framer;
        finished
    }

    /// Runs the records of a stream's shard range (manifest entry `index`) through the same
    /// stages, each record framed on its own: one record may hold several events (run together
    /// or one a line), and one that holds none is an error row, so every record is accounted for.
    /// Events name the range (the ledger's entry); error rows name the record,
    /// `<shard_uri>/<sequence number>`, with the offset within it.
    pub fn run_records(
        &self,
        batches: &mut WorkerBatches,
        index: usize,
        range: &SourceObject,
        shard_uri: &str,
        records: &[StreamRecord],
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        let started_cpu = thread_cpu_seconds();
        let mut output = EntryOutput::new(self, batches, index);
        let range_random = crate::partition::object_random(&range.uri);
        let mut framer = Framer::new(self.plan.max_record_bytes);
        let mut record_uri = String::new();
        for record in records {
            framer.reset();
            framer.buffer_mut().extend_from_slice(&record.data);
            framer.finish();
            record_uri.clear();
            record_uri.push_str(shard_uri);
            record_uri.push('/');
            record_uri.push_str(&record.sequence);
            let context = PartitionContext {
                arrival_micros: record.arrival_micros,
                object_random: &range_random,
            };
            let before = output.counts.records;
            loop {
                if let Some((offset, window)) = framer.peek_record() {
                    let read = output.take_record_at(
                        offset,
                        window,
                        &range.uri,
                        &record_uri,
                        &context,
                        send,
                    )?;
                    if let Some(len) = read {
                        framer.consume(len);
                        continue;
                    }
                }
                let Some(frame) = framer.next_frame() else {
                    break;
                };
                output.take_frame(&frame, &range.uri, &record_uri, &context, send)?;
            }
            if output.counts.records == before {
                output.counts.records += 1;
                output.error_row(
                    &record_uri,
                    Some(0),
                    ErrorCode::NotJson.as_str(),
                    "the stream record holds no JSON object",
                    &record.data,
                );
            }
        }
        let parse_seconds = thread_cpu_seconds() - started_cpu;
        output.finish(range.size, 0.0, parse_seconds, send)
    }
}

/// One manifest entry's pass: the worker's batches it fills, its error rows and its counts.
struct EntryOutput<'a, 'b> {
    pipeline: &'a ObjectPipeline<'a>,
    index: usize,
    events: &'b mut WorkerBatches,
    errors: ErrorBatchBuilder,
    counts: ObjectCounts,
    ingest_date: String,
    partition_values: PartitionValues,
    partition_key: String,
    scratch: String,
}

impl<'a, 'b> EntryOutput<'a, 'b> {
    fn new(pipeline: &'a ObjectPipeline<'a>, batches: &'b mut WorkerBatches, index: usize) -> Self {
        Self {
            pipeline,
            index,
            events: batches,
            errors: ErrorBatchBuilder::new(),
            counts: ObjectCounts::default(),
            ingest_date: crate::time::date_text(pipeline.ingested_at_micros),
            partition_values: PartitionValues::new(),
            partition_key: String::new(),
            scratch: String::new(),
        }
    }

    /// One framed record: parsed, transformed and partitioned into an event row (its
    /// `source_object` the ledger's entry, `event_source`), or an error row (naming
    /// `error_source`); full batches go to the sink.
    fn take_frame(
        &mut self,
        frame: &Frame<'_>,
        event_source: &str,
        error_source: &str,
        context: &PartitionContext<'_>,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        let plan = self.pipeline.plan;
        self.counts.records += 1;
        let offset = Some(frame.offset);
        match frame.kind {
            FrameKind::Record => {
                // Out of `self` while the event borrows it.
                let mut scratch = std::mem::take(&mut self.scratch);
                match parse_record(frame.bytes, &plan.transform, &mut scratch) {
                    Ok(parsed) => {
                        self.take_parsed(parsed, frame, event_source, error_source, context)
                    }
                    Err(error) => self.error_row(
                        error_source,
                        offset,
                        error.code.as_str(),
                        &error.message,
                        frame.bytes,
                    ),
                }
                self.scratch = scratch;
            }
            FrameKind::Broken(BrokenKind::NotAnObject) => {
                let code = if std::str::from_utf8(frame.bytes).is_err() {
                    ErrorCode::InvalidUtf8
                } else {
                    ErrorCode::NotJson
                };
                self.error_row(
                    error_source,
                    offset,
                    code.as_str(),
                    "not a JSON object",
                    frame.bytes,
                )
            }
            FrameKind::Broken(BrokenKind::Truncated) => self.error_row(
                error_source,
                offset,
                ErrorCode::Truncated.as_str(),
                "the record ends before its object closes",
                frame.bytes,
            ),
            FrameKind::Oversized => self.error_row(
                error_source,
                offset,
                ErrorCode::Oversized.as_str(),
                &format!(
                    "the record exceeds max_record_bytes ({}); its first bytes are kept",
                    plan.max_record_bytes
                ),
                frame.bytes,
            ),
        }
        self.send_full_batches(send)
    }

    /// The record `window` starts with (at `offset`), if the one-pass reader reads it: taken
    /// as `take_frame` takes the frame the scan would find, and its length returned; `None`:
    /// nothing is counted, and the caller frames it with the scan.
    fn take_record_at(
        &mut self,
        offset: u64,
        window: &[u8],
        event_source: &str,
        error_source: &str,
        context: &PartitionContext<'_>,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<Option<usize>> {
        let Some((len, parsed)) = parse_record_prefix(window, &self.pipeline.plan.transform) else {
            return Ok(None);
        };
        let frame = Frame {
            offset,
            kind: FrameKind::Record,
            bytes: &window[..len],
        };
        self.counts.records += 1;
        match parsed {
            Ok(parsed) => self.take_parsed(parsed, &frame, event_source, error_source, context),
            Err(error) => self.error_row(
                error_source,
                Some(offset),
                error.code.as_str(),
                &error.message,
                frame.bytes,
            ),
        }
        self.send_full_batches(send)?;
        Ok(Some(len))
    }

    /// A record that parsed: an event row, or an error row for a partition key it lacks or a
    /// failure Firehose recorded.
    fn take_parsed(
        &mut self,
        parsed: Parsed<'_>,
        frame: &Frame<'_>,
        event_source: &str,
        error_source: &str,
        context: &PartitionContext<'_>,
    ) {
        let plan = self.pipeline.plan;
        let offset = Some(frame.offset);
        match parsed {
            Parsed::Event(mut event) => {
                match plan
                    .template
                    .evaluate(&event, context, &mut self.partition_values)
                {
                    Ok(()) => {
                        plan.template.make_typed_values_safe(&mut event);
                        plan.template.partition_key(
                            &event,
                            &self.partition_values,
                            &mut self.partition_key,
                        );
                        self.counts.events += 1;
                        self.events.events.append(
                            self.index,
                            &self.partition_key,
                            &event,
                            &self.partition_values,
                            event_source,
                            self.pipeline.ingested_at_micros,
                        );
                    }
                    Err(reason) => self.error_row(
                        error_source,
                        offset,
                        ErrorCode::MissingPartitionKey.as_str(),
                        &reason.to_string(),
                        frame.bytes,
                    ),
                }
            }
            Parsed::Firehose(failure) => self.error_row(
                error_source,
                offset,
                ErrorCode::FirehoseError.as_str(),
                &format!("Firehose {}: {}", failure.error_code, failure.message),
                &failure.raw_record,
            ),
        }
    }

    /// Sends the held batches that are full.
    fn send_full_batches(
        &mut self,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        let held = &self.events.events;
        if held.len() >= BATCH_ROWS || held.approximate_bytes() >= BATCH_BYTES {
            self.events
                .send_largest(BATCH_ROWS / 2, BATCH_BYTES / 2, send)?;
        }
        if self.errors.len() >= ERROR_BATCH_ROWS {
            send(WorkerMessage::Errors {
                batch: self.errors.finish()?,
            })?;
        }
        Ok(())
    }

    /// The object's failpoints, once its 100th record is counted.
    fn after_record(&self) {
        if self.counts.records == 100 {
            failpoint::hit("mid-object");
            failpoint::hit("worker-panic");
        }
    }

    /// An error row for a record already counted in `records`.
    fn error_row(
        &mut self,
        source_uri: &str,
        byte_offset: Option<u64>,
        code: &str,
        message: &str,
        raw: &[u8],
    ) {
        self.counts.errors += 1;
        let row = ErrorRow {
            source_object: source_uri,
            byte_offset,
            error_code: code,
            error_message: message,
            raw_record: raw,
        };
        self.errors
            .append(&row, self.pipeline.ingested_at_micros, &self.ingest_date);
    }

    /// Sends the error rows still held, then reports the entry done (with the worker's next
    /// entries, see `WorkerBatches::report_done`; event rows stay for its next entry, or its
    /// flush).
    fn finish(
        mut self,
        bytes: u64,
        read_seconds: f64,
        parse_seconds: f64,
        send: &mut dyn FnMut(WorkerMessage) -> Result<()>,
    ) -> Result<()> {
        if !self.errors.is_empty() {
            send(WorkerMessage::Errors {
                batch: self.errors.finish()?,
            })?;
        }
        let done = ObjectDone {
            object: self.index,
            counts: self.counts,
            bytes,
            read_seconds,
            parse_seconds,
        };
        self.events.report_done(done, send)
    }
}

/// CPU seconds the calling thread has used (for the per-stage breakdown).
pub(super) fn thread_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds the whole process has used.
pub(super) fn process_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_seconds(clock: libc::clockid_t) -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, exclusively borrowed timespec; the clock ids are constants
    // Linux supports. On failure the value stays zero, which only blurs the breakdown.
    unsafe { libc::clock_gettime(clock, &mut time) };
    time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::batch::events_schema_in_flight;

    fn object() -> SourceObject {
        SourceObject {
            uri: "file:///raw/a".into(),
            path: "raw/a".into(),
            size: 0,
            last_modified_micros: 0,
        }
    }

    fn run(input: &[u8]) -> (Vec<WorkerMessage>, Result<()>) {
        let plan = CompactPlan::default();
        let pipeline = ObjectPipeline {
            plan: &plan,
            schema: events_schema_in_flight(&plan.template),
            ingested_at_micros: 0,
        };
        let mut messages = Vec::new();
        let mut send = |message| {
            messages.push(message);
            Ok(())
        };
        let mut batches = pipeline.batches();
        let result = pipeline
            .run(&mut batches, 0, &object(), &mut &input[..], &mut send)
            .and_then(|()| batches.flush(&mut send));
        (messages, result)
    }

    #[test]
    fn every_framed_record_is_one_event_or_one_error_row() {
        let good = r#"{"version":"0","id":"6f1c2a4e-0000-4000-8000-000000000001","detail-type":"prod","source":"clientevents","account":"1","time":"2026-11-20T10:00:00Z","region":"us-east-1","resources":["c1"],"detail":{"eventType":"searching","schemaVersion":1,"data":{}}}"#;
        let input = format!("{good}\nnot json\n{{\"id\":1}}\n{good}{{\"truncated\":");
        let (messages, result) = run(input.as_bytes());
        result.unwrap();
        let (mut event_rows, mut error_rows, mut done) = (0, 0, None);
        for message in messages {
            match message {
                WorkerMessage::Events { batch, .. } => event_rows += batch.num_rows(),
                WorkerMessage::Errors { batch } => error_rows += batch.num_rows(),
                WorkerMessage::Done(objects) => {
                    assert_eq!(objects.len(), 1);
                    done = Some(objects[0].counts);
                }
                WorkerMessage::Failed(error) => panic!("{error}"),
            }
        }
        let counts = done.expect("the object reports done");
        assert_eq!(event_rows as u64, counts.events);
        assert_eq!(error_rows as u64, counts.errors);
        assert_eq!(counts.records, counts.events + counts.errors);
        assert_eq!((counts.events, counts.errors), (2, 3));
    }

    /// A worker's small objects fill one batch a partition between them, and the batch names
    /// each row's object, so the sink can count each object's duplicates.
    #[test]
    fn small_objects_share_a_workers_batches() {
        use crate::table::batch::EntryRuns;
        let plan = CompactPlan::default();
        let pipeline = ObjectPipeline {
            plan: &plan,
            schema: events_schema_in_flight(&plan.template),
            ingested_at_micros: 0,
        };
        let record = |n: usize| {
            format!(
                r#"{{"id":"id-{n}","time":"2026-11-20T10:00:00Z","resources":["c1"],"detail":{{"eventType":"searching","schemaVersion":1}}}}"#
            ) + "\n"
        };
        let mut messages = Vec::new();
        let mut send = |message| {
            messages.push(message);
            Ok(())
        };
        let mut batches = pipeline.batches();
        for (index, rows) in [(0, 0..3), (1, 3..5), (2, 5..9)] {
            let input: String = rows.map(record).collect();
            pipeline
                .run(
                    &mut batches,
                    index,
                    &object(),
                    &mut input.as_bytes(),
                    &mut send,
                )
                .unwrap();
        }
        batches.flush(&mut send).unwrap();
        let all_rows: Vec<usize> = (0..9).collect();
        let reported: Vec<Vec<usize>> = messages
            .iter()
            .filter_map(|message| match message {
                WorkerMessage::Done(done) => Some(done.iter().map(|done| done.object).collect()),
                _ => None,
            })
            .collect();
        assert_eq!(
            reported,
            [vec![0, 1, 2]],
            "one report for the three objects"
        );
        let sent: Vec<_> = messages
            .into_iter()
            .filter_map(|message| match message {
                WorkerMessage::Events { entries, batch } => Some((entries, batch.num_rows())),
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), 1, "one batch for the three objects");
        let (entries, rows): (EntryRuns, usize) = sent.into_iter().next().unwrap();
        assert_eq!(rows, 9);
        let mut named = Vec::new();
        entries.entries_of(&all_rows, |entry| named.push(entry));
        assert_eq!(named, [0, 0, 0, 1, 1, 2, 2, 2, 2]);
    }

    /// A worker reports its entries done in groups, each entry once: after `DONE_ENTRIES` small
    /// ones, or at once for one of `DONE_BYTES`, so progress never waits on many objects.
    #[test]
    fn entries_are_reported_done_once_each_and_without_waiting_long() {
        let plan = CompactPlan::default();
        let pipeline = ObjectPipeline {
            plan: &plan,
            schema: events_schema_in_flight(&plan.template),
            ingested_at_micros: 0,
        };
        // Read between sends: the test counts the reports sent before the flush.
        let messages = std::cell::RefCell::new(Vec::new());
        let mut send = |message| {
            messages.borrow_mut().push(message);
            Ok(())
        };
        let mut batches = pipeline.batches();
        let large = SourceObject {
            size: DONE_BYTES,
            ..object()
        };
        let small = object();
        // Five small and a large one, two full groups, three left for the flush.
        let entries = 6 + DONE_ENTRIES * 2 + 3;
        let mut reported_before_flush = 0;
        for index in 0..entries {
            let entry = if index == 5 { &large } else { &small };
            pipeline
                .run(&mut batches, index, entry, &mut &b"{}"[..], &mut send)
                .unwrap();
        }
        let groups = |messages: &[WorkerMessage]| -> Vec<Vec<usize>> {
            messages
                .iter()
                .filter_map(|message| match message {
                    WorkerMessage::Done(done) => {
                        Some(done.iter().map(|done| done.object).collect())
                    }
                    _ => None,
                })
                .collect()
        };
        for group in groups(&messages.borrow()) {
            reported_before_flush += group.len();
        }
        batches.flush(&mut send).unwrap();
        let groups = groups(&messages.borrow());
        assert_eq!(
            groups[0],
            (0..=5).collect::<Vec<_>>(),
            "the large one at once"
        );
        assert_eq!(groups[1].len(), DONE_ENTRIES);
        assert!(groups.iter().all(|group| group.len() <= DONE_ENTRIES));
        assert_eq!(reported_before_flush, 6 + DONE_ENTRIES * 2);
        let all: Vec<usize> = groups.concat();
        assert_eq!(all, (0..entries).collect::<Vec<_>>(), "each once, in order");
    }

    #[test]
    fn each_events_batch_holds_one_partition() {
        use arrow::array::{Array, StringArray};
        let mut input = String::new();
        for n in 0..3000 {
            let kind = ["searching", "paging", "purchase"][n % 3];
            let day = 20 + (n / 7) % 2;
            input.push_str(&format!(
                r#"{{"id":"id-{n}","time":"2026-11-{day}T10:00:00Z","resources":["c{n}"],"detail":{{"eventType":"{kind}","schemaVersion":1}}}}"#
            ));
            input.push('\n');
        }
        let (messages, result) = run(input.as_bytes());
        result.unwrap();
        let mut rows = 0;
        let mut partitions = std::collections::HashSet::new();
        for message in messages {
            let WorkerMessage::Events { batch, .. } = message else {
                continue;
            };
            let text = |name: &str| {
                let column = batch.column_by_name(name).unwrap();
                let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
                let values: std::collections::HashSet<_> = strings.iter().collect();
                assert_eq!(values.len(), 1, "{name}: {values:?}");
                strings.value(0).to_owned()
            };
            assert!(
                partitions.insert((text("event_type"), text("dt"))),
                "one batch a partition"
            );
            rows += batch.num_rows();
        }
        assert_eq!(rows, 3000);
        assert_eq!(partitions.len(), 6);
    }
}
