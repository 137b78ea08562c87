//! Helpers: generate input, run the binary, read the lake back with DataFusion.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::prelude::SessionContext;
use eventlake::gen::{GenOptions, GenSummary};
use eventlake::table::Lake;
use futures::StreamExt;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_eventlake")
}

/// Generates raw objects into `dir` and returns the known answer.
pub async fn generate(dir: &Path, options: &GenOptions) -> GenSummary {
    let root = eventlake::storage::parse_location(dir.to_str().unwrap()).unwrap();
    let (store, prefix) = eventlake::storage::object_store_for(&root, &HashMap::new()).unwrap();
    eventlake::gen::generate(store, &prefix, options)
        .await
        .unwrap()
}

/// Runs `eventlake compact --json` and returns its metrics as JSON.
pub fn compact_cli(source: &Path, lake: &Path, extra: &[&str]) -> serde_json::Value {
    let output = Command::new(binary())
        .args(["compact", "--json", "--source"])
        .arg(source)
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "compact failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs one SQL query over the lake's tables and returns the rows as strings.
pub async fn sql(lake: &Path, query: &str) -> Vec<Vec<String>> {
    let lake = Lake::new(lake.to_str().unwrap()).unwrap();
    let context = SessionContext::new();
    for name in ["events", "errors", "source_objects"] {
        if let Some(table) = lake.open(name).await.unwrap() {
            table.update_datafusion_session(&context.state()).unwrap();
            context
                .register_table(name, table.table_provider().await.unwrap())
                .unwrap();
        }
    }
    let mut stream = context
        .sql(query)
        .await
        .unwrap()
        .execute_stream()
        .await
        .unwrap();
    let mut rows = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.unwrap();
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|column| arrow::util::display::array_value_to_string(column, row).unwrap())
                    .collect(),
            );
        }
    }
    rows
}

pub async fn count(lake: &Path, query: &str) -> u64 {
    sql(lake, query).await[0][0].parse().unwrap()
}

/// Asserts the lake holds exactly the generator's answer.
pub async fn assert_lake_matches(lake: &Path, summary: &GenSummary) {
    assert_eq!(
        count(lake, "SELECT count(*) FROM events").await,
        summary.events,
        "events"
    );
    assert_eq!(
        count(lake, "SELECT count(DISTINCT id) FROM events").await,
        summary.events,
        "distinct ids"
    );
    assert_eq!(
        count(lake, "SELECT count(*) FROM errors").await,
        summary.bad_records,
        "errors"
    );
    assert_eq!(
        count(lake, "SELECT count(*) FROM source_objects").await,
        summary.objects,
        "ledger rows"
    );
    assert_eq!(
        count(
            lake,
            "SELECT count(DISTINCT source_object) FROM source_objects"
        )
        .await,
        summary.objects,
        "ledger objects"
    );
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("eventlake-test-")
        .tempdir()
        .unwrap()
}

pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
