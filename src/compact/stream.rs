//! `compact --follow --source kinesis://STREAM`: a Kinesis Data Stream's shards read directly,
//! committed in micro-batches, each one unit of the batch protocol (`unit.rs`).
//!
//! ```text
//!  ListShards (every SHARD_LISTING_EVERY) ─▶ the shards this process owns (--shard K/N by a
//!     │                                       hash of the shard id), children after parents
//!     ▼
//!  GetRecords per shard (≤ 5 a second) ─▶ buffered ──(commit interval or bytes)──▶ claim unit N:
//!     manifest = each shard's range (first..last sequence) + every shard's position after it
//!     ─▶ workers frame each record ─▶ events(txn N) ─▶ errors(txn N) ─▶ source_objects(txn N)
//! ```
//!
//! Guarantee: each record is committed once across kills, restarts and a second process on the
//! same stream. A unit's manifest names its shard ranges before anything is written, so a run
//! that dies after claiming it reads the same ranges again (`AT_SEQUENCE_NUMBER` their first)
//! and commits what the tables do not hold; the positions a run resumes from are those of the
//! last committed unit's manifest (`AFTER_SEQUENCE_NUMBER`); and ids still go through the id
//! index, so a record a producer put twice lands once. A child shard is read only once its
//! parents are read to their end, in this unit or an earlier one, so a partition key's records
//! are committed in order. Memory: the records buffered for the next unit (up to
//! `commit_bytes`), one position per shard, and what every unit holds (`unit.rs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::follow::{FollowOptions, StopSignal};
use super::manifest::{self, ShardPosition, ShardRange, StreamCheckpoint, UnitManifest};
use super::metrics::FollowMetrics;
use super::workers::UnitInput;
use super::{CompactMetrics, LakeState, Shard, UnitDone, Units};
use crate::config::CompactPlan;
use crate::error::{Error, Result};
use crate::retry::Backoff;
use crate::source::kinesis::{
    self, sequence_cmp, KinesisClient, RecordsPage, ShardInfo, StartingPosition, StreamRecord,
};
use crate::source::SourceObject;
use crate::table::{committed_unit, refresh, Lake};

/// How often the shard list is read again, to find the children of splits and merges.
const SHARD_LISTING_EVERY: Duration = Duration::from_secs(10);
/// The least time between two `GetRecords` calls on one shard (Kinesis allows 5 a second).
const CALL_SPACING: Duration = Duration::from_millis(200);
/// The wait after a read that found nothing new.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Throttling backs off from `CALL_SPACING` up to this.
const MAX_THROTTLE_PAUSE: Duration = Duration::from_secs(5);

/// A `compact --follow` run over one Kinesis stream and one lake.
pub struct StreamCompaction {
    client: KinesisClient,
    units: Units,
    shard: Shard,
}

/// One shard as this run reads it.
struct ShardReader {
    parents: Vec<String>,
    /// Set once the shard is closed (split or merged): its last sequence number.
    ending_sequence: Option<String>,
    /// How far the lake holds it.
    committed: ShardPosition,
    /// Where a new iterator starts when the shard has nothing committed.
    start: StartingPosition,
    iterator: Option<String>,
    /// Records read and not yet committed.
    buffered: Vec<StreamRecord>,
    buffered_bytes: u64,
    /// `GetRecords` said the shard ends here (its records may still be buffered).
    read_to_end: bool,
    /// No call before this.
    next_call: Instant,
    /// Throttled calls in a row.
    throttled: u32,
}

impl ShardReader {
    fn new(info: &ShardInfo, committed: ShardPosition, start: StartingPosition) -> Self {
        Self {
            parents: info.parents.clone(),
            ending_sequence: info.ending_sequence.clone(),
            read_to_end: committed.finished,
            committed,
            start,
            iterator: None,
            buffered: Vec::new(),
            buffered_bytes: 0,
            next_call: Instant::now(),
            throttled: 0,
        }
    }

    /// The last sequence number read (buffered, else committed).
    fn last_read(&self) -> Option<&str> {
        self.buffered
            .last()
            .map(|record| record.sequence.as_str())
            .or(self.committed.last.as_deref())
    }

    /// Where a new iterator starts: after the last record read.
    fn resume_at(&self) -> StartingPosition {
        match self.last_read() {
            Some(sequence) => StartingPosition::AfterSequence(sequence.to_owned()),
            None => self.start.clone(),
        }
    }

    /// Whether a read that found nothing means a closed shard is read to its end. Kinesis says
    /// so with no next iterator; servers that always hand one back (the test server) are at the
    /// end once the last record read is the shard's last.
    fn is_past_end(&self) -> bool {
        let Some(ending) = &self.ending_sequence else {
            return false;
        };
        self.last_read()
            .is_none_or(|last| sequence_cmp(last, ending).is_ge())
    }

    /// Its position once what it buffered is committed.
    fn position_after_commit(&self) -> ShardPosition {
        ShardPosition {
            last: self.last_read().map(str::to_owned),
            finished: self.read_to_end,
        }
    }
}

/// The shards a run reads, and the buffered records' first arrival.
struct Readers {
    shards: BTreeMap<String, ShardReader>,
    /// When the oldest buffered record was read.
    since: Option<Instant>,
    /// Listed shards of other processes (`--shard`) not yet committed to their end there.
    unfinished_elsewhere: HashSet<String>,
    last_listing: Option<Instant>,
}

impl Readers {
    fn buffered_bytes(&self) -> u64 {
        self.shards
            .values()
            .map(|reader| reader.buffered_bytes)
            .sum()
    }

    fn has_uncommitted(&self) -> bool {
        self.shards.values().any(|reader| {
            !reader.buffered.is_empty() || reader.read_to_end != reader.committed.finished
        })
    }

    /// Whether `shard`'s parents are all read to their end: here, by the process that owns
    /// them, or gone from the stream's retention.
    fn parents_done(&self, shard: &ShardReader) -> bool {
        shard
            .parents
            .iter()
            .all(|parent| match self.shards.get(parent) {
                Some(reader) => reader.read_to_end,
                None => !self.unfinished_elsewhere.contains(parent),
            })
    }
}

impl StreamCompaction {
    pub fn new(client: KinesisClient, lake: Lake, plan: CompactPlan) -> Self {
        Self {
            client,
            units: Units::new(lake, plan),
            shard: Shard::default(),
        }
    }

    /// Reads only the stream shards whose id hashes to `shard`.
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// The app id of this run's units: one sequence per stream and shard of processes.
    fn app_id(&self) -> String {
        app_id_of(&self.client.stream().name, self.shard)
    }

    /// Runs until `stop` is requested: reads the owned shards and commits them in micro-batches.
    pub async fn follow(
        self,
        options: FollowOptions,
        stop: StopSignal,
        metrics: Arc<FollowMetrics>,
    ) -> Result<CompactMetrics> {
        let started = Instant::now();
        let app_id = self.app_id();
        let mut state = LakeState::open(&self.units, &app_id).await?;
        state.table_ids = super::id_index::TableIds::new(super::id_index::FILTER_CACHE_BYTES);
        let mut totals = CompactMetrics::default();
        let mut readers = self.resume(&mut state, &mut totals).await?;
        metrics.set_ready();
        loop {
            let stopping = stop.is_requested();
            if readers
                .last_listing
                .is_none_or(|last| last.elapsed() >= SHARD_LISTING_EVERY)
            {
                self.list_shards(&mut state, &mut readers, &options).await?;
            }
            if !stopping && readers.buffered_bytes() < options.commit_bytes {
                let behind = self.read_shards(&mut readers).await?;
                metrics.set_millis_behind_latest(behind);
            }
            metrics.set_pending(
                readers
                    .shards
                    .values()
                    .filter(|reader| !reader.buffered.is_empty())
                    .count() as u64,
                readers.buffered_bytes(),
            );
            let due = readers.buffered_bytes() >= options.commit_bytes
                || readers
                    .since
                    .is_some_and(|since| since.elapsed() >= options.commit_interval)
                || stopping;
            if due && readers.has_uncommitted() {
                let commit_started = Instant::now();
                match self.commit(&mut state, &mut readers).await? {
                    Some(unit) => {
                        metrics.record_commit(&unit, commit_started.elapsed());
                        totals.add(&unit.metrics);
                    }
                    // Another process on this app id claimed the unit: start again from the
                    // lake, finishing its unit first.
                    None => readers = self.resume(&mut state, &mut totals).await?,
                }
            }
            if stopping && !readers.has_uncommitted() {
                break;
            }
            let pause = readers
                .shards
                .values()
                .map(|reader| reader.next_call.saturating_duration_since(Instant::now()))
                .min()
                .unwrap_or(IDLE_POLL)
                .max(Duration::from_millis(20));
            let pause = match readers.since {
                Some(since) => pause.min(options.commit_interval.saturating_sub(since.elapsed())),
                None => pause,
            };
            stop.sleep(pause).await;
        }
        totals.seconds = started.elapsed().as_secs_f64();
        totals.cpu_seconds = super::pipeline::process_cpu_seconds();
        Ok(totals)
    }

    /// Where the lake stands on this stream: a unit claimed and not committed (by this app id,
    /// or one of another shard count) is finished first; then each shard resumes after the last
    /// sequence number committed by any app id of the stream.
    async fn resume(&self, state: &mut LakeState, totals: &mut CompactMetrics) -> Result<Readers> {
        let stream = &self.client.stream().name;
        let mut positions: BTreeMap<String, ShardPosition> = BTreeMap::new();
        for app_id in manifest::claimed_app_ids(&self.units.lake).await? {
            let Some(owner) = shard_of_app_id(stream, &app_id) else {
                continue;
            };
            // Another process of this count finishes its own units; ours, or those of a count
            // no process runs any more, are finished here.
            let finish = owner == self.shard || owner.count() != self.shard.count();
            refresh(&mut state.ledger).await?;
            let committed = committed_unit(&state.ledger, &app_id).await?;
            let unfinished = if finish {
                manifest::read_manifest(&self.units.lake, &app_id, committed + 1).await?
            } else {
                None
            };
            if let Some(unfinished) = unfinished {
                tracing::info!(%app_id, unit = unfinished.unit, "finishing a claimed stream unit");
                let input = self.fetch_ranges(&unfinished).await?;
                let metrics = self
                    .units
                    .process_unit_with_retries(&input, &unfinished, state)
                    .await?;
                totals.add(&metrics);
                merge_positions(&mut positions, &unfinished);
            } else if committed > 0 {
                if let Some(last) =
                    manifest::read_manifest(&self.units.lake, &app_id, committed).await?
                {
                    merge_positions(&mut positions, &last);
                }
            }
        }
        Ok(Readers {
            // A shard with nothing committed starts where a new one would (`list_shards`).
            shards: positions
                .into_iter()
                .filter(|(_, position)| position.last.is_some() || position.finished)
                .map(|(shard, position)| {
                    let info = ShardInfo {
                        shard_id: shard.clone(),
                        parents: Vec::new(),
                        ending_sequence: None,
                    };
                    let reader = ShardReader::new(&info, position, StartingPosition::TrimHorizon);
                    (shard, reader)
                })
                .filter(|(shard, _)| self.owns(shard))
                .collect(),
            since: None,
            unfinished_elsewhere: HashSet::new(),
            last_listing: None,
        })
    }

    fn owns(&self, shard_id: &str) -> bool {
        self.shard
            .owns(&format!("{}/{shard_id}", self.client.stream().uri()))
    }

    /// Reads the shard list: new shards are added (the first ones the lake has never read start
    /// at `--start`; children of a split or merge at their beginning), what is known learns its
    /// parents and whether it closed, and finished shards gone from the stream are dropped.
    async fn list_shards(
        &self,
        state: &mut LakeState,
        readers: &mut Readers,
        options: &FollowOptions,
    ) -> Result<()> {
        let listed = Backoff::API
            .retry_transient("listing the stream's shards", || self.client.list_shards())
            .await?;
        let listed_ids: HashSet<&str> = listed.iter().map(|info| info.shard_id.as_str()).collect();
        for info in &listed {
            if !self.owns(&info.shard_id) {
                continue;
            }
            match readers.shards.get_mut(&info.shard_id) {
                Some(reader) => {
                    reader.parents = info.parents.clone();
                    reader.ending_sequence = info.ending_sequence.clone();
                }
                None => {
                    // A child's records all come after its parents': it starts at its beginning.
                    let known_parent = info
                        .parents
                        .iter()
                        .any(|parent| listed_ids.contains(parent.as_str()));
                    let start = if known_parent {
                        StartingPosition::TrimHorizon
                    } else {
                        options.stream_start.clone()
                    };
                    let reader = ShardReader::new(info, ShardPosition::default(), start);
                    readers.shards.insert(info.shard_id.clone(), reader);
                }
            }
        }
        // A shard gone from the list is past the stream's retention: what was read of it is
        // committed, and what was not can no longer be read.
        readers.shards.retain(|shard, reader| {
            let listed = listed_ids.contains(shard.as_str());
            if !listed && !reader.read_to_end {
                tracing::warn!(%shard, last_read = ?reader.last_read(), "the shard left the stream's retention before it was read to its end; its unread records are lost to this lake");
            }
            if !listed {
                reader.read_to_end = true;
            }
            listed || !reader.buffered.is_empty()
        });
        // Parents owned by other processes: finished once their app id committed them so.
        readers.unfinished_elsewhere = listed
            .iter()
            .filter(|info| !self.owns(&info.shard_id))
            .map(|info| info.shard_id.clone())
            .collect();
        if self.shard.count() > 1 {
            refresh(&mut state.ledger).await?;
            for index in 0..self.shard.count() {
                let other = Shard::new(index, self.shard.count())?;
                if other == self.shard {
                    continue;
                }
                let app_id = app_id_of(&self.client.stream().name, other);
                let committed = committed_unit(&state.ledger, &app_id).await?;
                if committed == 0 {
                    continue;
                }
                if let Some(checkpoint) =
                    manifest::read_manifest(&self.units.lake, &app_id, committed)
                        .await?
                        .and_then(|manifest| manifest.stream)
                {
                    for (shard, position) in checkpoint.shards {
                        if position.finished {
                            readers.unfinished_elsewhere.remove(&shard);
                        }
                    }
                }
            }
        }
        readers.last_listing = Some(Instant::now());
        Ok(())
    }

    /// One `GetRecords` on each shard that may be read now; returns the largest
    /// `MillisBehindLatest`.
    async fn read_shards(&self, readers: &mut Readers) -> Result<u64> {
        let now = Instant::now();
        let ready: Vec<String> = readers
            .shards
            .iter()
            .filter(|(_, reader)| {
                !reader.read_to_end && reader.next_call <= now && readers.parents_done(reader)
            })
            .map(|(shard, _)| shard.clone())
            .collect();
        let reads = ready.iter().map(|shard| {
            let reader = &readers.shards[shard];
            let (iterator, resume_at) = (reader.iterator.clone(), reader.resume_at());
            async move { (shard, self.read_once(shard, iterator, resume_at).await) }
        });
        let results = futures::future::join_all(reads).await;
        let mut behind = 0;
        for (shard, result) in results {
            let Some(reader) = readers.shards.get_mut(shard) else {
                continue;
            };
            match result {
                Ok(page) => {
                    reader.throttled = 0;
                    behind = behind.max(page.millis_behind_latest.max(0) as u64);
                    let found = !page.records.is_empty();
                    if found {
                        readers.since.get_or_insert_with(Instant::now);
                    }
                    let millis_behind_latest = page.millis_behind_latest;
                    for record in page.records {
                        // A re-made iterator may hand back what was read: keep each once.
                        if reader
                            .last_read()
                            .is_some_and(|last| sequence_cmp(&record.sequence, last).is_le())
                        {
                            continue;
                        }
                        reader.buffered_bytes += record.data.len() as u64;
                        reader.buffered.push(record);
                    }
                    reader.iterator = page.next_iterator;
                    if reader.iterator.is_none() || (!found && reader.is_past_end()) {
                        reader.read_to_end = true;
                        reader.iterator = None;
                    }
                    let pause = if found || millis_behind_latest > 0 {
                        CALL_SPACING
                    } else {
                        IDLE_POLL
                    };
                    reader.next_call = Instant::now() + pause;
                }
                Err(error) if kinesis::is_expired_iterator(&error) => {
                    tracing::debug!(%shard, "iterator expired; a new one starts after the last record read");
                    reader.iterator = None;
                }
                Err(error) if kinesis::is_throttled(&error) || error.is_transient() => {
                    reader.throttled += 1;
                    let pause = CALL_SPACING
                        .saturating_mul(1 << reader.throttled.min(5))
                        .min(MAX_THROTTLE_PAUSE);
                    tracing::warn!(%shard, %error, "reading the shard failed; again in {pause:?}");
                    reader.iterator = None;
                    reader.next_call = Instant::now() + pause;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(behind)
    }

    /// One `GetRecords`, with a new iterator when there is none.
    async fn read_once(
        &self,
        shard: &str,
        iterator: Option<String>,
        resume_at: StartingPosition,
    ) -> Result<RecordsPage> {
        let iterator = match iterator {
            Some(iterator) => iterator,
            None => self.client.shard_iterator(shard, &resume_at).await?,
        };
        self.client.get_records(&iterator).await
    }

    /// Claims and commits one unit of what is buffered; `None` when another process claimed
    /// the unit first.
    async fn commit(
        &self,
        state: &mut LakeState,
        readers: &mut Readers,
    ) -> Result<Option<UnitDone>> {
        let app_id = self.app_id();
        refresh(&mut state.ledger).await?;
        let unit = committed_unit(&state.ledger, &app_id).await? + 1;
        let stream_uri = self.client.stream().uri();
        let mut objects = Vec::new();
        let mut ranges = Vec::new();
        let mut shard_ids = Vec::new();
        for (shard, reader) in &readers.shards {
            let (Some(first), Some(last)) = (reader.buffered.first(), reader.buffered.last())
            else {
                continue;
            };
            objects.push(SourceObject {
                uri: format!("{stream_uri}/{shard}/{}-{}", first.sequence, last.sequence),
                path: format!("{shard}/{}-{}", first.sequence, last.sequence),
                size: reader.buffered_bytes,
                last_modified_micros: first.arrival_micros,
            });
            ranges.push(ShardRange {
                shard: shard.clone(),
                first: first.sequence.clone(),
                last: last.sequence.clone(),
                records: reader.buffered.len() as u64,
            });
            shard_ids.push(shard.clone());
        }
        let checkpoint = StreamCheckpoint {
            ranges,
            shards: readers
                .shards
                .iter()
                .map(|(shard, reader)| (shard.clone(), reader.position_after_commit()))
                .collect(),
        };
        let manifest = UnitManifest {
            app_id: app_id.clone(),
            unit,
            source_root: stream_uri.clone(),
            objects,
            stream: Some(checkpoint),
        };
        if !manifest::claim(&self.units.lake, &manifest).await? {
            tracing::warn!(%app_id, unit, "another process claimed this unit; resuming from the lake");
            return Ok(None);
        }
        crate::failpoint::hit("after-claim");
        let records: Vec<Vec<StreamRecord>> = shard_ids
            .iter()
            .map(|shard| {
                readers
                    .shards
                    .get_mut(shard)
                    .map(|reader| std::mem::take(&mut reader.buffered))
                    .unwrap_or_default()
            })
            .collect();
        let input = UnitInput::Records {
            stream_uri,
            shards: Arc::new(shard_ids),
            records: Arc::new(records),
        };
        let metrics = self
            .units
            .process_unit_with_retries(&input, &manifest, state)
            .await?;
        if let Some(checkpoint) = &manifest.stream {
            for (shard, position) in &checkpoint.shards {
                if let Some(reader) = readers.shards.get_mut(shard) {
                    reader.committed = position.clone();
                    reader.buffered_bytes = 0;
                }
            }
        }
        readers.since = None;
        tracing::info!(unit, records = metrics.records_in, "stream unit committed");
        Ok(Some(UnitDone {
            metrics,
            objects: manifest.objects,
        }))
    }

    /// The records of a claimed unit's ranges, read again from the stream.
    async fn fetch_ranges(&self, unit: &UnitManifest) -> Result<UnitInput> {
        let checkpoint = unit.stream.as_ref().ok_or_else(|| Error::Manifest {
            path: format!("{} unit {}", unit.app_id, unit.unit),
            reason: "a stream app id's manifest names no shard ranges".into(),
        })?;
        let mut records = Vec::with_capacity(checkpoint.ranges.len());
        for range in &checkpoint.ranges {
            records.push(self.fetch_range(range).await?);
        }
        Ok(UnitInput::Records {
            stream_uri: self.client.stream().uri(),
            shards: Arc::new(checkpoint.ranges.iter().map(|r| r.shard.clone()).collect()),
            records: Arc::new(records),
        })
    }

    /// The records of `range`, from its first sequence number to its last.
    async fn fetch_range(&self, range: &ShardRange) -> Result<Vec<StreamRecord>> {
        let mut records = Vec::new();
        let start = StartingPosition::AtSequence(range.first.clone());
        let mut iterator = Some(
            Backoff::API
                .retry_transient("reading a unit's shard range again", || {
                    self.client.shard_iterator(&range.shard, &start)
                })
                .await?,
        );
        let mut empty_reads = 0;
        while let Some(current) = iterator {
            let page = Backoff::API
                .retry_transient("reading a unit's shard range again", || {
                    self.client.get_records(&current)
                })
                .await?;
            empty_reads = if page.records.is_empty() {
                empty_reads + 1
            } else {
                0
            };
            for record in page.records {
                if sequence_cmp(&record.sequence, &range.last).is_gt() {
                    return Ok(records);
                }
                let last = sequence_cmp(&record.sequence, &range.last).is_eq();
                records.push(record);
                if last {
                    return Ok(records);
                }
            }
            iterator = page.next_iterator;
            if empty_reads > 0 {
                tokio::time::sleep(CALL_SPACING).await;
            }
            if empty_reads >= 20 {
                break;
            }
        }
        // The range is no longer all there: past the stream's retention, or never was.
        Err(Error::Stream {
            stream: self.client.stream().name.clone(),
            what: format!("reading shard {} again from {} to {}", range.shard, range.first, range.last),
            transient: false,
            source: format!(
                "only {} of the unit's {} records are still in the stream (past its retention?); the unit cannot be finished",
                records.len(),
                range.records
            )
            .into(),
        })
    }
}

/// Each shard's position in `unit`, kept where it is further than what `positions` holds.
fn merge_positions(positions: &mut BTreeMap<String, ShardPosition>, unit: &UnitManifest) {
    let Some(checkpoint) = &unit.stream else {
        return;
    };
    for (shard, position) in &checkpoint.shards {
        let kept = positions.entry(shard.clone()).or_default();
        let further = match (&kept.last, &position.last) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(kept), Some(new)) => sequence_cmp(new, kept).is_gt(),
        };
        if further {
            kept.last = position.last.clone();
        }
        kept.finished |= position.finished;
    }
}

/// The app id of a stream's units read by `shard` of the processes.
fn app_id_of(stream: &str, shard: Shard) -> String {
    if shard.count() == 1 {
        format!("{STREAM_APP_ID}-{stream}")
    } else {
        format!(
            "{STREAM_APP_ID}-{stream}-shard-{}-of-{}",
            shard.index(),
            shard.count()
        )
    }
}

/// The shard of processes whose units `app_id` names, when it is one of `stream`'s.
fn shard_of_app_id(stream: &str, app_id: &str) -> Option<Shard> {
    let rest = app_id
        .strip_prefix(STREAM_APP_ID)?
        .strip_prefix('-')?
        .strip_prefix(stream)?;
    if rest.is_empty() {
        return Some(Shard::default());
    }
    let (index, count) = rest.strip_prefix("-shard-")?.split_once("-of-")?;
    Shard::new(index.parse().ok()?, count.parse().ok()?).ok()
}

/// The prefix of stream app ids (`eventlake-compact` stays the objects' own).
const STREAM_APP_ID: &str = "eventlake-kinesis";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_name_the_stream_and_the_shard_of_processes() {
        let whole = app_id_of("client-events", Shard::default());
        let half = app_id_of("client-events", Shard::new(1, 2).unwrap());
        assert_eq!(whole, "eventlake-kinesis-client-events");
        assert_eq!(
            shard_of_app_id("client-events", &whole),
            Some(Shard::default())
        );
        assert_eq!(
            shard_of_app_id("client-events", &half),
            Some(Shard::new(1, 2).unwrap())
        );
        assert_eq!(shard_of_app_id("client", &whole), None);
        assert_eq!(shard_of_app_id("client-events", "eventlake-compact"), None);
    }

    #[test]
    fn positions_merge_to_the_furthest() {
        let unit = |last: &str, finished| UnitManifest {
            app_id: "a".into(),
            unit: 1,
            source_root: "kinesis://s".into(),
            objects: Vec::new(),
            stream: Some(StreamCheckpoint {
                ranges: Vec::new(),
                shards: [(
                    "shard-0".to_owned(),
                    ShardPosition {
                        last: Some(last.into()),
                        finished,
                    },
                )]
                .into(),
            }),
        };
        let mut positions = BTreeMap::new();
        merge_positions(&mut positions, &unit("100", false));
        merge_positions(&mut positions, &unit("99", true));
        assert_eq!(
            positions["shard-0"],
            ShardPosition {
                last: Some("100".into()),
                finished: true
            }
        );
    }
}
