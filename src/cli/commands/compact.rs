//! `eventlake compact`: raw objects into the lake, exactly once; then, if asked, optimize.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::cli::args::{CompactArgs, OPTIMIZE_SORT_BY, OPTIMIZE_TARGET_BYTES};
use crate::cli::progress::CompactBar;
use crate::cli::to_json;
use crate::compact::{CompactMetrics, Compaction, FollowMetrics, FollowOptions, Shard, StopSignal};
use crate::config::CompactPlan;
use crate::error::Result;
use crate::source::Source;
use crate::table::Lake;

/// What a `compact` runs: the flags over the config file, read once and validated (the
/// partition template parsed) before any object is read.
struct CompactRun {
    source: Source,
    /// The lake as given, for the summary.
    lake_location: String,
    lake: Lake,
    plan: CompactPlan,
}

fn plan(args: &CompactArgs, endpoint_url: Option<&str>) -> Result<CompactRun> {
    let settings = args.at.resolve(endpoint_url)?;
    let mut plan = settings.config.compact_plan()?;
    if let Some(workers) = args.workers {
        plan.workers = workers.max(1);
    }
    plan.max_runtime = args.max_runtime.map(std::time::Duration::from_secs);
    let source = Source::new(&args.source, &settings.storage_options)?;
    if args.workers.is_none() && source.root().scheme() != "file" {
        // Reading from S3 waits on the network: more readers than cores keep the cores busy.
        plan.workers *= 4;
    }
    Ok(CompactRun {
        source,
        lake: settings.open()?,
        lake_location: settings.location,
        plan,
    })
}

pub async fn run(args: &CompactArgs, endpoint_url: Option<&str>) -> Result<()> {
    let CompactRun {
        source,
        lake_location,
        lake,
        plan,
    } = plan(args, endpoint_url)?;
    let shard = match (args.shard, args.shard_count) {
        (Some(shard), _) => shard,
        (None, Some(count)) => Shard::from_environment(count, |name| std::env::var(name).ok())?,
        (None, None) => Shard::default(),
    };
    let mut compaction = Compaction::new(source, lake.clone(), plan).with_shard(shard);
    if args.follow {
        return follow(args, endpoint_url, compaction, &lake_location).await;
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

/// `compact --follow`: until a signal, then the totals.
async fn follow(
    args: &CompactArgs,
    endpoint_url: Option<&str>,
    compaction: Compaction,
    lake_location: &str,
) -> Result<()> {
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
    };
    let stop = StopSignal::from_signals();
    // A second signal drops the run where it is (the unit protocol makes that safe) and the
    // exit code says so.
    let totals = tokio::select! {
        totals = compaction.follow(options, stop.clone(), metrics) => totals?,
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
