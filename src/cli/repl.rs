//! `eventlake sql`: an interactive SQL prompt over a lake.
//!
//! Statements end with `;` and may span lines; `\d` lists tables, `\d TABLE` describes one, `\q`
//! quits. History is kept in `~/.eventlake_history`. Ctrl-C cancels the running query (not the
//! prompt); at the prompt it clears the line, and Ctrl-D quits.

use std::collections::HashMap;
use std::time::Instant;

use datafusion::scalar::ScalarValue;
use rustyline::error::ReadlineError;

use super::output::{write_stream, OutputFormat};
use crate::error::{Error, Result};
use crate::query::LakeSession;

pub async fn run(session: &LakeSession, max_rows: usize) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|error| Error::InvalidArgument(error.to_string()))?;
    let history = std::env::var_os("HOME")
        .map(|home| std::path::PathBuf::from(home).join(".eventlake_history"));
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    eprintln!(
        "eventlake sql: tables {}. End statements with `;`. \\d, \\d TABLE, \\q.",
        session.tables().join(", ")
    );
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "eventlake> "
        } else {
            "      ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                statement.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(Error::InvalidArgument(error.to_string())),
        };
        let trimmed = line.trim();
        if statement.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match trimmed.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["\\q"] => break,
                ["\\d"] => {
                    let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1";
                    execute(session, sql, HashMap::new(), max_rows).await;
                }
                ["\\d", table] => {
                    let sql = "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                               WHERE table_name = $table ORDER BY ordinal_position";
                    let params = HashMap::from([(
                        "table".to_owned(),
                        ScalarValue::Utf8(Some(table.to_string())),
                    )]);
                    execute(session, sql, params, max_rows).await;
                }
                _ => eprintln!("unknown command {trimmed}: \\d, \\d TABLE, \\q"),
            }
            continue;
        }
        if trimmed.is_empty() && statement.is_empty() {
            continue;
        }
        statement.push_str(&line);
        statement.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut statement);
        let _ = editor.add_history_entry(sql.trim());
        execute(
            session,
            sql.trim().trim_end_matches(';'),
            HashMap::new(),
            max_rows,
        )
        .await;
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(())
}

/// Runs one statement, printing its result or its error; Ctrl-C cancels it.
async fn execute(
    session: &LakeSession,
    sql: &str,
    params: HashMap<String, ScalarValue>,
    max_rows: usize,
) {
    let started = Instant::now();
    let run = async {
        let frame = session.sql(sql, params).await?;
        let stream = frame.execute_stream().await?;
        write_stream(
            stream,
            OutputFormat::Table,
            Box::new(std::io::stdout()),
            max_rows,
        )
        .await
    };
    tokio::select! {
        result = run => match result {
            Ok(printed) => eprintln!(
                "{} row{}{} in {:.3}s",
                printed.rows,
                if printed.rows == 1 { "" } else { "s" },
                if printed.truncated { format!(" (first {max_rows} shown)") } else { String::new() },
                started.elapsed().as_secs_f64()
            ),
            Err(error) => eprintln!("error: {error}"),
        },
        _ = tokio::signal::ctrl_c() => eprintln!("cancelled after {:.3}s", started.elapsed().as_secs_f64()),
    }
}
