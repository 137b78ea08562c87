//! Command-line flags, and what each command prints.
//!
//! Exit codes (`error::exit_code`): 0 done; 1 the command failed (the message says why); 2 bad usage
//! (from clap, or an argument the command refuses); 3 finished, but some events were not delivered.

mod output;
mod progress;
mod repl;

pub use output::OutputFormat;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::compact::{CompactMetrics, Compaction};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::gen::{GenOptions, GenSummary, Layout};
use crate::query::LakeSession;
use crate::source::Source;
use crate::table::Lake;

/// Compacts raw Firehose/EventBridge event objects into a partitioned Delta Lake table, exactly
/// once, and queries it with SQL.
#[derive(Debug, Parser)]
#[command(name = "eventlake", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// S3-compatible endpoint for every s3:// location (MinIO, R2, a local test server);
    /// default: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS itself.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate raw objects shaped like a Firehose bucket (deterministic, with duplicates, late
    /// events and bad records).
    Gen(GenArgs),
    /// Compact raw objects into the lake's Delta tables, exactly once.
    Compact(CompactArgs),
    /// Run SQL over the lake: ad hoc, from a file, or a saved query by name (see --list).
    Query(QueryArgs),
    /// An interactive SQL prompt over the lake.
    Sql(SqlArgs),
    /// Send events chosen with SQL back into EventBridge (or into PutEvents files), once per
    /// replay name: a rerun sends only what earlier runs did not.
    Replay(ReplayArgs),
    /// Zendesk tickets into the lake (`zendesk sync`).
    #[command(subcommand)]
    Zendesk(ZendeskCommand),
    /// Match loyalty purchases to Zendesk tickets: matched, missing, orphaned, duplicated, late.
    Reconcile(ReconcileArgs),
    /// Bin-pack small files into large ones, sorted so per-file statistics prune well.
    Optimize(OptimizeArgs),
    /// Delete files no table version within the retention needs.
    Vacuum(VacuumArgs),
    /// Delete whole days (`dt` partitions) older than a retention from events and errors.
    Expire(ExpireArgs),
    /// List the commits of every table of the lake, newest first, with what each did.
    History(HistoryArgs),
    /// Generate a sample, compact it into ./eventlake-demo/lake and show what it holds.
    Demo(DemoArgs),
}

/// Where the lake is, for every command that reads or keeps one.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake (default: EVENTLAKE_LAKE, then `lake` in eventlake.toml).
    #[arg(long, env = "EVENTLAKE_LAKE")]
    pub lake: Option<String>,
    /// Config file (default: ./eventlake.toml if present).
    #[arg(long, value_parser = local_path_flag())]
    pub config: Option<PathBuf>,
}

impl LakeArgs {
    /// The lake, opened with the storage options of the config and the endpoint.
    fn open(&self, endpoint: Option<&str>) -> Result<Lake> {
        let location = lake_location(self.lake.as_deref(), self.config.as_deref())?;
        Lake::with_storage_options(&location, storage(self.config.as_deref(), endpoint)?)
    }
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL text, or the name of a saved query (e.g. triage/overview).
    pub query: Option<String>,
    /// Read the SQL from a file (a header of `-- @param` lines types its parameters).
    #[arg(short = 'f', long, conflicts_with = "query", value_parser = local_path_flag())]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub at: LakeArgs,
    /// A parameter, bound as a typed value to `$NAME` in the SQL (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write the result to this file instead of stdout.
    #[arg(short, long, value_parser = local_path_flag())]
    pub output: Option<PathBuf>,
    /// Read the tables as of a version number or an RFC 3339 timestamp.
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    pub as_of: Option<crate::query::AsOf>,
    /// Show the plan instead of running it.
    #[arg(long, conflicts_with = "analyze")]
    pub explain: bool,
    /// Run the query and show the plan with what each step did (rows, files and bytes read).
    #[arg(long)]
    pub analyze: bool,
    /// List the saved queries and their parameters.
    #[arg(long)]
    pub list: bool,
    /// Folder of saved queries that adds to the shipped ones (default: ./queries if present).
    #[arg(long, env = "EVENTLAKE_QUERIES", value_parser = local_path_flag())]
    pub queries: Option<PathBuf>,
    /// Rows a table shows at most.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// Read the tables as of a version number or an RFC 3339 timestamp.
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    pub as_of: Option<crate::query::AsOf>,
    /// Rows a result shows at most.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Where to write the objects: a folder or s3://bucket/prefix.
    #[arg(long)]
    pub out: String,
    /// Records to generate: good events, with bad records in place of some; duplicate
    /// deliveries and Firehose error records come on top.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Distinct client ids.
    #[arg(long, default_value_t = 100)]
    pub clients: u64,
    /// Days the events span.
    #[arg(long, default_value_t = 1)]
    pub days: u64,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of events delivered twice.
    #[arg(long, default_value_t = 0.01)]
    pub dup_rate: f64,
    /// Share of records that are bad (not JSON, cut short, wrong types, …).
    #[arg(long, default_value_t = 0.001)]
    pub bad_rate: f64,
    /// Share of events arriving over an hour late.
    #[arg(long, default_value_t = 0.01)]
    pub late_rate: f64,
    /// Object naming and framing.
    #[arg(long, value_enum, default_value_t = Layout::Firehose)]
    pub layout: Layout,
    /// Gzip the objects.
    #[arg(long, conflicts_with = "zstd")]
    pub gzip: bool,
    /// Zstd-compress the objects.
    #[arg(long)]
    pub zstd: bool,
    /// Number of objects (default: one per 5,000 events).
    #[arg(long, default_value_t = 0)]
    pub objects: u64,
    /// Print the known answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Raw objects: a folder or s3://bucket/prefix.
    #[arg(long)]
    pub source: String,
    /// The lake: a folder or s3://bucket/prefix (default: EVENTLAKE_LAKE, then `lake` in the config).
    #[arg(long, env = "EVENTLAKE_LAKE")]
    pub lake: Option<String>,
    /// Config file (default: ./eventlake.toml if present).
    #[arg(long, value_parser = local_path_flag())]
    pub config: Option<PathBuf>,
    /// Print the summary as JSON (for schedulers).
    #[arg(long)]
    pub json: bool,
    /// Objects parsed at once (default: the number of cores; four times that from S3).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Stop starting new units after this many seconds; what was started is committed, and
    /// at least one unit always is.
    #[arg(long)]
    pub max_runtime: Option<u64>,
    /// Then optimize the partitions of events this run wrote to (sorted by time).
    #[arg(long)]
    pub then_optimize: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["where_", "file", "query"])))]
#[command(group(clap::ArgGroup::new("target").args(["to_file", "event_bus"])))]
pub struct ReplayArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// The replay's name: a rerun of the same name resumes it and never resends what it sent.
    #[arg(long)]
    pub name: String,
    /// A SQL predicate over `events` columns, e.g. "event_type = 'purchase' AND dt = $day".
    #[arg(long = "where", value_name = "PREDICATE")]
    pub where_: Option<String>,
    /// A SQL file whose `id` column names the events to replay.
    #[arg(short = 'f', long, value_parser = local_path_flag())]
    pub file: Option<PathBuf>,
    /// A saved query whose `id` column names the events to replay.
    pub query: Option<String>,
    /// A parameter, bound as a typed value to `$NAME` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Write one PutEvents request per file in DIR (usable with `aws events put-events --entries file://…`).
    #[arg(long, value_name = "DIR", value_parser = local_path_flag())]
    pub to_file: Option<PathBuf>,
    /// Send to this event bus (name or ARN) with PutEvents.
    #[arg(long, value_name = "NAME")]
    pub event_bus: Option<String>,
    /// AWS region for EventBridge (default: AWS_REGION or the profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// Events a second at most (EventBridge throttling halves it further).
    #[arg(long, value_name = "EVENTS_PER_S")]
    pub rate: Option<f64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Print what would go (events, batches, bytes by event type) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the stored (transformed) detail and resources, not the client's originals.
    #[arg(long)]
    pub as_stored: bool,
    /// Do not mark replayed events (`replay-name` and `replay-original-id` in their detail).
    #[arg(long)]
    pub no_mark: bool,
    /// Request size limit: PutEvents' 1 MB (since January 2026) or the older 256 KB.
    #[arg(long, value_enum, default_value_t = SizeLimit::OneMb)]
    pub size_limit: SizeLimit,
    /// Also send events an interrupted run may already have sent (they could arrive twice).
    #[arg(long)]
    pub resend_in_doubt: bool,
    /// Read the lake as of a version number or an RFC 3339 timestamp.
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    pub as_of: Option<crate::query::AsOf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Folder of saved queries that adds to the shipped ones (default: ./queries if present).
    #[arg(long, env = "EVENTLAKE_QUERIES", value_parser = local_path_flag())]
    pub queries: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// The table to optimize.
    #[arg(long, default_value = "events")]
    pub table: String,
    /// Only partitions matching these conditions, e.g. "dt >= '2026-11-01'".
    #[arg(long = "where", value_name = "PARTITION CONDITIONS")]
    pub where_: Option<String>,
    /// The size files are packed to.
    #[arg(long, default_value = "256MiB")]
    pub target_size: String,
    /// Columns to sort (z-order) each partition's files by; "none" only bin-packs.
    #[arg(long, default_value = "time", value_delimiter = ',')]
    pub sort_by: Vec<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// Keep every file a version of the last RETAIN needs (time travel and running queries).
    #[arg(long, default_value = "7d")]
    pub retain: String,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExpireArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// Delete days older than this (e.g. 400d), counted from today (UTC).
    #[arg(long)]
    pub older_than: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// Commits per table at most.
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON object per commit.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZendeskCommand {
    /// Fetch tickets changed since the last sync into the `zendesk_tickets` table.
    Sync(ZendeskSyncArgs),
}

#[derive(Debug, Args)]
pub struct ZendeskSyncArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// Your Zendesk, e.g. https://acme.zendesk.com.
    #[arg(long, value_name = "URL", required_unless_present = "tickets")]
    pub zendesk_url: Option<String>,
    /// The pipeline's secret file: {"username": EMAIL, "apiToken": TOKEN} ("apiKey" also read).
    /// Default: ZENDESK_EMAIL and ZENDESK_API_TOKEN.
    #[arg(long, value_name = "FILE", value_parser = local_path_flag())]
    pub secret: Option<PathBuf>,
    /// The first sync starts here (RFC 3339 or a unix time; default: 30 days ago).
    #[arg(long)]
    pub start_time: Option<String>,
    /// Import a saved export instead (a JSON array of tickets, or export pages' `tickets`).
    #[arg(long, value_name = "FILE", conflicts_with = "zendesk_url", value_parser = local_path_flag())]
    pub tickets: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// First purchase time (RFC 3339, or a UTC day YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// End of the purchase window, exclusive (RFC 3339, or a UTC day: the day after it).
    #[arg(long)]
    pub to: String,
    /// How long after its purchase a ticket may be created and still match (e.g. 24h, 90m).
    #[arg(long, default_value = "24h")]
    pub window: String,
    /// Tickets created later than this after their purchase are late.
    #[arg(long, default_value = "15m")]
    pub sla: String,
    /// Rows output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Only rows of this class (matched, missing_ticket, orphan_ticket, duplicate_ticket, late_ticket).
    #[arg(long)]
    pub class: Option<String>,
    /// Print only the summary, as JSON.
    #[arg(long)]
    pub json: bool,
    /// Folder of saved queries that adds to the shipped ones (reconcile/candidates can be overridden).
    #[arg(long, env = "EVENTLAKE_QUERIES", value_parser = local_path_flag())]
    pub queries: Option<PathBuf>,
    /// Rows a table shows at most.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SizeLimit {
    #[value(name = "1mb")]
    OneMb,
    #[value(name = "256kb")]
    Legacy256Kb,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's raw objects and lake.
    #[arg(long, default_value = "eventlake-demo", value_parser = local_path_flag())]
    pub dir: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
}

/// A file or folder flag, read as [`crate::storage::local_path`] reads locations: `~` is the
/// home folder, `..` works, and the path is absolute from then on.
fn local_path_flag() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new()
        .try_map(|typed| crate::storage::local_path(std::path::Path::new(&typed)))
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        // The Delta kernel logs an ERROR when probing a table that does not exist yet.
        0 => "warn,buoyant_kernel=off,deltalake_core::writer::stats=error",
        1 => "eventlake=info,warn,buoyant_kernel=off,deltalake_core::writer::stats=error",
        _ => "eventlake=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Storage options for every location a command opens: `[storage]` plus the endpoint.
fn storage(
    config: Option<&std::path::Path>,
    endpoint_url: Option<&str>,
) -> Result<HashMap<String, String>> {
    Ok(crate::storage::storage_options(
        &Config::load(config)?.storage,
        endpoint_url,
    ))
}

pub async fn run(cli: Cli) -> Result<()> {
    let endpoint = cli.endpoint_url.as_deref();
    match cli.command {
        Command::Gen(args) => {
            let summary = gen(&args, &storage(None, endpoint)?).await?;
            if args.json {
                println!("{}", to_json(&summary)?);
            } else {
                print_gen_summary(&summary, &args.out);
            }
            Ok(())
        }
        Command::Compact(args) => {
            let config = Config::load(args.config.as_deref())?;
            let lake = match &args.lake {
                Some(lake) => lake.clone(),
                None => lake_location(None, args.config.as_deref())?,
            };
            let options = crate::storage::storage_options(&config.storage, endpoint);
            let metrics = compact(&args, &config, &lake, &options, !args.json).await?;
            if args.json && !args.then_optimize {
                println!("{}", to_json(&metrics)?);
            } else if !args.json {
                print_compact_summary(&metrics, &lake);
            }
            if args.then_optimize {
                let handle = Lake::with_storage_options(&lake, options)?;
                let optimized = crate::upkeep::optimize(
                    &handle,
                    "events",
                    &[],
                    256 << 20,
                    &["time".to_owned()],
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
            }
            Ok(())
        }
        Command::Query(args) => query(&args, endpoint).await,
        Command::Sql(args) => {
            let session = LakeSession::open(&args.at.open(endpoint)?, args.as_of.as_ref()).await?;
            repl::run(&session, args.max_rows).await
        }
        Command::Replay(args) => {
            let summary = replay(&args, endpoint).await?;
            if args.json {
                println!("{}", to_json(&summary)?);
            } else {
                print_replay_summary(&summary);
            }
            if summary.failed > 0 || summary.too_large > 0 || summary.in_doubt > 0 {
                return Err(Error::Incomplete(format!(
                    "{} events failed, {} were too large to send and {} got no answer (see above); a rerun of --name {} retries the failed ones, and the unanswered ones only with --resend-in-doubt (EventBridge may have them already)",
                    summary.failed, summary.too_large, summary.in_doubt, summary.replay_name
                )));
            }
            Ok(())
        }
        Command::Zendesk(ZendeskCommand::Sync(args)) => {
            let summary = zendesk_sync(&args, endpoint).await?;
            if args.json {
                println!("{}", to_json(&summary)?);
            } else {
                println!(
                    "synced {} changed tickets ({} versions in {} pages{}); zendesk_tickets holds {}",
                    summary.tickets_changed,
                    summary.tickets_fetched,
                    summary.pages,
                    if summary.resumed { ", from the last sync's cursor" } else { "" },
                    summary.tickets_in_table
                );
            }
            Ok(())
        }
        Command::Reconcile(args) => reconcile(&args, endpoint).await,
        Command::Optimize(args) => {
            let lake = args.at.open(endpoint)?;
            let filters = match &args.where_ {
                Some(text) => crate::upkeep::parse_partition_filter(text)?,
                None => Vec::new(),
            };
            let target: crate::config::ByteSize = args
                .target_size
                .parse()
                .map_err(|reason| Error::InvalidArgument(format!("--target-size: {reason}")))?;
            let sort_by: Vec<String> = args
                .sort_by
                .iter()
                .filter(|c| c.as_str() != "none" && !c.is_empty())
                .cloned()
                .collect();
            let summary =
                crate::upkeep::optimize(&lake, &args.table, &filters, target.0, &sort_by).await?;
            if args.json {
                println!("{}", to_json(&summary)?);
            } else {
                println!(
                    "optimized {}: {} files into {} across {} partitions",
                    summary.table,
                    summary.files_removed,
                    summary.files_added,
                    summary.partitions_optimized
                );
            }
            Ok(())
        }
        Command::Vacuum(args) => {
            let lake = args.at.open(endpoint)?;
            let retain =
                std::time::Duration::from_secs(parse_duration(&args.retain)?.max(0) as u64);
            let summaries = crate::upkeep::vacuum(&lake, retain, args.dry_run).await?;
            if args.json {
                println!("{}", to_json(&summaries)?);
            } else {
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
            }
            Ok(())
        }
        Command::Expire(args) => {
            let lake = args.at.open(endpoint)?;
            let days = parse_duration(&args.older_than)? / 86_400;
            let cutoff = chrono::Duration::try_days(days)
                .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "--older-than {}: too far back",
                        args.older_than
                    ))
                })?
                .format("%Y-%m-%d")
                .to_string();
            let summaries = crate::upkeep::expire(&lake, &cutoff).await?;
            if args.json {
                println!("{}", to_json(&summaries)?);
            } else {
                for summary in summaries {
                    println!(
                        "{}: deleted days before {} ({} files)",
                        summary.table, summary.cutoff_day, summary.files_removed
                    );
                }
            }
            Ok(())
        }
        Command::History(args) => {
            let lake = args.at.open(endpoint)?;
            for commit in crate::upkeep::history(&lake, args.limit).await? {
                if args.json {
                    println!("{}", to_json(&commit)?);
                } else {
                    println!(
                        "{:<25} {:<16} v{:<5} {:<12} {}",
                        commit.timestamp.as_deref().unwrap_or("-"),
                        commit.table,
                        commit.version.unwrap_or(-1),
                        commit.operation,
                        commit.details
                    );
                }
            }
            Ok(())
        }
        Command::Demo(args) => demo(&args).await,
    }
}

async fn zendesk_sync(
    args: &ZendeskSyncArgs,
    endpoint: Option<&str>,
) -> Result<crate::zendesk::SyncSummary> {
    let lake = args.at.open(endpoint)?;
    if let Some(file) = &args.tickets {
        let text = std::fs::read_to_string(file).map_err(|error| Error::Config {
            path: file.clone(),
            reason: error.to_string(),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| Error::Config {
                path: file.clone(),
                reason: error.to_string(),
            })?;
        // `page["tickets"]` would panic on a file holding a bare string or number: match instead.
        let tickets = match value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(mut page) => match page.remove("tickets") {
                Some(serde_json::Value::Array(items)) => items,
                _ => return Err(not_tickets(file)),
            },
            _ => return Err(not_tickets(file)),
        };
        return crate::zendesk::import(&lake, tickets).await;
    }
    let url = args.zendesk_url.as_deref().ok_or_else(|| {
        Error::InvalidArgument(
            "give --zendesk-url URL, or --tickets FILE to import an export".into(),
        )
    })?;
    let credentials = match &args.secret {
        Some(file) => crate::zendesk::client::Credentials::from_secret_file(file)?,
        None => crate::zendesk::client::Credentials::from_env().ok_or_else(|| {
            Error::InvalidArgument("no Zendesk credentials: pass --secret FILE or set ZENDESK_EMAIL and ZENDESK_API_TOKEN".into())
        })?,
    };
    let start_time = match &args.start_time {
        Some(text) => text
            .parse::<i64>()
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
            })?,
        None => chrono::Utc::now().timestamp() - 30 * 86_400,
    };
    let client = crate::zendesk::client::Client::new(url, credentials)?;
    crate::zendesk::sync(&lake, &client, start_time).await
}

fn not_tickets(file: &std::path::Path) -> Error {
    Error::Config {
        path: file.to_owned(),
        reason: "not a JSON array of tickets nor an export page".into(),
    }
}

/// `24h`, `90m`, `30s`, `2d` or plain seconds.
fn parse_duration(text: &str) -> Result<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: i64 = number.parse().map_err(|_| {
        Error::InvalidArgument(format!("{text:?} is not a duration like 24h, 90m or 30s"))
    })?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{text:?}: use s, m, h or d"
            )))
        }
    };
    // Reconcile adds windows to times in microseconds: keep far from overflowing there.
    const CENTURY_SECONDS: i64 = 100 * 366 * 86_400;
    value
        .checked_mul(scale)
        .filter(|seconds| *seconds <= CENTURY_SECONDS)
        .ok_or_else(|| Error::InvalidArgument(format!("{text:?}: a duration is at most 100 years")))
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

async fn reconcile(args: &ReconcileArgs, endpoint: Option<&str>) -> Result<()> {
    let options = crate::reconcile::ReconcileOptions {
        from_micros: parse_instant(&args.from, false)?,
        to_micros: parse_instant(&args.to, true)?,
        window_seconds: parse_duration(&args.window)?,
        sla_seconds: parse_duration(&args.sla)?,
    };
    let catalog = crate::query::saved::catalog(queries_dir(args.queries.as_deref()).as_deref())?;
    let candidates = catalog.get("reconcile/candidates").ok_or_else(|| {
        Error::InvalidArgument(
            "no saved query reconcile/candidates (it ships with eventlake)".into(),
        )
    })?;
    let lake = args.at.open(endpoint)?;
    let session = LakeSession::open(&lake, None).await?;
    let (summary, mut rows) =
        crate::reconcile::reconcile(&session, &candidates.sql, &options).await?;
    if args.json {
        println!("{}", to_json(&summary)?);
        return Ok(());
    }
    eprintln!(
        "{} purchases, {} tickets: {} matched, {} missing_ticket, {} duplicate_ticket, {} late_ticket, {} orphan_ticket; time to ticket p50 {}s p90 {}s p99 {}s; by match mode {:?}",
        summary.purchases, summary.tickets, summary.matched, summary.missing_ticket, summary.duplicate_ticket,
        summary.late_ticket, summary.orphan_ticket,
        summary.time_to_ticket_seconds_p50.map_or("-".into(), |v| v.to_string()),
        summary.time_to_ticket_seconds_p90.map_or("-".into(), |v| v.to_string()),
        summary.time_to_ticket_seconds_p99.map_or("-".into(), |v| v.to_string()),
        summary.by_match_mode
    );
    if let Some(class) = &args.class {
        rows.retain(|row| row.class == class);
    }
    let batch = crate::reconcile::rows_batch(&rows)?;
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        crate::reconcile::rows_schema(),
        futures::stream::iter(vec![Ok(batch)]),
    );
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
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

async fn replay(args: &ReplayArgs, endpoint: Option<&str>) -> Result<crate::replay::ReplaySummary> {
    use crate::replay::{entry, ReplayOptions, Selection, Target};
    let given = crate::query::params::parse_assignments(&args.params)?;
    let (selection, params) = match (&args.where_, &args.file, &args.query) {
        (Some(predicate), _, _) => (
            Selection::Where(predicate.clone()),
            crate::query::params::bind_untyped(&given),
        ),
        (None, Some(file), _) => {
            let text = std::fs::read_to_string(file).map_err(|error| Error::Config {
                path: file.clone(),
                reason: error.to_string(),
            })?;
            let saved = crate::query::saved::SavedQuery::parse(&file.to_string_lossy(), &text)?;
            let params = if saved.params.is_empty() {
                crate::query::params::bind_untyped(&given)
            } else {
                saved.bind(&given)?
            };
            (Selection::Query(text), params)
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
    let target = match (&args.to_file, &args.event_bus) {
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
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(region) = &args.region {
                loader = loader.region(aws_config::Region::new(region.clone()));
            }
            if let Some(endpoint) = endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            let config = loader.load().await;
            Some(Target::EventBus {
                name: bus.clone(),
                client: aws_sdk_eventbridge::Client::new(&config),
            })
        }
        (None, None) => None,
    };
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
    let lake = args.at.open(endpoint)?;
    let bar = progress::ReplayBar::new(!args.json && std::io::stderr().is_terminal());
    let summary = crate::replay::replay(&lake, &options, target.as_ref(), Some(&bar)).await;
    bar.finish();
    summary
}

fn print_replay_summary(summary: &crate::replay::ReplaySummary) {
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

/// The lake from the flag (or EVENTLAKE_LAKE), else from the config file.
fn lake_location(flag: Option<&str>, config: Option<&std::path::Path>) -> Result<String> {
    if let Some(lake) = flag {
        return Ok(lake.to_owned());
    }
    Config::load(config)?.lake.ok_or_else(|| {
        Error::InvalidArgument(
            "no lake given: pass --lake, set EVENTLAKE_LAKE, or put `lake = …` in eventlake.toml"
                .into(),
        )
    })
}

fn queries_dir(flag: Option<&std::path::Path>) -> Option<PathBuf> {
    flag.map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("queries")).filter(|dir| dir.is_dir()))
}

async fn query(args: &QueryArgs, endpoint: Option<&str>) -> Result<()> {
    let catalog = crate::query::saved::catalog(queries_dir(args.queries.as_deref()).as_deref())?;
    if args.list {
        for saved in catalog.values() {
            println!("{:<24} {}", saved.name, saved.description);
            for param in &saved.params {
                let default = param
                    .default
                    .as_deref()
                    .map(|value| format!(" = {value}"))
                    .unwrap_or_default();
                println!(
                    "{:<24}   --param {}=<{}>{default}  {}",
                    "", param.name, param.kind, param.description
                );
            }
        }
        return Ok(());
    }
    let given = crate::query::params::parse_assignments(&args.params)?;
    let (sql, params) = match (&args.file, &args.query) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .map_err(|error| Error::Config { path: file.clone(), reason: error.to_string() })?;
            let saved = crate::query::saved::SavedQuery::parse(&file.to_string_lossy(), &text)?;
            let params = if saved.params.is_empty() { crate::query::params::bind_untyped(&given) } else { saved.bind(&given)? };
            (text, params)
        }
        (None, Some(text)) => match catalog.get(text) {
            Some(saved) => (saved.sql.clone(), saved.bind(&given)?),
            None => (text.clone(), crate::query::params::bind_untyped(&given)),
        },
        (None, None) => {
            return Err(Error::InvalidArgument(
                "give SQL, the name of a saved query, or -f FILE (eventlake query --list shows the saved ones)".into(),
            ))
        }
    };
    let lake = args.at.open(endpoint)?;
    let session = LakeSession::open(&lake, args.as_of.as_ref()).await?;
    let mut frame = session.sql(&sql, params).await?;
    if args.explain || args.analyze {
        frame = frame.explain(false, args.analyze)?;
    }
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let format = args
        .format
        .unwrap_or(if to_terminal || args.explain || args.analyze {
            OutputFormat::Table
        } else {
            OutputFormat::Csv
        });
    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|error| Error::Config {
                path: path.clone(),
                reason: error.to_string(),
            })?,
        )),
        None if format == OutputFormat::Parquet => {
            return Err(Error::InvalidArgument(
                "--format parquet needs --output FILE".into(),
            ))
        }
        None => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        )),
    };
    let stream = frame.execute_stream().await?;
    let printed = output::write_stream(
        stream,
        format,
        out,
        if args.explain || args.analyze {
            usize::MAX
        } else {
            args.max_rows
        },
    )
    .await?;
    if printed.truncated {
        eprintln!(
            "({} rows; the first {} shown: use --format csv or --output for all)",
            printed.rows, args.max_rows
        );
    }
    Ok(())
}

async fn gen(args: &GenArgs, storage_options: &HashMap<String, String>) -> Result<GenSummary> {
    let root = crate::storage::parse_location(&args.out)?;
    let (store, prefix) = crate::storage::object_store_for(&root, storage_options)?;
    let options = GenOptions {
        events: args.events,
        clients: args.clients,
        days: args.days,
        seed: args.seed,
        dup_rate: args.dup_rate,
        bad_rate: args.bad_rate,
        late_rate: args.late_rate,
        layout: args.layout,
        gzip: args.gzip,
        zstd: args.zstd,
        objects: args.objects,
        ..GenOptions::default()
    };
    crate::gen::generate(store, &prefix, &options).await
}

async fn compact(
    args: &CompactArgs,
    config: &Config,
    lake: &str,
    storage_options: &HashMap<String, String>,
    show_progress: bool,
) -> Result<CompactMetrics> {
    let mut plan = config.compact_plan()?;
    if let Some(workers) = args.workers {
        plan.workers = workers.max(1);
    }
    plan.max_runtime = args.max_runtime.map(std::time::Duration::from_secs);
    let source = Source::new(&args.source, storage_options)?;
    if args.workers.is_none() && source.root().scheme() != "file" {
        // Reading from S3 waits on the network: more readers than cores keep the cores busy.
        plan.workers *= 4;
    }
    let lake = Lake::with_storage_options(lake, storage_options.clone())?;
    let mut compaction = Compaction::new(source, lake, plan);
    if show_progress && std::io::stderr().is_terminal() {
        compaction = compaction.with_progress(Arc::new(progress::CompactBar::new()));
    }
    compaction.run().await
}

async fn demo(args: &DemoArgs) -> Result<()> {
    let raw = args.dir.join("raw");
    let lake = args.dir.join("lake");
    let raw_location = raw.to_string_lossy().into_owned();
    let lake_location = lake.to_string_lossy().into_owned();
    eprintln!(
        "1/4 generating {} events into {} …",
        args.events,
        raw.display()
    );
    let gen_args = GenArgs {
        out: raw_location.clone(),
        events: args.events,
        clients: 500,
        days: 2,
        seed: 7,
        dup_rate: 0.01,
        bad_rate: 0.001,
        late_rate: 0.01,
        layout: Layout::Firehose,
        gzip: true,
        zstd: false,
        objects: 0,
        json: false,
    };
    let summary = gen(&gen_args, &HashMap::new()).await?;
    print_gen_summary(&summary, &raw_location);

    eprintln!("2/4 compacting into {} …", lake.display());
    let compact_args = CompactArgs {
        source: raw_location.clone(),
        lake: Some(lake_location.clone()),
        config: None,
        json: false,
        workers: None,
        max_runtime: None,
        then_optimize: false,
    };
    let metrics = compact(
        &compact_args,
        &Config::default(),
        &lake_location,
        &HashMap::new(),
        true,
    )
    .await?;
    print_compact_summary(&metrics, &lake_location);

    eprintln!("3/4 querying the lake with the saved triage queries …");
    let session = LakeSession::open(&Lake::new(&lake_location)?, None).await?;
    let catalog = crate::query::saved::catalog(None)?;
    let day = "2026-11-01";
    for (name, params) in [
        ("triage/overview", vec![("day", day)]),
        ("triage/errors", vec![]),
        (
            "triage/late-events",
            vec![("day", day), ("threshold_minutes", "60")],
        ),
        ("triage/schema-drift", vec![]),
        ("loyalty/purchases", vec![("from", day), ("to", day)]),
    ] {
        let saved = &catalog[name];
        let given = params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let frame = session.sql(&saved.sql, saved.bind(&given)?).await?;
        println!("\n== {name}: {}", saved.description);
        let printed = output::write_stream(
            frame.execute_stream().await?,
            OutputFormat::Table,
            Box::new(std::io::stdout()),
            8,
        )
        .await?;
        println!(
            "({} rows{})",
            printed.rows,
            if printed.truncated {
                ", first 8 shown"
            } else {
                ""
            }
        );
    }
    eprintln!("\n4/4 reconciling loyalty purchases with generated Zendesk tickets …");
    let options = crate::reconcile::ReconcileOptions {
        from_micros: parse_instant("2026-11-01", false)?,
        to_micros: parse_instant("2026-11-02", true)?,
        window_seconds: 3_600,
        sla_seconds: 900,
    };
    let purchases = session
        .sql(
            "SELECT id, client_id, time FROM events WHERE event_type = 'loyaltypurchase' ORDER BY time, id",
            HashMap::new(),
        )
        .await?
        .collect()
        .await?;
    // The purchases reconcile looks at, so that what the generator made is what it must find.
    let mut rows = Vec::new();
    for batch in &purchases {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
        let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let clients = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
        let times = arrow::compute::cast(
            batch.column(2),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let (ids, clients) = (ids.as_string::<i32>(), clients.as_string::<i32>());
        let times = times.as_primitive::<TimestampMicrosecondType>();
        for row in 0..batch.num_rows() {
            let time = times.value(row);
            if ids.is_valid(row)
                && times.is_valid(row)
                && (options.from_micros..options.to_micros).contains(&time)
            {
                rows.push((
                    ids.value(row).to_owned(),
                    clients.value(row).to_owned(),
                    time,
                ));
            }
        }
    }
    let (tickets, truth) = crate::gen::tickets_for(
        &rows,
        &crate::gen::TicketOptions {
            seed: 7,
            window_seconds: options.window_seconds,
            sla_seconds: options.sla_seconds,
        },
    )?;
    let lake_handle = Lake::new(&lake_location)?;
    crate::zendesk::import(&lake_handle, tickets).await?;
    let session = LakeSession::open(&lake_handle, None).await?;
    let catalog = crate::query::saved::catalog(None)?;
    let (summary, _) =
        crate::reconcile::reconcile(&session, &catalog["reconcile/candidates"].sql, &options)
            .await?;
    println!(
        "\n== reconcile (window 1h, SLA 15m): {} purchases, {} tickets; time to ticket p50 {}s, p90 {}s, p99 {}s",
        summary.purchases,
        summary.tickets,
        summary.time_to_ticket_seconds_p50.unwrap_or(0),
        summary.time_to_ticket_seconds_p90.unwrap_or(0),
        summary.time_to_ticket_seconds_p99.unwrap_or(0),
    );
    println!("{:<26} {:>10} {:>10}", "", "generated", "reported");
    let counts = truth.against(&summary);
    for count in &counts {
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
    let differing: Vec<&str> = counts
        .iter()
        .filter(|count| count.generated != count.reported)
        .map(|count| count.name.as_str())
        .collect();
    if !differing.is_empty() {
        return Err(Error::Query(format!(
            "reconcile reported other counts than the generator made ({}): a bug, please report it",
            differing.join(", ")
        )));
    }
    println!(
        "\nNext:\n  - reconcile rows:  eventlake reconcile --lake {lake_location} --from 2026-11-01 --to 2026-11-02 --window 1h --class missing_ticket\n  - a replay dry run:  eventlake replay --lake {lake_location} --name try-1 --where \"event_type = 'purchase' AND dt = '2026-11-01'\" --dry-run\n  - the saved queries and their parameters:   eventlake query --list\n  - one of them:   eventlake query triage/overview --lake {lake_location} --param day={day}\n  - your own SQL:  eventlake query --lake {lake_location} \"SELECT event_type, count(*) FROM events GROUP BY 1\"\n  - a SQL prompt:  eventlake sql --lake {lake_location}\n  - compact again: it adds nothing (exactly once):  eventlake compact --source {raw_location} --lake {lake_location}\n  - any Delta reader works too, e.g. DuckDB: SELECT * FROM delta_scan('{}/events')",
        lake.display()
    );
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::InvalidArgument(error.to_string()))
}

fn print_gen_summary(summary: &GenSummary, out: &str) {
    println!(
        "generated {} objects ({} bytes) in {out}: {} events, {} duplicate deliveries, {} bad records ({} from Firehose's error/ prefix)",
        summary.objects, summary.bytes, summary.events, summary.duplicates, summary.bad_records, summary.firehose_errors
    );
}

fn print_compact_summary(metrics: &CompactMetrics, lake: &str) {
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
