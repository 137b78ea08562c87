//! `eventlake compact`: raw objects into the lake, exactly once; then, if asked, optimize.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::cli::args::{CompactArgs, OPTIMIZE_SORT_BY, OPTIMIZE_TARGET_BYTES};
use crate::cli::progress::CompactBar;
use crate::cli::to_json;
use crate::compact::{
    CompactMetrics, Compaction, FollowMetrics, FollowOptions, Shard, StopSignal, StreamCompaction,
};
use crate::config::CompactPlan;
use crate::error::Result;
use crate::source::kinesis::{KinesisClient, StartingPosition, StreamName};
use crate::source::Source;
use crate::table::Lake;

/// What a `compact` runs: the flags over the config file, read once and validated (the
/// partition template parsed) before any object is read.
struct CompactRun {
    /// The lake as given, for the summary.
    lake_location: String,
    lake: Lake,
    plan: CompactPlan,
    storage_options: std::collections::HashMap<String, String>,
    shard: Shard,
}

fn plan(args: &CompactArgs, endpoint_url: Option<&str>) -> Result<CompactRun> {
    let settings = args.at.resolve(endpoint_url)?;
    let mut plan = settings.config.compact_plan()?;
    if let Some(workers) = args.workers {
        plan.workers = workers.max(1);
    }
    plan.max_runtime = args.max_runtime.map(std::time::Duration::from_secs);
    let shard = match (args.shard, args.shard_count) {
        (Some(shard), _) => shard,
        (None, Some(count)) => Shard::from_environment(count, |name| std::env::var(name).ok())?,
        (None, None) => Shard::default(),
    };
    Ok(CompactRun {
        lake: settings.open()?,
        lake_location: settings.location,
        plan,
        storage_options: settings.storage_options,
        shard,
    })
}

pub async fn run(args: &CompactArgs, endpoint_url: Option<&str>) -> Result<()> {
    let CompactRun {
        lake_location,
        lake,
        mut plan,
        storage_options,
        shard,
    } = plan(args, endpoint_url)?;
    if let Some(stream) = StreamName::parse(&args.source) {
        let stream = stream?;
        if !args.follow {
            return Err(crate::error::Error::InvalidArgument(format!(
                "--source {}: a stream is read with --follow (it has no end to compact up to)",
                args.source
            )));
        }
        let region = stream
            .arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|region| !region.is_empty());
        let config = crate::aws::sdk_config(region, endpoint_url).await;
        let client = KinesisClient::new(&config, stream)?;
        let compaction = StreamCompaction::new(client, lake, plan).with_shard(shard);
        let follow = |options, stop, metrics| compaction.follow(options, stop, metrics);
        return follow_until_stopped(args, endpoint_url, &lake_location, follow).await;
    }
    let source = Source::new(&args.source, &storage_options)?;
    if args.workers.is_none() && source.root().scheme() != "file" {
        // Reading from S3 waits on the network: more readers than cores keep the cores busy.
        plan.workers *= 4;
    }
    let mut compaction = Compaction::new(source, lake.clone(), plan).with_shard(shard);
    if args.follow {
        let follow = |options, stop, metrics| compaction.follow(options, stop, metrics);
        return follow_until_stopped(args, endpoint_url, &lake_location, follow).await;
    }
    if !args.json && std::io::stderr().is_terminal() {
        compaction = compaction.with_progress(Arc::new(CompactBar::new()));
    }
    let metrics = compaction.run().await?;
    if args.json && !args.then_optimize {
        println!("{}", to_json(&metrics)?);
    } else if !args.json {
        print_summary(&metrics, &lake_location);
    }
    if !args.then_optimize {
        return Ok(());
    }
    // Packed and sorted as a plain `eventlake optimize` packs and sorts.
    let optimized = crate::upkeep::optimize(
        &lake,
        crate::table::EVENTS,
        &[],
        OPTIMIZE_TARGET_BYTES,
        &[OPTIMIZE_SORT_BY.to_owned()],
    )
    .await?;
    if args.json {
        println!(
            "{}",
            to_json(&serde_json::json!({"compact": metrics, "optimize": optimized}))?
        );
    } else {
        println!(
            "optimized events: {} files into {}",
            optimized.files_removed, optimized.files_added
        );
    }
    Ok(())
}

/// `compact --follow` (objects or a stream): until a signal, then the totals.
async fn follow_until_stopped<F, Fut>(
    args: &CompactArgs,
    endpoint_url: Option<&str>,
    lake_location: &str,
    follow: F,
) -> Result<()>
where
    F: FnOnce(FollowOptions, StopSignal, Arc<FollowMetrics>) -> Fut,
    Fut: std::future::Future<Output = Result<CompactMetrics>>,
{
    let metrics = Arc::new(FollowMetrics::default());
    if let Some(address) = &args.metrics_addr {
        let bound = metrics.clone().serve(address).await?;
        tracing::info!("metrics at http://{bound}/metrics");
    }
    let options = FollowOptions {
        queue: args.queue.clone(),
        endpoint_url: endpoint_url.map(str::to_owned),
        lookback: args.lookback.as_duration(),
        full_listing_every: args.full_listing_every.as_duration(),
        commit_interval: args.commit_interval.as_duration(),
        commit_bytes: args.commit_bytes.0,
        stream_start: StartingPosition::parse(&args.start)?,
    };
    let stop = StopSignal::from_signals();
    // A second signal drops the run where it is (the unit protocol makes that safe) and the
    // exit code says so.
    let totals = tokio::select! {
        totals = follow(options, stop.clone(), metrics) => totals?,
        () = stop.interrupted() => return Err(crate::error::Error::Interrupted),
    };
    if args.json {
        println!("{}", to_json(&totals)?);
    } else {
        print_summary(&totals, lake_location);
    }
    Ok(())
}

pub fn print_summary(metrics: &CompactMetrics, lake: &str) {
    let rate = if metrics.seconds > 0.0 {
        metrics.records_in as f64 / metrics.seconds
    } else {
        0.0
    };
    println!(
        "compacted {} objects ({} bytes) into {lake} in {:.2}s ({:.0} records/s): {} records in, {} written, {} duplicates dropped, {} to errors, {} files, {} units; {} objects were already committed{}",
        metrics.objects,
        metrics.bytes_in,
        metrics.seconds,
        rate,
        metrics.records_in,
        metrics.records_written,
        metrics.duplicates,
        metrics.errors,
        metrics.files_written,
        metrics.units,
        metrics.objects_skipped,
        if metrics.stopped_early { "; stopped early (--max-runtime), run again to continue" } else { "" }
    );
}
