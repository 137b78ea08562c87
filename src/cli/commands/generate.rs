//! `eventlake generate`: raw objects shaped like a Firehose bucket, and the known answer.

use crate::cli::args::GenerateArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::generate::{GenOptions, GenSummary};

pub async fn run(args: &GenerateArgs, endpoint_url: Option<&str>) -> Result<()> {
    // `generate` takes no --config: ./eventlake.toml, when present, gives the storage options.
    let storage_options =
        crate::storage::storage_options(&Config::load(None)?.storage, endpoint_url);
    let start = crate::time::parse_time(&format!("{}T00:00:00Z", args.start))
        .map_err(|error| Error::InvalidArgument(format!("--start {:?}: {error}", args.start)))?;
    let options = GenOptions {
        start_seconds: start.div_euclid(1_000_000),
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
    };
    let summary = crate::generate::generate_to(&args.out, &storage_options, &options).await?;
    if args.json {
        println!("{}", crate::cli::to_json(&summary)?);
    } else {
        print_summary(&summary, &args.out);
    }
    Ok(())
}

pub fn print_summary(summary: &GenSummary, out: &str) {
    println!(
        "generated {} objects ({} bytes) in {out}: {} events, {} duplicate deliveries, {} bad records ({} from Firehose's error/ prefix)",
        summary.objects, summary.bytes, summary.events, summary.duplicates, summary.bad_records, summary.firehose_errors
    );
}
