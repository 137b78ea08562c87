//! `eventlake query` (SQL, a SQL file or a saved query, printed in any format) and `eventlake
//! sql` (the prompt).

use std::io::{IsTerminal, Write};

use crate::cli::args::{QueryArgs, SqlArgs};
use crate::cli::output::{self, OutputFormat};
use crate::cli::queries_dir;
use crate::error::{Error, Result};
use crate::query::params::{bind_untyped, parse_assignments};
use crate::query::saved::{self, SavedQuery};
use crate::query::LakeSession;

pub async fn run(args: &QueryArgs, endpoint_url: Option<&str>) -> Result<()> {
    let catalog = saved::catalog(queries_dir(args.queries.as_deref()).as_deref())?;
    if args.list {
        for saved in catalog.values() {
            print_saved(saved);
        }
        return Ok(());
    }
    let given = parse_assignments(&args.params)?;
    let (sql, params) = match (&args.file, &args.query) {
        (Some(file), _) => saved::read_sql_file(file, &given)?,
        (None, Some(text)) => match catalog.get(text) {
            Some(saved) => (saved.sql.clone(), saved.bind(&given)?),
            None => (text.clone(), bind_untyped(&given)),
        },
        (None, None) => {
            return Err(Error::InvalidArgument(
                "give SQL, the name of a saved query, or -f FILE (eventlake query --list shows the saved ones)".into(),
            ))
        }
    };
    let lake = args.at.open(endpoint_url)?;
    let session = LakeSession::open(&lake, args.as_of.as_ref()).await?;
    let mut frame = session.sql(&sql, params).await?;
    let explaining = args.explain || args.analyze;
    if explaining {
        frame = frame.explain(false, args.analyze)?;
    }
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    // A plan is text for eyes, wherever it goes.
    let format = OutputFormat::chosen(args.format, to_terminal || explaining);
    let out: Box<dyn Write + Send> = match &args.output {
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
    let max_rows = if explaining {
        usize::MAX
    } else {
        args.max_rows
    };
    let printed =
        output::write_stream(frame.execute_stream().await?, format, out, max_rows).await?;
    if printed.truncated {
        eprintln!(
            "({} rows; the first {} shown: use --format csv or --output for all)",
            printed.rows, args.max_rows
        );
    }
    Ok(())
}

/// A saved query and its parameters, as `--list` shows them.
fn print_saved(saved: &SavedQuery) {
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

/// `eventlake sql`.
pub async fn prompt(args: &SqlArgs, endpoint_url: Option<&str>) -> Result<()> {
    let session = LakeSession::open(&args.at.open(endpoint_url)?, args.as_of.as_ref()).await?;
    crate::cli::repl::run(&session, args.max_rows).await
}
