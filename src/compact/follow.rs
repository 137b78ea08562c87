//! `compact --follow`: runs until stopped, committing new objects in micro-batches.
//!
//! ```text
//!  discover (SQS notifications, or a listing from the watermark minus a lookback)
//!     │  minus committed, minus pending
//!     ▼
//!  pending ──(commit interval since the first pending object, or commit bytes)──▶ one unit
//!     │                                                   (the batch protocol, unit.rs)
//!     ▼
//!  delete the queue messages whose objects are all committed
//! ```
//!
//! Guarantee: each micro-batch is one unit of the batch protocol, so exactly once holds across
//! crashes, restarts and batch runs on the same lake; a queue message is deleted only after every
//! object it names is committed (or found committed). Memory: the committed set (16 bytes an
//! object), the pending objects, the unit's ids, and the bloom filters the id index keeps
//! across commits, up to `FILTER_CACHE_BYTES` (past it, filters are read again when needed).
//! The cost of a commit does not grow with the lake: no full ledger load, no full listing except
//! every `full_listing_every`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

use super::metrics::FollowMetrics;
use super::queue::{Notification, Queue};
use super::{CompactMetrics, Compaction, LakeState};
use crate::error::Result;
use crate::source::SourceObject;

/// How `--follow` finds and commits new objects.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// An SQS queue of S3 event notifications; without one, the source is listed.
    pub queue: Option<String>,
    /// The AWS endpoint for SQS (tests, LocalStack, moto).
    pub endpoint_url: Option<String>,
    /// Listings start this long before the newest object seen.
    pub lookback: Duration,
    /// A full listing this often catches objects that arrived out of order.
    pub full_listing_every: Duration,
    /// A commit when this long has passed since the first uncommitted object …
    pub commit_interval: Duration,
    /// … or when this many bytes are pending, whichever comes first.
    pub commit_bytes: u64,
    /// A stream's shards the lake has never read start here.
    pub stream_start: crate::source::kinesis::StartingPosition,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            queue: None,
            endpoint_url: None,
            lookback: Duration::from_secs(3600),
            full_listing_every: Duration::from_secs(3600),
            commit_interval: Duration::from_secs(10),
            commit_bytes: 256 << 20,
            stream_start: crate::source::kinesis::StartingPosition::TrimHorizon,
        }
    }
}

/// Stop requests from signals: the first asks for a clean stop after the current micro-batch,
/// the second for a stop at once ([`StopSignal::interrupted`]; the next start finishes the unit).
#[derive(Clone, Default)]
pub struct StopSignal {
    requested: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
    interrupted: Arc<AtomicBool>,
    notify_interrupted: Arc<tokio::sync::Notify>,
}

impl StopSignal {
    /// Listens for SIGTERM and SIGINT.
    pub fn from_signals() -> Self {
        let stop = Self::default();
        let listener = stop.clone();
        tokio::spawn(async move {
            // One listener for the whole run: one made per wait would miss a signal that came
            // between two waits.
            let mut signals = Signals::new();
            loop {
                signals.next().await;
                if listener.is_requested() {
                    tracing::warn!(
                        "second stop signal: exiting now; the next run finishes the unit"
                    );
                    listener.interrupt();
                    return;
                }
                tracing::info!("stop signal: committing the current micro-batch, then exiting");
                listener.request();
            }
        });
        stop
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested (at once if it already was).
    async fn wait(&self) {
        wait_for(&self.notify, &self.requested).await;
    }

    /// Sleeps for `pause`, or less if a stop is requested meanwhile.
    pub(super) async fn sleep(&self, pause: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.wait() => {}
        }
    }

    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.notify_interrupted.notify_waiters();
    }

    /// Resolves once a second stop signal asks to stop without finishing the micro-batch.
    pub async fn interrupted(&self) {
        wait_for(&self.notify_interrupted, &self.interrupted).await;
    }
}

/// Waits until `flag` is set and `notify` notified. The `Notified` future is registered before
/// the flag is read, so a notification between the two is not lost.
async fn wait_for(notify: &tokio::sync::Notify, flag: &AtomicBool) {
    let notified = notify.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if !flag.load(Ordering::SeqCst) {
        notified.await;
    }
}

/// SIGTERM and SIGINT, as one stream: both listeners live as long as it does, so no signal is
/// missed between two waits.
struct Signals {
    #[cfg(unix)]
    listeners: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listeners = signal(SignalKind::terminate())
                .and_then(|terminate| Ok((terminate, signal(SignalKind::interrupt())?)))
                .ok();
            Self { listeners }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((terminate, interrupt)) = &mut self.listeners {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Objects found but not yet committed, in arrival order.
#[derive(Default)]
struct Pending {
    objects: Vec<SourceObject>,
    uris: HashSet<String>,
    bytes: u64,
    /// When the oldest pending object was found.
    since: Option<Instant>,
}

impl Pending {
    fn add(&mut self, object: SourceObject) {
        if self.uris.insert(object.uri.clone()) {
            self.bytes += object.size;
            self.since.get_or_insert_with(Instant::now);
            self.objects.push(object);
        }
    }

    fn is_due(&self, options: &FollowOptions) -> bool {
        self.bytes >= options.commit_bytes
            || self
                .since
                .is_some_and(|since| since.elapsed() >= options.commit_interval)
    }

    /// The wait until the pending objects are due, or `None` when there are none.
    fn due_in(&self, options: &FollowOptions) -> Option<Duration> {
        self.since
            .map(|since| options.commit_interval.saturating_sub(since.elapsed()))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Listing discovery: from the newest key time seen minus the lookback, with a full listing
/// every `full_listing_every`.
struct Lister {
    last_full: Option<Instant>,
    /// The newest time (µs) found in a key's `YYYY/MM/DD/HH/` part.
    watermark: Option<i64>,
    /// Key prefixes (relative to the source) that are followed by `YYYY/MM/DD/HH/`.
    dated_prefixes: HashSet<String>,
}

impl Compaction {
    /// Runs until `stop` is requested: discovers new objects and commits them in micro-batches.
    pub async fn follow(
        self,
        options: FollowOptions,
        stop: StopSignal,
        metrics: Arc<FollowMetrics>,
    ) -> Result<CompactMetrics> {
        let started = Instant::now();
        let mut state = LakeState::open(&self.units, &self.shard.app_id()).await?;
        self.finish_other_shard_counts(&mut state).await?;
        state.table_ids = super::id_index::TableIds::new(super::id_index::FILTER_CACHE_BYTES);
        let mut totals = CompactMetrics::default();
        let mut pending = Pending::default();
        let queue = match &options.queue {
            Some(url) => Some(Queue::connect(url, options.endpoint_url.as_deref()).await?),
            None => None,
        };
        // Queue messages not yet deleted, with the objects each names.
        let mut held: Vec<Notification> = Vec::new();
        let mut lister = Lister {
            last_full: None,
            watermark: None,
            dated_prefixes: HashSet::new(),
        };
        metrics.set_ready();
        loop {
            let stopping = stop.is_requested();
            // Discover: a full listing now and then in both modes; the queue or a short listing
            // otherwise.
            let full_due = lister
                .last_full
                .is_none_or(|last| last.elapsed() >= options.full_listing_every);
            let found = if full_due || (queue.is_none() && !stopping) {
                let found = self
                    .list_new(
                        &mut state,
                        &pending,
                        &mut lister,
                        full_due,
                        options.lookback,
                    )
                    .await?;
                if full_due {
                    lister.last_full = Some(Instant::now());
                }
                found
            } else {
                Vec::new()
            };
            for object in found {
                pending.add(object);
            }
            if let (Some(queue), false) = (&queue, stopping) {
                let wait = pending
                    .due_in(&options)
                    .unwrap_or(Duration::from_secs(20))
                    .min(Duration::from_secs(20));
                let received = tokio::select! {
                    received = queue.receive(&self.source, wait) => received?,
                    _ = stop.wait() => Vec::new(),
                };
                // Each shard reads its own queue (a fan-out of the bucket's notifications) and
                // takes the objects it owns; the rest are other shards'.
                for notification in received {
                    let ours: Vec<SourceObject> = notification
                        .objects
                        .iter()
                        .filter(|object| self.shard.owns(&object.uri))
                        .cloned()
                        .collect();
                    let (new, committed) =
                        state.committed.split_committed(&state.ledger, ours).await?;
                    // Known from now on, so the message can go (what arrived, not what is
                    // stored).
                    for object in committed {
                        state.committed.insert(&object.uri);
                    }
                    for object in new {
                        pending.add(object);
                    }
                    held.push(notification);
                }
                metrics.set_queue_depth(queue.depth().await.unwrap_or(0));
            }
            metrics.set_pending(pending.objects.len() as u64, pending.bytes);

            if !pending.objects.is_empty() && (pending.is_due(&options) || stopping) {
                let mut objects = std::mem::take(&mut pending.objects);
                pending.clear();
                objects.retain(|object| !state.committed.is_known(&object.uri));
                let commit_started = Instant::now();
                if state.table_ids.is_nearly_full() {
                    state.table_ids.retain_files(&state.events)?;
                }
                while let Some(unit) = self.step(&mut state, &mut objects).await? {
                    metrics.record_commit(&unit, commit_started.elapsed());
                    totals.add(&unit.metrics);
                    if !stopping {
                        self.units
                            .progress
                            .object_done(unit.metrics.bytes_in, unit.metrics.records_in);
                    }
                }
            }
            if let Some(queue) = &queue {
                // A message goes once every object of ours it names is committed (or was already).
                let (done, waiting): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut held).into_iter().partition(|message| {
                        message.objects.iter().all(|object| {
                            !self.shard.owns(&object.uri) || state.committed.is_known(&object.uri)
                        })
                    });
                held = waiting;
                if done.iter().any(|message| !message.objects.is_empty()) {
                    crate::failpoint::hit("before-queue-delete");
                }
                queue.delete(done).await?;
            }
            if stopping && pending.objects.is_empty() {
                break;
            }
            if queue.is_none() && !stopping {
                // Listing mode polls: sooner when pending objects come due.
                let pause = pending
                    .due_in(&options)
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(200), Duration::from_secs(1));
                stop.sleep(pause).await;
            }
        }
        totals.seconds = started.elapsed().as_secs_f64();
        totals.cpu_seconds = super::pipeline::process_cpu_seconds();
        Ok(totals)
    }

    /// New objects from a listing: the whole source when `full`, else each dated prefix from the
    /// watermark minus the lookback. Every listed key (new or not) teaches the lister where the
    /// `YYYY/MM/DD/HH/` parts are and how far the source has come.
    async fn list_new(
        &self,
        state: &mut LakeState,
        pending: &Pending,
        lister: &mut Lister,
        full: bool,
        lookback: Duration,
    ) -> Result<Vec<SourceObject>> {
        let starts: Vec<Option<(String, String)>> = match (full, lister.watermark) {
            (false, Some(watermark)) if !lister.dated_prefixes.is_empty() => {
                let lookback_micros = i64::try_from(lookback.as_micros()).unwrap_or(i64::MAX);
                let from =
                    crate::time::CivilTime::from_micros(watermark.saturating_sub(lookback_micros));
                lister
                    .dated_prefixes
                    .iter()
                    .map(|prefix| Some((prefix.clone(), format!("{prefix}{}", from.hour_path()))))
                    .collect()
            }
            _ => vec![None],
        };
        let mut found = Vec::new();
        for start in starts {
            let after = start
                .as_ref()
                .map(|(prefix, offset)| (prefix.as_str(), offset.as_str()));
            let mut pages = self.source.pages(after)?;
            while let Some(page) = pages.try_next().await? {
                let mut candidates = Vec::new();
                for object in page {
                    if let Some((prefix, micros)) = self.source.dated_prefix(&object.path) {
                        lister.watermark =
                            Some(lister.watermark.map_or(micros, |seen| seen.max(micros)));
                        if !lister.dated_prefixes.contains(&prefix) {
                            lister.dated_prefixes.insert(prefix);
                        }
                    }
                    if self.shard.owns(&object.uri)
                        && !pending.uris.contains(&object.uri)
                        && !state.is_inside_lake(&object)
                    {
                        candidates.push(object);
                    }
                }
                let (new, _) = state
                    .committed
                    .split_committed(&state.ledger, candidates)
                    .await?;
                found.extend(new);
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }
}
