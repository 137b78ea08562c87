//! gen → compact → read back: counts, ids, partitions, values, reruns, layouts and framings.

use eventlake::generate::{GenOptions, Layout};
use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::common::*;

fn options(events: u64, layout: Layout) -> GenOptions {
    GenOptions {
        events,
        clients: 50,
        days: 2,
        seed: 11,
        dup_rate: 0.02,
        bad_rate: 0.005,
        layout,
        ..GenOptions::default()
    }
}

on_both_backends!(
    compact_holds_every_good_record_once_and_every_bad_one_in_errors,
    duplicates_across_runs_are_dropped_against_the_table,
);

async fn compact_holds_every_good_record_once_and_every_bad_one_in_errors(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let summary = generate(
        &raw,
        &GenOptions {
            objects: 9,
            ..options(20_000, Layout::Firehose)
        },
    )
    .await;
    assert!(summary.duplicates > 0 && summary.bad_records > 0 && summary.firehose_errors > 0);

    let metrics = compact_cli(&raw, &lake, &[]);
    assert_eq!(metrics["records_written"], summary.events);
    assert_eq!(metrics["duplicates"], summary.duplicates);
    assert_eq!(metrics["errors"], summary.bad_records);
    assert_eq!(metrics["objects"], summary.objects);
    assert_eq!(
        metrics["records_in"],
        summary.events + summary.duplicates + summary.bad_records
    );
    assert_lake_matches(&lake, &summary).await;

    // Partitioned by event type and the event's UTC date, with typed columns.
    let by_type = sql(
        &lake,
        "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    let expected: Vec<Vec<String>> = summary
        .by_event_type
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    assert_eq!(by_type, expected);
    let mismatched_dt = count(
        &lake,
        "SELECT count(*) FROM events WHERE dt <> to_char(time, '%Y-%m-%d')",
    )
    .await;
    assert_eq!(mismatched_dt, 0);
    let (store, root) = lake.store();
    let partition = root.join("events").join("event_type=searching");
    assert!(store.list(Some(&partition)).next().await.is_some());
    let transformed = sql(
        &lake,
        "SELECT count(*) FROM events WHERE client_id IS NULL OR cardinality(resources) <> 0 OR strpos(detail, client_id) = 0",
    )
    .await;
    assert_eq!(
        transformed[0][0], "0",
        "the transform put every client id in detail.accountNumber"
    );
    let loyalty = count(&lake, "SELECT count(*) FROM events WHERE event_type = 'loyaltypurchase' AND strpos(detail, '\"ticket\"') > 0").await;
    assert_eq!(loyalty, summary.by_event_type["loyaltypurchase"]);
    let firehose = count(&lake, "SELECT count(*) FROM errors WHERE error_code = 'firehose_error' AND strpos(error_message, 'Lambda.FunctionError') > 0").await;
    assert_eq!(firehose, summary.firehose_errors);
    let lineage = count(
        &lake,
        &format!(
            "SELECT count(*) FROM events WHERE source_object NOT LIKE '{}/raw/2026/%'",
            uri_of(&raw)
        ),
    )
    .await;
    assert_eq!(lineage, 0);

    // A rerun adds nothing.
    let again = compact_cli(&raw, &lake, &[]);
    assert_eq!(again["objects"], 0);
    assert_eq!(again["objects_skipped"], summary.objects);
    assert_lake_matches(&lake, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_layout_and_compression_gives_the_same_answer() {
    for (layout, gzip, zstd) in [
        (Layout::Ndjson, false, true),
        (Layout::Sample, true, false),
        (Layout::Firehose, false, false),
    ] {
        let dir = temp_dir();
        let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
        let summary = generate(
            &raw,
            &GenOptions {
                gzip,
                zstd,
                objects: 4,
                ..options(6_000, layout)
            },
        )
        .await;
        compact_cli(&raw, &lake, &[]);
        assert_lake_matches(&lake, &summary).await;
    }
}

/// The run's first unit is sized by the records of the first object's head: objects of 2 KB
/// records, at most 650 events a unit, make two units of six objects. Sized by a guess of
/// small records (200 bytes), the first unit took one object and the run three units; and an id
/// in two units makes the later one rewrite its files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_unit_is_sized_by_the_records_it_reads() {
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    std::fs::create_dir_all(&raw).unwrap();
    let note = "n".repeat(2000);
    for object in 0..12 {
        let records: String = (0..100)
            .map(|record| {
                format!(
                    r#"{{"id":"{object:04}-{record:04}","time":"2026-11-20T10:00:00Z","resources":["c1"],"detail":{{"eventType":"searching","schemaVersion":1,"note":"{note}"}}}}"#
                ) + "\n"
            })
            .collect();
        std::fs::write(raw.join(format!("object-{object:02}")), records).unwrap();
    }
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nunit_max_events = 650\n").unwrap();
    let metrics = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(metrics["records_written"], 1200, "{metrics}");
    assert_eq!(metrics["units"], 2, "{metrics}");
}

async fn duplicates_across_runs_are_dropped_against_the_table(backend: Backend) {
    let dir = temp_dir();
    let (raw, lake) = place(backend, &dir);
    let summary = generate(&raw, &options(3_000, Layout::Firehose)).await;
    compact_cli(&raw, &lake, &[]);
    // The same events redelivered in a new object, later.
    let (store, root) = raw.store();
    let first = store
        .list(Some(
            &root
                .clone()
                .join("raw")
                .join("2026")
                .join("11")
                .join("01")
                .join("00"),
        ))
        .next()
        .await
        .unwrap()
        .unwrap()
        .location;
    let redelivered = root
        .join("raw")
        .join("2026")
        .join("11")
        .join("30")
        .join("00")
        .join("client-events-1-2026-11-30-00-00-00-6f1c2a4e-0000-4000-8000-000000000099");
    store.copy(&first, &redelivered).await.unwrap();
    let metrics = compact_cli(&raw, &lake, &[]);
    assert_eq!(metrics["objects"], 1);
    assert_eq!(metrics["records_written"], 0);
    assert!(metrics["duplicates"].as_u64().unwrap() > 0);
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events").await,
        summary.events
    );
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT id) FROM events").await,
        summary.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_framings_and_bad_bytes_are_accounted_for() {
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    std::fs::create_dir_all(&raw).unwrap();
    let good = |id: &str, spaced: bool| {
        let record = format!(
            r#"{{"version":"0","id":"{id}","detail-type":"prod","source":"clientevents","account":"1","time":"2026-11-20T13:45:01Z","region":"us-east-1","resources":["c-{id}"],"detail":{{"eventType":"searching","schemaVersion":1,"data":{{"searchTerm":"x"}}}}}}"#
        );
        if spaced {
            record.replace("\":", "\": ").replace(",\"", ", \"")
        } else {
            record
        }
    };
    let mut body = Vec::new();
    body.extend_from_slice(b"\xEF\xBB\xBF");
    body.extend_from_slice(good("a1", false).as_bytes());
    body.extend_from_slice(good("a2", true).as_bytes());
    body.extend_from_slice(b"\r\n\r\n");
    body.extend_from_slice(good("a3", false).as_bytes());
    body.extend_from_slice(b"\nnot json\n");
    body.extend_from_slice(&good("a4", false).as_bytes()[..60]);
    body.extend_from_slice(b"\n");
    body.extend_from_slice(good("a5", true).as_bytes());
    body.extend_from_slice(
        &good("a6", false)
            .replace("prod", "pr\u{fffd}d")
            .into_bytes()
            .iter()
            .map(|&b| if b == 0xbd { 0xff } else { b })
            .collect::<Vec<_>>(),
    );
    body.extend_from_slice(format!("{{\"pad\":\"{}\"}}", "x".repeat(3000)).as_bytes());
    body.extend_from_slice(
        good("a7", false)
            .replace("\"time\":\"2026-11-20T13:45:01Z\",", "")
            .as_bytes(),
    );
    body.extend_from_slice(good("a8", false).as_bytes());
    body.extend_from_slice(b"\n{\"id\": \"a9\", \"time\": \"2026-11-20T13:45:01Z\", \"detail\": {\"eventType\": \"../../../../etc\"}}\n");
    body.extend_from_slice(&good("a10", false).as_bytes()[..100]);
    std::fs::write(raw.join("mixed"), &body).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, good("b1", false).as_bytes()).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.extend_from_slice(b"\x00garbage that is not gzip");
    std::fs::write(raw.join("corrupt.gz"), &gz).unwrap();
    std::fs::write(raw.join("empty"), b"").unwrap();
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[limits]\nmax_record_bytes = 2048\n").unwrap();

    let metrics = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    let ids = sql(&lake, "SELECT id FROM events ORDER BY id").await;
    let ids: Vec<&str> = ids.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a5", "a8", "a9", "b1"]);
    let codes = sql(
        &lake,
        "SELECT error_code, count(*) FROM errors GROUP BY 1 ORDER BY 1",
    )
    .await;
    let codes: Vec<(String, String)> = codes
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let expected = [
        ("corrupt_object", "1"),
        ("invalid_utf8", "1"),
        ("missing_field", "1"),
        ("not_json", "1"),
        ("oversized", "1"),
        ("truncated", "2"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(codes, expected, "{metrics}");
    assert_ledger_matches_tables(&lake).await;
    // A value from data cannot leave the table folder.
    assert!(lake.join("events").read_dir().unwrap().all(|entry| entry
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(['_', 'e'])));
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE event_type = '../../../../etc'"
        )
        .await,
        1
    );
    let offsets = count(
        &lake,
        "SELECT count(*) FROM errors WHERE byte_offset IS NULL AND error_code <> 'corrupt_object'",
    )
    .await;
    assert_eq!(offsets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_inside_the_source_is_not_read_as_input() {
    let dir = temp_dir();
    let raw = path(&dir, "raw");
    let summary = generate(&raw, &options(2_000, Layout::Ndjson)).await;
    let lake = raw.join("lake");
    compact_cli(&raw, &lake, &[]);
    let again = compact_cli(&raw, &lake, &[]);
    assert_eq!(
        again["objects"], 0,
        "the lake's own files are not new raw objects"
    );
    assert_lake_matches(&lake, &summary).await;
}

#[test]
fn failures_are_clear_messages_and_a_non_zero_exit() {
    let dir = temp_dir();
    let missing = std::process::Command::new(binary())
        .args(["compact", "--source", "/nonexistent/raw", "--lake"])
        .arg(path(&dir, "lake"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("no such folder") && stderr.contains("/nonexistent/raw"),
        "{stderr}"
    );

    let config = path(&dir, "bad.toml");
    std::fs::write(
        &config,
        "[partitioning]\nprefix = \"x=!{partitionKeyFromLambda:k}/\"\n",
    )
    .unwrap();
    let bad_config = std::process::Command::new(binary())
        .args([
            "compact",
            "--source",
            "/tmp",
            "--lake",
            "/tmp/never",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad_config.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_config.stderr).contains("partitionKeyFromLambda"));

    let usage = std::process::Command::new(binary())
        .args(["compact", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// A row group is cut at `row_group_bytes` of encoded data as well as at `row_group_rows`: a
/// writer holds its partition's open row group in memory, so large records must not make it
/// grow with them. Every row is still written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_groups_are_cut_at_their_byte_bound() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    std::fs::create_dir_all(&raw).unwrap();
    // 1,500 events of one partition, each with 2,000 hex digits zstd cannot shrink to nothing.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let records: String = (0..1_500)
        .map(|record| {
            let note: String = (0..2_000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b"0123456789abcdef"[(state % 16) as usize])
                })
                .collect();
            format!(
                r#"{{"id":"id-{record:05}","time":"2026-11-20T10:00:00Z","resources":["c1"],"detail":{{"eventType":"searching","schemaVersion":1,"note":"{note}"}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(raw.join("object-00"), records).unwrap();
    let config = path(&dir, "eventlake.toml");
    let bound = 256 << 10;
    std::fs::write(&config, "[output]\nrow_group_bytes = \"256KiB\"\n").unwrap();
    let metrics = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    assert_eq!(metrics["records_written"], 1500, "{metrics}");
    let files = parquet_files(&lake.join("events"));
    let (mut row_groups, mut rows) = (0, 0);
    for file in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        for row_group in reader.metadata().row_groups() {
            row_groups += 1;
            rows += row_group.num_rows();
            // The writer cuts by its estimate of the encoded size: a little over, never double.
            assert!(
                row_group.compressed_size() <= 2 * bound,
                "a row group of {} bytes in {}",
                row_group.compressed_size(),
                file.display()
            );
        }
    }
    assert_eq!(rows, 1500);
    assert!(row_groups >= 4, "{row_groups} row groups");
}

/// The Parquet files under `dir`, at any depth (not the log's checkpoints).
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("_delta_log") {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "parquet") {
                files.push(path);
            }
        }
    }
    files
}

/// `events` files compress the columns that hold data with zstd and leave the near-constant
/// ones (the run's time, the AWS account) uncompressed: runs of one dictionary index, which
/// zstd cannot shrink. `source_object` stays compressed: its dictionary holds an object's name
/// for each object in the file (thousands of 100-byte URIs when objects are small), which zstd
/// shrinks several times over. Ids are written with their lengths apart from their text
/// (`DELTA_LENGTH_BYTE_ARRAY`), which zstd compresses faster and smaller than plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_files_encode_and_compress_each_column_for_its_values_and_keep_useful_statistics() {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    generate(&raw, &options(4_000, Layout::Sample)).await;
    compact_cli(&raw, &lake, &[]);
    let files = parquet_files(&lake.join("events"));
    assert!(!files.is_empty());
    let uncompressed = [
        "detail_type",
        "source",
        "account",
        "region",
        "schema_version",
        "ingested_at",
    ];
    for file in files {
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        for row_group in reader.metadata().row_groups() {
            for column in row_group.columns() {
                let name = column.column_path().string();
                let wanted = if uncompressed.contains(&name.as_str()) {
                    "UNCOMPRESSED"
                } else {
                    "ZSTD"
                };
                let codec = match column.compression() {
                    Compression::UNCOMPRESSED => "UNCOMPRESSED",
                    Compression::ZSTD(_) => "ZSTD",
                    other => panic!("{name} in {} is {other:?}", file.display()),
                };
                assert_eq!(codec, wanted, "{name} in {}", file.display());
                if name == "id" {
                    let encodings = column.encodings().collect::<Vec<_>>();
                    assert!(
                        encodings.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY)
                            && !encodings.contains(&Encoding::PLAIN),
                        "id in {} is {encodings:?}",
                        file.display()
                    );
                }
                // Min/max where a query prunes by them; none for the JSON text, the object
                // name and the near-constant text columns (see `table::data_file_properties`).
                let min_max = column
                    .statistics()
                    .is_some_and(|statistics| statistics.min_bytes_opt().is_some());
                match name.as_str() {
                    "id" | "client_id" | "time" => assert!(min_max, "{name} in {}", file.display()),
                    "detail" | "source_object" | "detail_type" | "source" | "account"
                    | "region" => {
                        assert!(!min_max, "{name} in {}", file.display())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Every id is in its row group's bloom filter (the id index and `WHERE id = …` skip a row
/// group whose filter rules an id out; parquet-rs folds each filter down after its last id),
/// over events spread across many days: most partitions start small (a writer of their own,
/// its filters sized for a sixteenth of a row group), some of them outgrow that (their file
/// closes, the rest goes to the lane's writer), and a few large ones fill several row groups.
/// No filter, however small, lets through more than 1% of ids it was not given (the target is
/// 0.01%).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_is_in_its_row_groups_bloom_filter() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    use parquet::file::properties::ReaderProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;
    let dir = temp_dir();
    let (raw, lake) = (path(&dir, "raw"), path(&dir, "lake"));
    let gen = GenOptions {
        days: 20,
        late_rate: 0.2,
        bad_rate: 0.0,
        ..options(8_000, Layout::Sample)
    };
    generate(&raw, &gen).await;
    // Row groups of 256 rows: the large partitions hold several, written before the input ends.
    let config = path(&dir, "eventlake.toml");
    std::fs::write(&config, "[output]\nrow_group_rows = 256\n").unwrap();
    let metrics = compact_cli(&raw, &lake, &["--config", config.to_str().unwrap()]);
    let files = parquet_files(&lake.join("events"));
    assert!(files.len() > 50, "{} files", files.len());
    let mut checked = 0;
    for file in files {
        let options = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let reader =
            SerializedFileReader::new_with_options(std::fs::File::open(&file).unwrap(), options)
                .unwrap();
        for (index, row_group) in reader.metadata().row_groups().iter().enumerate() {
            let id_column = row_group
                .columns()
                .iter()
                .position(|column| column.column_path().string() == "id")
                .unwrap();
            let group = reader.get_row_group(index).unwrap();
            let filter = group
                .get_column_bloom_filter(id_column)
                .unwrap_or_else(|| panic!("no id filter in {}", file.display()));
            let false_hits = (0..2_000)
                .filter(|n| filter.check(format!("absent-{index}-{n}").as_bytes()))
                .count();
            assert!(
                false_hits <= 20,
                "{false_hits} of 2,000 absent ids pass row group {index}'s filter in {}",
                file.display()
            );
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                    .unwrap();
            let mask = ProjectionMask::columns(builder.parquet_schema(), ["id"]);
            for batch in builder
                .with_row_groups(vec![index])
                .with_projection(mask)
                .build()
                .unwrap()
            {
                let batch = batch.unwrap();
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .unwrap();
                for id in ids.iter().flatten() {
                    assert!(
                        filter.check(id.as_bytes()),
                        "{id} is not in its filter in {}",
                        file.display()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, metrics["records_written"].as_u64().unwrap());
}
