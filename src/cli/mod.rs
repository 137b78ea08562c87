//! Command-line flags, and what each command prints.
//!
//! ```text
//! args.rs       the flags, as clap parses them
//! commands/     one file a command (the upkeep ones together): flags → library call → printing
//! output.rs     query results as table, CSV, JSON, Parquet, Arrow
//! progress.rs   the bars on a terminal
//! repl.rs       the `sql` prompt
//! ```
//!
//! Exit codes (`error::exit_code`): 0 done; 1 the command failed (the message says why); 2 bad usage
//! (from clap, or an argument the command refuses); 3 finished, but some events were not delivered.

pub mod args;
mod commands;
mod output;
mod progress;
mod repl;

pub use args::{Cli, Command};
pub use output::OutputFormat;

use std::path::{Path, PathBuf};

use crate::error::Result;
use args::{CatalogCommand, ZendeskCommand};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let endpoint_url = cli.endpoint_url.as_deref();
    match cli.command {
        Command::Generate(args) => commands::generate::run(&args, endpoint_url).await,
        Command::Compact(args) => commands::compact::run(&args, endpoint_url).await,
        Command::Query(args) => commands::query::run(&args, endpoint_url).await,
        Command::Sql(args) => commands::query::prompt(&args, endpoint_url).await,
        Command::Replay(args) => commands::replay::run(&args, endpoint_url).await,
        Command::Zendesk(ZendeskCommand::Sync(args)) => {
            commands::zendesk::sync(&args, endpoint_url).await
        }
        Command::Reconcile(args) => commands::reconcile::run(&args, endpoint_url).await,
        Command::Optimize(args) => commands::upkeep::optimize(&args, endpoint_url).await,
        Command::Vacuum(args) => commands::upkeep::vacuum(&args, endpoint_url).await,
        Command::Expire(args) => commands::upkeep::expire(&args, endpoint_url).await,
        Command::History(args) => commands::upkeep::history(&args, endpoint_url).await,
        Command::Demo(args) => commands::demo::run(&args).await,
        Command::Catalog(CatalogCommand::Ddl(args)) => {
            commands::catalog::ddl(&args, endpoint_url).await
        }
        Command::Catalog(CatalogCommand::Register(args)) => {
            commands::catalog::register(&args, endpoint_url).await
        }
    }
}

pub fn init_logging(verbose: u8, format: args::LogFormat) {
    let default = match verbose {
        // The Delta kernel logs an ERROR when probing a table that does not exist yet, and
        // delta-rs a WARN or ERROR for each commit race, which eventlake resolves and counts
        // itself (`commit_races`; shards creating the same table).
        // Its merge warns of a metric it derives itself, on every merge (reconcile's).
        0 => "warn,buoyant_kernel=off,deltalake_core::writer::stats=error,deltalake_core::kernel::transaction=off,deltalake_core::operations::merge=error",
        1 => "eventlake=info,warn,buoyant_kernel=off,deltalake_core::writer::stats=error,deltalake_core::kernel::transaction=off,deltalake_core::operations::merge=error",
        _ => "eventlake=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a terminal: a pipe or a log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        args::LogFormat::Text => builder.try_init(),
        args::LogFormat::Json => builder.json().try_init(),
    };
}

/// A summary as one line of JSON (`--json`).
fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

/// The folder of saved queries: `--queries` (or EVENTLAKE_QUERIES), else ./queries if present.
fn queries_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("queries")).filter(|dir| dir.is_dir()))
}
