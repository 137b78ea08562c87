//! The command line as clap parses it, without side effects (ripgrep's low-level arguments);
//! [`LakeArgs::resolve`] then reads the config file, once per command, into what the command
//! runs. Sizes and durations are parsed here, so a bad one is a usage error before any I/O.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::OutputFormat;
use crate::compact::Shard;
use crate::config::{ByteSize, Config};
use crate::error::{Error, Result};
use crate::generate::Layout;
use crate::query::AsOf;
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

    /// Log lines as text, or as JSON objects for log collectors.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate raw objects shaped like a Firehose bucket (deterministic, with duplicates, late
    /// events and bad records).
    #[command(visible_alias = "gen")]
    Generate(GenerateArgs),
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
    /// The lake's tables in other engines' catalogs: DDL for Athena, Trino and Spark, or Glue.
    #[command(subcommand)]
    Catalog(CatalogCommand),
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
    /// Reads the config file (once) and resolves the lake from the flags over it.
    pub fn resolve(&self, endpoint_url: Option<&str>) -> Result<LakeSettings> {
        let config = Config::load(self.config.as_deref())?;
        let location = match &self.lake {
            Some(lake) => lake.clone(),
            None => config.lake.clone().ok_or_else(|| {
                Error::InvalidArgument(
                    "no lake given: pass --lake, set EVENTLAKE_LAKE, or put `lake = …` in eventlake.toml"
                        .into(),
                )
            })?,
        };
        let storage_options = crate::storage::storage_options(&config.storage, endpoint_url);
        Ok(LakeSettings {
            config,
            location,
            storage_options,
        })
    }

    /// The lake, opened with the storage options of the config and the endpoint.
    pub fn open(&self, endpoint_url: Option<&str>) -> Result<Lake> {
        self.resolve(endpoint_url)?.open()
    }
}

/// What [`LakeArgs`] and the config file resolve to.
#[derive(Debug)]
pub struct LakeSettings {
    /// The config file as read, for what else a command takes from it.
    pub config: Config,
    /// The lake as given: by the flag, EVENTLAKE_LAKE, or `lake` in the config.
    pub location: String,
    /// The config's `[storage]` with the endpoint, for every location the command opens.
    pub storage_options: HashMap<String, String>,
}

impl LakeSettings {
    pub fn open(&self) -> Result<Lake> {
        Lake::with_storage_options(&self.location, self.storage_options.clone())
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
    pub as_of: Option<AsOf>,
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
    pub as_of: Option<AsOf>,
    /// Rows a result shows at most.
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
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
    /// The first day of the events (UTC, YYYY-MM-DD).
    #[arg(long, value_name = "DAY", default_value = "2026-11-01")]
    pub start: String,
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
// compact keeps its own help for --lake, which says what a location looks like.
#[command(mut_arg("lake", |lake| lake.help(
    "The lake: a folder or s3://bucket/prefix (default: EVENTLAKE_LAKE, then `lake` in the config)"
)))]
pub struct CompactArgs {
    /// Raw objects: a folder or s3://bucket/prefix; or, with --follow, a Kinesis stream:
    /// kinesis://NAME or the stream's ARN.
    #[arg(long)]
    pub source: String,
    #[command(flatten)]
    pub at: LakeArgs,
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
    #[arg(long, conflicts_with = "follow")]
    pub then_optimize: bool,
    /// Run until stopped, committing new objects in micro-batches (SIGTERM or SIGINT commit the
    /// current one and exit 0; a second signal exits at once).
    #[arg(long)]
    pub follow: bool,
    /// With --follow: an SQS queue URL of S3 event notifications, instead of listing the source.
    #[arg(long, value_name = "URL", requires = "follow")]
    pub queue: Option<String>,
    /// With --follow: commit when this long has passed since the first uncommitted object …
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub commit_interval: Seconds,
    /// … or when this many bytes are waiting, whichever comes first.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub commit_bytes: ByteSize,
    /// With --follow and no queue: list from the newest key's hour minus this much.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub lookback: Seconds,
    /// With --follow: list the whole source this often, to catch objects out of order.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub full_listing_every: Seconds,
    /// With a stream: where shards the lake has never read start (trim-horizon, latest, or
    /// at-timestamp:<RFC 3339 time>).
    #[arg(long, value_name = "POSITION", default_value = "trim-horizon")]
    pub start: String,
    /// With --follow: serve Prometheus metrics at http://HOST:PORT/metrics and /healthz.
    #[arg(long, value_name = "HOST:PORT", requires = "follow")]
    pub metrics_addr: Option<String>,
    /// Compact only shard K of N (numbered from 0): the objects whose URI hashes to K (of a
    /// stream, the shards whose id does). N runs with K = 0 … N-1 on one source and lake split
    /// the work between them.
    #[arg(long, value_name = "K/N", value_parser = parse_shard, conflicts_with = "shard_count")]
    pub shard: Option<Shard>,
    /// Shard this run by N, with its index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)
    /// or AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job).
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u32>,
}

fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    Shard::parse(text).map_err(|error| error.to_string())
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
    pub as_of: Option<AsOf>,
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
    #[arg(long, default_value = crate::table::EVENTS)]
    pub table: String,
    /// Only partitions matching these conditions, e.g. "dt >= '2026-11-01'".
    #[arg(long = "where", value_name = "PARTITION CONDITIONS")]
    pub where_: Option<String>,
    /// The size files are packed to.
    #[arg(long, default_value = OPTIMIZE_TARGET_SIZE)]
    pub target_size: ByteSize,
    /// Columns to sort (z-order) each partition's files by; "none" only bin-packs.
    #[arg(long, default_value = OPTIMIZE_SORT_BY, value_delimiter = ',')]
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
    pub retain: Seconds,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow a --retain shorter than a table's delta.deletedFileRetentionDuration (7 days by
    /// default): running queries and time travel inside that window may fail.
    #[arg(long)]
    pub break_time_travel_and_running_readers: bool,
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
    pub older_than: Seconds,
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
pub enum CatalogCommand {
    /// Print the statements that register each table of the lake in an engine's catalog.
    Ddl(CatalogDdlArgs),
    /// Create (or update) each table of the lake in an AWS Glue database, for Athena and Spark.
    Register(CatalogRegisterArgs),
}

#[derive(Debug, Args)]
pub struct CatalogDdlArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// The engine whose SQL to print.
    #[arg(long, value_enum, default_value = "athena")]
    pub engine: crate::catalog::Engine,
    /// The database (Athena, Spark) or schema (Trino) the tables go in.
    #[arg(long, default_value = "eventlake")]
    pub database: String,
    /// Trino: the catalog of the Delta Lake connector.
    #[arg(long, default_value = "delta")]
    pub trino_catalog: String,
}

#[derive(Debug, Args)]
pub struct CatalogRegisterArgs {
    #[command(flatten)]
    pub at: LakeArgs,
    /// The Glue database (created if missing).
    #[arg(long, value_name = "NAME")]
    pub glue_database: String,
    /// AWS region for Glue (default: AWS_REGION or the profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// Print what was registered as JSON.
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
    pub window: Seconds,
    /// Tickets created later than this after their purchase are late.
    #[arg(long, default_value = "15m")]
    pub sla: Seconds,
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

/// The size `optimize` packs files to unless told, and the size `compact --then-optimize`
/// packs to: the same, so that a scheduled `compact --then-optimize` leaves the table as a
/// separate `optimize` run would.
pub const OPTIMIZE_TARGET_SIZE: &str = "256MiB";
/// [`OPTIMIZE_TARGET_SIZE`] in bytes.
pub const OPTIMIZE_TARGET_BYTES: u64 = 256 << 20;
/// The column `optimize` (and `compact --then-optimize`) sorts files by unless told: queries
/// select events by time, and files sorted by it have narrow `time` ranges in their statistics,
/// so a query skips the files outside its range.
pub const OPTIMIZE_SORT_BY: &str = "time";

/// A duration flag, in whole seconds: `24h`, `90m`, `30s`, `2d` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub i64);

impl Seconds {
    /// Reconcile adds windows to times in microseconds: a duration stays far from overflowing.
    const MAX: i64 = 100 * 366 * 86_400;

    pub fn as_duration(self) -> Duration {
        Duration::from_secs(self.0.unsigned_abs())
    }
}

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (number, unit) = text.split_at(
            text.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len()),
        );
        let value: i64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 24h, 90m or 30s"))?;
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(format!("{text:?}: use s, m, h or d")),
        };
        value
            .checked_mul(scale)
            .filter(|seconds| *seconds <= Self::MAX)
            .map(Seconds)
            .ok_or_else(|| format!("{text:?}: a duration is at most 100 years"))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_a_unit_or_plain_seconds_up_to_a_century() {
        let seconds = |text: &str| text.parse::<Seconds>().map(|seconds| seconds.0);
        assert_eq!(seconds("24h"), Ok(86_400));
        assert_eq!(seconds("90m"), Ok(5_400));
        assert_eq!(seconds("30s"), Ok(30));
        assert_eq!(seconds("2d"), Ok(172_800));
        assert_eq!(seconds("45"), Ok(45));
        assert_eq!(seconds(" 7d "), Ok(604_800));
        assert!(seconds("36600d").is_ok());
        for bad in [
            "",
            "h",
            "1w",
            "-5m",
            "1.5h",
            "36601d",
            "99999999999999999999s",
        ] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_and_durations_are_usage_errors_before_anything_runs() {
        let parsed = |args: &[&str]| Cli::try_parse_from([&["eventlake"][..], args].concat());
        let vacuum = parsed(&["vacuum", "--retain", "soon"]).unwrap_err();
        assert_eq!(
            vacuum.exit_code(),
            i32::from(crate::error::exit_code::USAGE)
        );
        assert!(vacuum.to_string().contains("not a duration"), "{vacuum}");
        let optimize = parsed(&["optimize", "--target-size", "12 parsecs"]).unwrap_err();
        assert!(
            optimize.to_string().contains("unknown size unit"),
            "{optimize}"
        );
        let Command::Reconcile(reconcile) = parsed(&["reconcile", "--from", "a", "--to", "b"])
            .unwrap()
            .command
        else {
            panic!("not reconcile");
        };
        assert_eq!(
            (reconcile.window, reconcile.sla),
            (Seconds(86_400), Seconds(900))
        );
    }

    #[test]
    fn optimize_defaults_are_what_then_optimize_uses() {
        let Command::Optimize(optimize) = Cli::parse_from(["eventlake", "optimize"]).command else {
            panic!("not optimize");
        };
        assert_eq!(optimize.target_size.0, OPTIMIZE_TARGET_BYTES);
        assert_eq!(optimize.sort_by, [OPTIMIZE_SORT_BY]);
    }

    #[test]
    fn compact_takes_the_lake_flags_with_its_own_help() {
        let Command::Compact(compact) = Cli::parse_from([
            "eventlake",
            "compact",
            "--source",
            "raw",
            "--lake",
            "lake",
            "--config",
            "a.toml",
        ])
        .command
        else {
            panic!("not compact");
        };
        assert_eq!(compact.at.lake.as_deref(), Some("lake"));
        assert!(compact
            .at
            .config
            .is_some_and(|config| config.ends_with("a.toml")));
        let command = Cli::command();
        let lake_help = command
            .find_subcommand("compact")
            .and_then(|compact| compact.get_arguments().find(|arg| arg.get_id() == "lake"))
            .and_then(|lake| lake.get_help())
            .map(ToString::to_string);
        assert!(lake_help.is_some_and(|help| help.starts_with("The lake: a folder")));
    }
}
