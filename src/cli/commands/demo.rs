//! `eventlake demo`: [`crate::demo::run`], each step shown as it happens.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::cli::args::DemoArgs;
use crate::cli::output;
use crate::cli::progress::CompactBar;
use crate::compact::CompactProgress;
use crate::demo::{DemoOptions, DemoProgress, DemoStep, DemoSummary, QueryShown, ROWS_SHOWN};
use crate::error::{Error, Result};

pub async fn run(args: &DemoArgs) -> Result<()> {
    let options = DemoOptions {
        dir: args.dir.clone(),
        events: args.events,
    };
    let summary = crate::demo::run(&options, &Steps).await?;
    print_reconciled(&summary);
    summary.check()?;
    print_next(&summary);
    Ok(())
}

/// Step announcements on stderr, what each step found on stdout.
struct Steps;

impl DemoProgress for Steps {
    fn step(&self, step: DemoStep<'_>) -> Result<()> {
        match step {
            DemoStep::Generating {
                events,
                raw_location,
            } => eprintln!("1/4 generating {events} events into {raw_location} …"),
            DemoStep::Generated {
                summary,
                raw_location,
            } => super::generate::print_summary(summary, raw_location),
            DemoStep::Compacting { lake_location } => {
                eprintln!("2/4 compacting into {lake_location} …")
            }
            DemoStep::Compacted {
                metrics,
                lake_location,
            } => super::compact::print_summary(metrics, lake_location),
            DemoStep::Querying => {
                eprintln!("3/4 querying the lake with the saved triage queries …")
            }
            DemoStep::Queried(shown) => print_query(shown)?,
            DemoStep::Reconciling => {
                eprintln!("\n4/4 reconciling loyalty purchases with generated Zendesk tickets …")
            }
        }
        Ok(())
    }

    fn compaction(&self) -> Option<Arc<dyn CompactProgress>> {
        std::io::stderr()
            .is_terminal()
            .then(|| Arc::new(CompactBar::new()) as Arc<dyn CompactProgress>)
    }
}

fn print_query(shown: &QueryShown) -> Result<()> {
    println!("\n== {}: {}", shown.name, shown.description);
    let table = output::format_table(&shown.schema, &shown.first_rows)
        .map_err(|source| Error::Output { source })?;
    println!("{table}");
    let left_out = if shown.truncated() {
        format!(", first {ROWS_SHOWN} shown")
    } else {
        String::new()
    };
    println!("({} rows{left_out})", shown.rows);
    Ok(())
}

/// What reconcile reported beside what the ticket generator made.
fn print_reconciled(summary: &DemoSummary) {
    let reconciled = &summary.reconciled;
    println!(
        "\n== reconcile (window 1h, SLA 15m): {} purchases, {} tickets; time to ticket p50 {}s, p90 {}s, p99 {}s",
        reconciled.purchases,
        reconciled.tickets,
        reconciled.time_to_ticket_seconds_p50.unwrap_or(0),
        reconciled.time_to_ticket_seconds_p90.unwrap_or(0),
        reconciled.time_to_ticket_seconds_p99.unwrap_or(0),
    );
    println!("{:<26} {:>10} {:>10}", "", "generated", "reported");
    for count in &summary.compared {
        let mark = if count.generated == count.reported {
            ""
        } else {
            "  ≠"
        };
        println!(
            "{:<26} {:>10} {:>10}{mark}",
            count.name, count.generated, count.reported
        );
    }
}

fn print_next(summary: &DemoSummary) {
    let (raw, lake, day) = (
        &summary.raw_location,
        &summary.lake_location,
        crate::demo::DAY,
    );
    println!(
        "\nNext:\n  - reconcile rows:  eventlake reconcile --lake {lake} --from 2026-11-01 --to 2026-11-02 --window 1h --class missing_ticket\n  - a replay dry run:  eventlake replay --lake {lake} --name try-1 --where \"event_type = 'purchase' AND dt = '2026-11-01'\" --dry-run\n  - the saved queries and their parameters:   eventlake query --list\n  - one of them:   eventlake query triage/overview --lake {lake} --param day={day}\n  - your own SQL:  eventlake query --lake {lake} \"SELECT event_type, count(*) FROM events GROUP BY 1\"\n  - a SQL prompt:  eventlake sql --lake {lake}\n  - compact again: it adds nothing (exactly once):  eventlake compact --source {raw} --lake {lake}\n  - any Delta reader works too, e.g. DuckDB: SELECT * FROM delta_scan('{lake}/events')"
    );
}
