//! The upkeep commands a scheduler runs: `optimize`, `vacuum`, `expire`, and `history` to see
//! what they (and every other commit) did.

use crate::cli::args::{ExpireArgs, HistoryArgs, OptimizeArgs, VacuumArgs};
use crate::cli::to_json;
use crate::error::{Error, Result};

pub async fn optimize(args: &OptimizeArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    let filters = match &args.where_ {
        Some(text) => crate::upkeep::parse_partition_filter(text)?,
        None => Vec::new(),
    };
    let sort_by: Vec<String> = args
        .sort_by
        .iter()
        .filter(|column| column.as_str() != "none" && !column.is_empty())
        .cloned()
        .collect();
    let summary =
        crate::upkeep::optimize(&lake, &args.table, &filters, args.target_size.0, &sort_by).await?;
    if args.json {
        println!("{}", to_json(&summary)?);
    } else {
        println!(
            "optimized {}: {} files into {} across {} partitions",
            summary.table, summary.files_removed, summary.files_added, summary.partitions_optimized
        );
    }
    Ok(())
}

pub async fn vacuum(args: &VacuumArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    let summaries = crate::upkeep::vacuum(
        &lake,
        args.retain.as_duration(),
        args.dry_run,
        args.break_time_travel_and_running_readers,
    )
    .await?;
    if args.json {
        println!("{}", to_json(&summaries)?);
        return Ok(());
    }
    for summary in summaries {
        println!(
            "{}: {} {} files",
            summary.table,
            if summary.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            summary.files_deleted
        );
        for example in summary.examples.iter().filter(|_| summary.dry_run) {
            println!("  {example}");
        }
    }
    Ok(())
}

pub async fn expire(args: &ExpireArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    let days = args.older_than.0 / 86_400;
    let cutoff = chrono::Duration::try_days(days)
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .ok_or_else(|| Error::InvalidArgument(format!("--older-than {days}d: too far back")))?
        .format("%Y-%m-%d")
        .to_string();
    let summaries = crate::upkeep::expire(&lake, &cutoff).await?;
    if args.json {
        println!("{}", to_json(&summaries)?);
        return Ok(());
    }
    for summary in summaries {
        println!(
            "{}: deleted days before {} ({} files)",
            summary.table, summary.cutoff_day, summary.files_removed
        );
    }
    Ok(())
}

pub async fn history(args: &HistoryArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    let commits = crate::upkeep::history(&lake, args.limit).await?;
    if args.json {
        println!("{}", to_json(&commits)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:>7} {:<14} what",
        "time (UTC)", "table", "version", "operation"
    );
    for commit in &commits {
        // To the second in the table; --json has the milliseconds.
        let time = commit
            .timestamp
            .as_deref()
            .and_then(|time| time.get(..19))
            .map_or_else(|| "-".to_owned(), |time| format!("{time}Z"));
        println!(
            "{:<20} {:<16} {:>7} {:<14} {}",
            time,
            commit.table,
            commit
                .version
                .map_or("-".to_owned(), |version| version.to_string()),
            commit.operation,
            commit.summary()
        );
    }
    Ok(())
}
