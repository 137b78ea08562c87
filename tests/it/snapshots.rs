//! Snapshots of what people read: `--help`, the table format, `demo`'s summary and error
//! messages. Timings, rates and temporary paths are filtered out, so a snapshot changes only
//! when the text does. `INSTA_UPDATE=always cargo test snapshots` rewrites them after an
//! intended change; review the diff like code.

use std::process::{Command, Output};

use crate::common::{binary, temp_dir};

/// Runs the binary in `dir` and returns (exit code, stdout, stderr) with volatile parts masked.
fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output: Output = Command::new(binary())
        .current_dir(dir)
        .env_remove("EVENTLAKE_LAKE")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .args(args)
        .output()
        .unwrap();
    let dir = dir.to_string_lossy().into_owned();
    let mask = |text: &[u8]| String::from_utf8_lossy(text).replace(&dir, "[DIR]");
    (
        output.status.code().unwrap_or(-1),
        mask(&output.stdout),
        mask(&output.stderr),
    )
}

macro_rules! assert_masked_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"\d+\.\d+s\b", "[SECONDS]"),
                (r"\(\d+ records/s\)", "([RATE] records/s)"),
                (r"\b20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?\b(?: UTC)?", "[TIME]"),
                // Column widths follow the masked paths' real length: keep the table, not its padding.
                (r" {2,}\|", " |"),
                (r"-{4,}", "---"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[test]
fn help_texts() {
    let dir = temp_dir();
    for command in [
        &[][..],
        &["compact"],
        &["query"],
        &["replay"],
        &["reconcile"],
        &["zendesk", "sync"],
        &["demo"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let (code, stdout, _) = run(dir.path(), &args);
        assert_eq!(code, 0, "{args:?}");
        let name = format!("help_{}", command.join("_"));
        assert_masked_snapshot!(name.trim_end_matches('_'), stdout);
    }
}

#[test]
fn demo_summary_and_table_format() {
    let dir = temp_dir();
    let (code, stdout, stderr) = run(dir.path(), &["demo", "--dir", "demo", "--events", "2000"]);
    assert_eq!(code, 0, "{stderr}");
    assert_masked_snapshot!("demo", stdout);
    // Into a pipe: no warning from a library, no colour codes.
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");

    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "query",
            "--lake",
            "demo/lake",
            "--format",
            "table",
            "SELECT event_type, dt, count(*) AS events FROM events GROUP BY 1, 2 ORDER BY 1, 2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    // No path in this table: its padding is part of what is checked.
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("query_table", stdout);
    });
}

#[test]
fn error_messages() {
    let dir = temp_dir();
    let cases: &[(&str, &[&str])] = &[
        (
            "error_missing_source",
            &["compact", "--source", "no-such-folder", "--lake", "lake"],
        ),
        ("error_unknown_flag", &["compact", "--sauce", "raw"]),
        (
            "error_no_lake",
            &["query", "--lake", "no-such-lake", "SELECT 1 FROM events"],
        ),
        (
            "error_bad_duration",
            &["reconcile", "--lake", "lake", "--window", "soon"],
        ),
    ];
    for (name, args) in cases {
        let (code, stdout, stderr) = run(dir.path(), args);
        assert_masked_snapshot!(
            *name,
            format!("exit code: {code}\nstdout:\n{stdout}\nstderr:\n{stderr}")
        );
    }
}
