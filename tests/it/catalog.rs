//! The lake in other engines' catalogs: Glue tables (on moto's Glue, read back with boto3),
//! the DDL each engine runs, and tables kept within what Athena, Trino and Spark read.

use eventlake::generate::GenOptions;

use crate::common::*;
use crate::interop::python;

fn small_input() -> GenOptions {
    GenOptions {
        events: 2_000,
        objects: 4,
        bad_rate: 0.01,
        ..GenOptions::default()
    }
}

fn register(lake: &Loc, database: &str) -> Vec<serde_json::Value> {
    let output = eventlake(lake)
        .args([
            "catalog",
            "register",
            "--lake",
            &lake.uri,
            "--glue-database",
            database,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_register_makes_glue_tables_that_glue_returns_as_delta() {
    let python = python();
    let dir = temp_dir();
    let (raw, lake) = place(Backend::S3, &dir);
    generate(&raw, &small_input()).await;
    compact_cli(&raw, &lake, &[]);

    // A database of its own: the test server outlives a run.
    let database = format!("event_lake_{}", uuid::Uuid::new_v4().simple());
    let first = register(&lake, &database);
    assert!(
        first.iter().all(|table| table["action"] == "created"),
        "{first:?}"
    );
    // A second run updates the same tables (after a lake moved, say) rather than failing.
    let again = register(&lake, &database);
    assert!(
        again.iter().all(|table| table["action"] == "updated"),
        "{again:?}"
    );

    // Read back with another client: boto3 against the same Glue.
    let script = r#"
import json, sys, boto3
glue = boto3.client("glue", endpoint_url=sys.argv[1], region_name="us-east-1")
tables = glue.get_tables(DatabaseName=sys.argv[2])["TableList"]
print(json.dumps([{"name": t["Name"], "type": t.get("TableType"), "location": t["StorageDescriptor"]["Location"],
                   "parameters": t.get("Parameters", {}), "columns": [c["Name"] for c in t["StorageDescriptor"]["Columns"]]}
                  for t in tables]))
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script, &s3_endpoint(), &database])
        .env("AWS_ACCESS_KEY_ID", "eventlake-test")
        .env("AWS_SECRET_ACCESS_KEY", "eventlake-test-secret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tables: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let mut names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["errors", "events", "source_objects"]);
    for table in &tables {
        let name = table["name"].as_str().unwrap();
        assert_eq!(
            table["location"],
            format!("{}/{name}/", lake.uri),
            "{table}"
        );
        assert_eq!(table["type"], "EXTERNAL_TABLE", "{table}");
        assert_eq!(table["parameters"]["table_type"], "DELTA", "{table}");
        assert_eq!(
            table["parameters"]["spark.sql.sources.provider"], "delta",
            "{table}"
        );
    }
    let events = tables.iter().find(|t| t["name"] == "events").unwrap();
    let columns: Vec<&str> = events["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for column in ["id", "time", "detail", "dt"] {
        assert!(columns.contains(&column), "{column} in {columns:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_ddl_prints_each_engines_statements() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    generate(&raw, &small_input()).await;
    compact_cli(&raw, &lake, &[]);
    let ddl = |engine: &str| {
        let output = eventlake(&lake)
            .args(["catalog", "ddl", "--lake", &lake.uri, "--engine", engine])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, spark, _) = ddl("spark");
    assert_eq!(code, Some(0));
    for table in ["errors", "events", "source_objects"] {
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS `eventlake`.`{table}`\nUSING DELTA\nLOCATION 'file://{}/{table}/';",
            lake.uri
        );
        assert!(spark.contains(&statement), "{statement} in {spark}");
    }
    let (code, trino, _) = ddl("trino");
    assert_eq!(code, Some(0));
    assert!(trino.contains("CALL \"delta\".system.register_table(schema_name => 'eventlake', table_name => 'events'"), "{trino}");
    // Athena reads S3 only: a local lake is refused, plainly, as a usage error.
    let (code, _, stderr) = ddl("athena");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("S3"), "{stderr}");
}

/// Athena, Trino and Spark read Delta reader protocol 1 with no table features, and need the
/// classic single-file Parquet checkpoints (not V2 or multi-part): every table keeps to that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_keep_to_the_protocol_other_engines_read_and_have_checkpoints() {
    let dir = temp_dir();
    let (raw, lake) = place(Backend::Local, &dir);
    generate(
        &raw,
        &GenOptions {
            events: 1_200,
            objects: 55,
            bad_rate: 0.02,
            ..GenOptions::default()
        },
    )
    .await;
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_objects = 1\n").unwrap();
    compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    for table in ["events", "errors", "source_objects"] {
        let log = std::path::Path::new(&lake.uri)
            .join(table)
            .join("_delta_log");
        let first = std::fs::read_to_string(log.join(format!("{:020}.json", 0))).unwrap();
        let protocol: serde_json::Value = first
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find_map(|action| action.get("protocol").cloned())
            .unwrap();
        assert_eq!(protocol["minReaderVersion"], 1, "{table}: {protocol}");
        assert!(
            protocol["minWriterVersion"].as_i64().unwrap() <= 2,
            "{table}: {protocol}"
        );
        assert!(
            protocol.get("readerFeatures").is_none(),
            "{table}: {protocol}"
        );
        assert!(
            protocol.get("writerFeatures").is_none(),
            "{table}: {protocol}"
        );
        // No later commit raised the protocol.
        let raised = std::fs::read_dir(&log)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .filter(|path| path.file_name().unwrap() != "00000000000000000000.json")
            .any(|path| {
                std::fs::read_to_string(path)
                    .unwrap()
                    .contains("\"protocol\"")
            });
        assert!(!raised, "{table}: a later commit changed the protocol");
        let last: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap())
                .unwrap();
        let version = last["version"].as_u64().unwrap();
        assert!(
            last.get("parts").is_none(),
            "{table}: a multi-part checkpoint: {last}"
        );
        let checkpoint = log.join(format!("{version:020}.checkpoint.parquet"));
        assert!(
            checkpoint.exists(),
            "{table}: {} is missing",
            checkpoint.display()
        );
    }
}
