//! `eventlake replay`: events chosen with SQL back into EventBridge (or into PutEvents files).

use std::io::IsTerminal;

use crate::cli::args::{ReplayArgs, SizeLimit};
use crate::cli::progress::ReplayBar;
use crate::cli::{queries_dir, to_json};
use crate::error::{Error, Result};
use crate::query::params::{bind_untyped, parse_assignments};
use crate::replay::{entry, ReplayOptions, ReplaySummary, Selection, Target};

pub async fn run(args: &ReplayArgs, endpoint_url: Option<&str>) -> Result<()> {
    let summary = replay(args, endpoint_url).await?;
    if args.json {
        println!("{}", to_json(&summary)?);
    } else {
        print_summary(&summary);
    }
    if summary.failed > 0 || summary.too_large > 0 || summary.in_doubt > 0 {
        return Err(Error::Incomplete(format!(
            "{} events failed, {} were too large to send and {} got no answer (see above); a rerun of --name {} retries the failed ones, and the unanswered ones only with --resend-in-doubt (EventBridge may have them already)",
            summary.failed, summary.too_large, summary.in_doubt, summary.replay_name
        )));
    }
    Ok(())
}

async fn replay(args: &ReplayArgs, endpoint_url: Option<&str>) -> Result<ReplaySummary> {
    let given = parse_assignments(&args.params)?;
    let (selection, params) = match (&args.where_, &args.file, &args.query) {
        (Some(predicate), _, _) => (Selection::Where(predicate.clone()), bind_untyped(&given)),
        (None, Some(file), _) => {
            let (sql, params) = crate::query::saved::read_sql_file(file, &given)?;
            (Selection::Query(sql), params)
        }
        (None, None, Some(name)) => {
            let catalog =
                crate::query::saved::catalog(queries_dir(args.queries.as_deref()).as_deref())?;
            let saved = catalog.get(name).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no saved query named {name:?} (eventlake query --list shows them)"
                ))
            })?;
            (Selection::Query(saved.sql.clone()), saved.bind(&given)?)
        }
        (None, None, None) => {
            return Err(Error::InvalidArgument(
                "say which events: --where PREDICATE, -f FILE or a saved query's name".into(),
            ))
        }
    };
    if !args.dry_run && args.to_file.is_none() && args.event_bus.is_none() {
        return Err(Error::InvalidArgument(
            "say where the events go: --event-bus NAME, --to-file DIR, or --dry-run".into(),
        ));
    }
    let target = target(args, endpoint_url).await?;
    let options = ReplayOptions {
        name: args.name.clone(),
        selection,
        params,
        format: entry::EntryFormat {
            as_stored: args.as_stored,
            mark: (!args.no_mark).then(|| args.name.clone()),
        },
        max_request_bytes: match args.size_limit {
            SizeLimit::OneMb => entry::DEFAULT_MAX_BYTES,
            SizeLimit::Legacy256Kb => entry::LEGACY_MAX_BYTES,
        },
        rate: args.rate,
        concurrency: args.concurrency.max(1),
        dry_run: args.dry_run,
        resend_in_doubt: args.resend_in_doubt,
        as_of: args.as_of.clone(),
    };
    let lake = args.at.open(endpoint_url)?;
    let bar = ReplayBar::new(!args.json && std::io::stderr().is_terminal());
    let summary = crate::replay::replay(&lake, &options, target.as_ref(), Some(&bar)).await;
    bar.finish();
    summary
}

/// Where the events go: files in `--to-file DIR` (named for `--event-bus`, if given), the
/// event bus, or nowhere (`--dry-run`).
async fn target(args: &ReplayArgs, endpoint_url: Option<&str>) -> Result<Option<Target>> {
    Ok(match (&args.to_file, &args.event_bus) {
        (Some(dir), bus) => {
            std::fs::create_dir_all(dir).map_err(|error| Error::Config {
                path: dir.clone(),
                reason: error.to_string(),
            })?;
            Some(Target::Files {
                dir: dir.clone(),
                event_bus: bus.clone(),
            })
        }
        (None, Some(bus)) => {
            let config = crate::aws::sdk_config(args.region.as_deref(), endpoint_url).await;
            Some(Target::EventBus {
                name: bus.clone(),
                client: aws_sdk_eventbridge::Client::new(&config),
            })
        }
        (None, None) => None,
    })
}

fn print_summary(summary: &ReplaySummary) {
    let verb = if summary.dry_run {
        "would send"
    } else {
        "sent"
    };
    let count = if summary.dry_run {
        summary.by_event_type.values().map(|c| c.events).sum()
    } else {
        summary.sent
    };
    println!(
        "replay {}: {} selected, {verb} {count} in {} batches ({} bytes), {} failed, {} too large, {} unanswered (in doubt), {} already sent, {} in doubt skipped; {:.1}s ({:.0} events/s)",
        summary.replay_name, summary.selected, summary.batches, summary.bytes, summary.failed, summary.too_large,
        summary.in_doubt, summary.skipped_already_sent, summary.skipped_in_doubt, summary.seconds, summary.events_per_second
    );
    for (event_type, counts) in &summary.by_event_type {
        println!(
            "  {event_type:<20} {:>10} events {:>14} bytes",
            counts.events, counts.bytes
        );
    }
    for (code, events) in &summary.failures {
        println!("  failed with {code}: {events}");
    }
    for (id, why) in &summary.failed_examples {
        println!("  {id}: {why}");
    }
    if summary.skipped_in_doubt > 0 {
        println!("  {} events were in flight when an earlier run stopped; EventBridge may have them. --resend-in-doubt sends them again", summary.skipped_in_doubt);
    }
}
