//! The `eventlake` binary: parse flags, run the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

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
