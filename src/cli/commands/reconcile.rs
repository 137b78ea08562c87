//! `eventlake reconcile`: loyalty purchases against Zendesk tickets, a summary on stderr (or as
//! JSON) and a row per purchase or orphan ticket on stdout.

use std::io::IsTerminal;

use crate::cli::args::ReconcileArgs;
use crate::cli::output::{self, OutputFormat};
use crate::cli::{queries_dir, to_json};
use crate::error::{Error, Result};
use crate::query::LakeSession;
use crate::reconcile::{ReconcileOptions, ReconcileSummary};

pub async fn run(args: &ReconcileArgs, endpoint_url: Option<&str>) -> Result<()> {
    let options = ReconcileOptions {
        from_micros: parse_instant(&args.from, false)?,
        to_micros: parse_instant(&args.to, true)?,
        window_seconds: args.window.0,
        sla_seconds: args.sla.0,
    };
    let catalog = crate::query::saved::catalog(queries_dir(args.queries.as_deref()).as_deref())?;
    let candidates = catalog.get("reconcile/candidates").ok_or_else(|| {
        Error::InvalidArgument(
            "no saved query reconcile/candidates (it ships with eventlake)".into(),
        )
    })?;
    let lake = args.at.open(endpoint_url)?;
    let session = LakeSession::open(&lake, None).await?;
    let (summary, mut rows) =
        crate::reconcile::reconcile(&session, &candidates.sql, &options).await?;
    if args.json {
        println!("{}", to_json(&summary)?);
        return Ok(());
    }
    print_summary(&summary);
    if let Some(class) = &args.class {
        rows.retain(|row| row.class == class);
    }
    let batch = crate::reconcile::rows_batch(&rows)?;
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        crate::reconcile::rows_schema(),
        futures::stream::iter(vec![Ok(batch)]),
    );
    let format = OutputFormat::chosen(args.format, std::io::stdout().is_terminal());
    let printed = output::write_stream(
        Box::pin(stream),
        format,
        Box::new(std::io::BufWriter::new(std::io::stdout())),
        args.max_rows,
    )
    .await?;
    if printed.truncated {
        eprintln!(
            "({} rows; the first {} shown: use --format csv for all)",
            printed.rows, args.max_rows
        );
    }
    Ok(())
}

fn print_summary(summary: &ReconcileSummary) {
    let seconds = |value: Option<i64>| value.map_or("-".into(), |value| value.to_string());
    eprintln!(
        "{} purchases, {} tickets: {} matched, {} missing_ticket, {} duplicate_ticket, {} late_ticket, {} orphan_ticket; time to ticket p50 {}s p90 {}s p99 {}s; by match mode {:?}",
        summary.purchases, summary.tickets, summary.matched, summary.missing_ticket, summary.duplicate_ticket,
        summary.late_ticket, summary.orphan_ticket,
        seconds(summary.time_to_ticket_seconds_p50),
        seconds(summary.time_to_ticket_seconds_p90),
        seconds(summary.time_to_ticket_seconds_p99),
        summary.by_match_mode
    );
}

/// An RFC 3339 time, or a UTC day (its start; `end_of_day` gives the next day's start).
fn parse_instant(text: &str, end_of_day: bool) -> Result<i64> {
    if let Ok(micros) = crate::record::parse_time(text) {
        return Ok(micros);
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::InvalidArgument(format!("{text:?} is neither RFC 3339 nor YYYY-MM-DD"))
    })?;
    let day = if end_of_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |time| time.and_utc().timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_means_its_start_or_as_an_end_the_next_day_s_start() {
        let start = parse_instant("2026-11-01", false).unwrap();
        assert_eq!(start, 1_793_491_200 * 1_000_000);
        assert_eq!(
            parse_instant("2026-11-01", true).unwrap(),
            start + 86_400 * 1_000_000
        );
        assert_eq!(parse_instant("2026-11-01T00:00:00Z", true).unwrap(), start);
        assert!(parse_instant("01/11/2026", false).is_err());
    }
}
