//! What `compact --follow` exposes for monitoring: Prometheus text metrics at `/metrics` and a
//! readiness check at `/healthz`, served on `--metrics-addr`.
//!
//! A dozen counters and one histogram do not need a metrics framework: they are atomics and a
//! small table here, rendered in the text exposition format.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::UnitDone;
use crate::error::{Error, Result};

/// Upper bounds (seconds) of the lag and commit-duration histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        for (bound, count) in BUCKETS.iter().zip(&mut self.counts) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

/// Counters of a `--follow` run, shared with the metrics server.
#[derive(Default)]
pub struct FollowMetrics {
    ready: AtomicBool,
    objects: AtomicU64,
    records: AtomicU64,
    events: AtomicU64,
    errors: AtomicU64,
    duplicates: AtomicU64,
    commits: AtomicU64,
    queue_depth: AtomicU64,
    pending_objects: AtomicU64,
    pending_bytes: AtomicU64,
    /// A stream's largest `MillisBehindLatest` over its shards, at the last reads.
    millis_behind_latest: AtomicU64,
    /// Seconds from an object's arrival to its commit, and commit durations.
    histograms: Mutex<(Histogram, Histogram)>,
}

impl FollowMetrics {
    pub(super) fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    pub(super) fn set_queue_depth(&self, depth: u64) {
        self.queue_depth.store(depth, Ordering::Relaxed);
    }

    pub(super) fn set_pending(&self, objects: u64, bytes: u64) {
        self.pending_objects.store(objects, Ordering::Relaxed);
        self.pending_bytes.store(bytes, Ordering::Relaxed);
    }

    pub(super) fn set_millis_behind_latest(&self, millis: u64) {
        self.millis_behind_latest.store(millis, Ordering::Relaxed);
    }

    pub(super) fn record_commit(&self, unit: &UnitDone, took: Duration) {
        let metrics = &unit.metrics;
        self.objects.fetch_add(metrics.objects, Ordering::Relaxed);
        self.records
            .fetch_add(metrics.records_in, Ordering::Relaxed);
        self.events
            .fetch_add(metrics.records_written, Ordering::Relaxed);
        self.errors.fetch_add(metrics.errors, Ordering::Relaxed);
        self.duplicates
            .fetch_add(metrics.duplicates, Ordering::Relaxed);
        self.commits.fetch_add(metrics.units, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp_micros();
        if let Ok(mut histograms) = self.histograms.lock() {
            for object in &unit.objects {
                let lag = (now - object.last_modified_micros).max(0) as f64 / 1e6;
                histograms.0.observe(lag);
            }
            histograms.1.observe(took.as_secs_f64());
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let counters = [
            ("objects", "Source objects committed.", &self.objects),
            (
                "records",
                "Records framed in committed objects.",
                &self.records,
            ),
            ("events", "Events added to the events table.", &self.events),
            ("errors", "Records added to the errors table.", &self.errors),
            (
                "duplicates",
                "Events dropped as duplicates of an id already stored.",
                &self.duplicates,
            ),
            ("commits", "Units committed.", &self.commits),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP eventlake_{name}_total {help}\n# TYPE eventlake_{name}_total counter\neventlake_{name}_total {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "queue_depth",
                "Messages waiting in the SQS queue (approximate).",
                &self.queue_depth,
            ),
            (
                "pending_objects",
                "Objects found and not yet committed.",
                &self.pending_objects,
            ),
            (
                "pending_bytes",
                "Bytes of objects found and not yet committed.",
                &self.pending_bytes,
            ),
            (
                "millis_behind_latest",
                "How far a stream's reading is behind the newest record (the largest over its shards).",
                &self.millis_behind_latest,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP eventlake_{name} {help}\n# TYPE eventlake_{name} gauge\neventlake_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        if let Ok(histograms) = self.histograms.lock() {
            histograms.0.render(
                "eventlake_commit_lag_seconds",
                "Seconds from an object's arrival in the source to its commit.",
                &mut out,
            );
            histograms.1.render(
                "eventlake_commit_duration_seconds",
                "Seconds a micro-batch took from its start to its commit.",
                &mut out,
            );
        }
        out
    }

    /// Serves `/metrics` and `/healthz` on `address` until the process ends.
    pub async fn serve(self: Arc<Self>, address: &str) -> Result<std::net::SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| {
                Error::InvalidArgument(format!("--metrics-addr {address}: {error}"))
            })?;
        let bound = listener.local_addr().map_err(|error| {
            Error::InvalidArgument(format!("--metrics-addr {address}: {error}"))
        })?;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let metrics = self.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let read = stream.read(&mut request).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&request[..read]);
                    let path = line.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = match path {
                        "/metrics" => ("200 OK", metrics.render()),
                        "/healthz" if metrics.ready.load(Ordering::Relaxed) => {
                            ("200 OK", "ok\n".to_owned())
                        }
                        "/healthz" => ("503 Service Unavailable", "starting\n".to_owned()),
                        _ => ("404 Not Found", "try /metrics or /healthz\n".to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Ok(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_and_health_are_served_over_http() {
        let metrics = Arc::new(FollowMetrics::default());
        let address = metrics.clone().serve("127.0.0.1:0").await.unwrap();
        let get = |path: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        };
        assert!(get("/healthz").await.starts_with("HTTP/1.1 503"));
        metrics.set_ready();
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        metrics.record_commit(
            &UnitDone {
                metrics: crate::compact::CompactMetrics {
                    objects: 2,
                    records_in: 10,
                    units: 1,
                    ..Default::default()
                },
                objects: Vec::new(),
            },
            Duration::from_millis(1_500),
        );
        let text = get("/metrics").await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        for line in [
            "eventlake_objects_total 2",
            "eventlake_records_total 10",
            "eventlake_commits_total 1",
            "eventlake_commit_duration_seconds_bucket{le=\"2\"} 1",
            "eventlake_commit_duration_seconds_count 1",
            "eventlake_queue_depth 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    }
}
