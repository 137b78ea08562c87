//! `eventlake zendesk sync`: tickets changed since the last sync, or a saved export, into the
//! lake's `zendesk_tickets` table.

use crate::cli::args::ZendeskSyncArgs;
use crate::cli::to_json;
use crate::error::{Error, Result};
use crate::zendesk::client::{Client, Credentials};
use crate::zendesk::SyncSummary;

/// How far back a first sync starts without --start-time.
const FIRST_SYNC_DAYS: i64 = 30;

pub async fn sync(args: &ZendeskSyncArgs, endpoint_url: Option<&str>) -> Result<()> {
    let summary = fetch(args, endpoint_url).await?;
    if args.json {
        println!("{}", to_json(&summary)?);
    } else {
        println!(
            "synced {} changed tickets ({} versions in {} pages{}); zendesk_tickets holds {}",
            summary.tickets_changed,
            summary.tickets_fetched,
            summary.pages,
            if summary.resumed {
                ", from the last sync's cursor"
            } else {
                ""
            },
            summary.tickets_in_table
        );
    }
    Ok(())
}

async fn fetch(args: &ZendeskSyncArgs, endpoint_url: Option<&str>) -> Result<SyncSummary> {
    let lake = args.at.open(endpoint_url)?;
    if let Some(file) = &args.tickets {
        let tickets = crate::zendesk::read_tickets_file(file)?;
        return crate::zendesk::import(&lake, tickets).await;
    }
    let url = args.zendesk_url.as_deref().ok_or_else(|| {
        Error::InvalidArgument(
            "give --zendesk-url URL, or --tickets FILE to import an export".into(),
        )
    })?;
    let credentials = match &args.secret {
        Some(file) => Credentials::from_secret_file(file)?,
        None => Credentials::from_env().ok_or_else(|| {
            Error::InvalidArgument("no Zendesk credentials: pass --secret FILE or set ZENDESK_EMAIL and ZENDESK_API_TOKEN".into())
        })?,
    };
    let start_time = match &args.start_time {
        Some(text) => parse_start_time(text)?,
        None => chrono::Utc::now().timestamp() - FIRST_SYNC_DAYS * 86_400,
    };
    let client = Client::new(url, credentials)?;
    crate::zendesk::sync(&lake, &client, start_time).await
}

/// `--start-time`: a unix time, or RFC 3339; in unix seconds, as the export API takes it.
fn parse_start_time(text: &str) -> Result<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| {
            crate::record::parse_time(text)
                .ok()
                .map(|micros| micros / 1_000_000)
        })
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--start-time {text:?} is neither RFC 3339 nor a unix time"
            ))
        })
}
