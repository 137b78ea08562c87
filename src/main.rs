//! The `eventlake` binary: parse flags, run the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

// glibc's malloc gives each thread an arena and returns little of it: a compaction whose heap
// peaked at 226 MiB held 518 MiB of RSS. jemalloc, returning dirty pages after a second (and
// muzzy ones at once) from a background thread, held 336 MiB at the same speed.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol; `_RJEM_MALLOC_CONF` in the environment overrides.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let cli = eventlake::cli::Cli::parse();
    eventlake::cli::init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(eventlake::cli::run(cli)) {
        Ok(()) => ExitCode::from(eventlake::error::exit_code::DONE),
        Err(error) => {
            let code = error.exit_code();
            eprintln!("error: {}", eventlake::error::chain(&error));
            ExitCode::from(code)
        }
    }
}
