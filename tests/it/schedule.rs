//! Exactly once under any schedule: a seeded generator chooses deliveries (new objects, and
//! copies of delivered ones under other names, as Firehose redelivers), and runs (unit sizes,
//! shard counts, shards at once or one after another) over two days of events. The model is
//! the plain path: one run over everything delivered, into a fresh lake. After every run the lake
//! holds no id twice in a partition; at the end it holds exactly the model's ids, errors and
//! ledger. A failure names its seed and schedule, so it replays.

use std::process::{Command, Stdio};

use eventlake::generate::GenOptions;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::common::*;

/// Schedules tried (each a few runs of the binary); raise to search harder.
const SCHEDULES: u64 = 4;
const STEPS: usize = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_schedule_of_runs_and_redeliveries_doubles_or_loses_an_id() {
    for seed in 0..SCHEDULES {
        run_schedule(seed).await;
    }
}

async fn run_schedule(seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = temp_dir();
    let pool = Loc::local(path(&dir, "pool"));
    let raw = path(&dir, "raw");
    let lake = Loc::local(path(&dir, "lake"));
    std::fs::create_dir_all(&raw).unwrap();
    generate(
        pool.clone(),
        &GenOptions {
            events: 2_400,
            objects: 10,
            days: 2,
            seed,
            dup_rate: 0.03,
            bad_rate: 0.01,
            ..GenOptions::default()
        },
    )
    .await;
    let mut undelivered = files_under(&path(&dir, "pool"));
    let mut delivered: Vec<std::path::PathBuf> = Vec::new();
    let mut schedule = Vec::new();
    for step in 0..STEPS {
        // The last step runs whatever is delivered; earlier ones pick at random.
        let action = if step + 1 == STEPS {
            2
        } else {
            rng.gen_range(0..3)
        };
        match action {
            0 if !undelivered.is_empty() => {
                let take = rng.gen_range(1..=undelivered.len().min(4));
                for file in undelivered.drain(..take) {
                    let relative = file.strip_prefix(path(&dir, "pool")).unwrap();
                    let target = raw.join(relative);
                    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                    std::fs::copy(&file, &target).unwrap();
                    delivered.push(target);
                }
                schedule.push(format!("deliver {take}"));
            }
            1 if !delivered.is_empty() => {
                let original = delivered[rng.gen_range(0..delivered.len())].clone();
                let copy = raw.join("redelivered").join(format!(
                    "{step}-{}",
                    original.file_name().unwrap().to_string_lossy()
                ));
                std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                std::fs::copy(&original, &copy).unwrap();
                delivered.push(copy);
                schedule.push("redeliver 1".to_owned());
            }
            _ => {
                let shards = rng.gen_range(1..=3u32);
                let unit_objects = rng.gen_range(1..=4u32);
                let at_once = rng.gen_bool(0.5);
                schedule.push(format!(
                    "run {shards} shard(s) {} with units of {unit_objects}",
                    if at_once { "at once" } else { "in turn" }
                ));
                let config = path(&dir, "eventlake.toml");
                std::fs::write(
                    &config,
                    format!("[limits]\nunit_max_objects = {unit_objects}\n"),
                )
                .unwrap();
                run_shards(&raw, &lake, &config, shards, at_once, seed, &schedule);
                let doubled = count(
                    &lake,
                    "SELECT count(*) FROM (SELECT event_type, dt, id FROM events \
                     GROUP BY event_type, dt, id HAVING count(*) > 1)",
                )
                .await;
                assert_eq!(doubled, 0, "seed {seed}: an id twice after {schedule:?}");
            }
        }
    }
    // Anything a sharded run left is taken by a last plain run; then the model.
    compact_cli(Loc::local(raw.clone()), &lake, &[]);
    let model = Loc::local(path(&dir, "model"));
    compact_cli(Loc::local(raw.clone()), &model, &[]);
    for query in [
        "SELECT event_type, dt, id FROM events ORDER BY 1, 2, 3",
        "SELECT source_object, byte_offset, error_code FROM errors ORDER BY 1, 2, 3",
        "SELECT source_object, records, errors FROM source_objects ORDER BY 1",
    ] {
        assert_eq!(
            sql(&lake, query).await,
            sql(&model, query).await,
            "seed {seed}: {query} after {schedule:?}"
        );
    }
    assert_eq!(
        count(
            &lake,
            "SELECT sum(events) + sum(duplicates) FROM source_objects"
        )
        .await,
        count(
            &model,
            "SELECT sum(events) + sum(duplicates) FROM source_objects"
        )
        .await,
        "seed {seed}: events and duplicates add up alike after {schedule:?}"
    );
    assert_ledger_matches_tables(&lake).await;
}

fn run_shards(
    raw: &std::path::Path,
    lake: &Loc,
    config: &std::path::Path,
    shards: u32,
    at_once: bool,
    seed: u64,
    schedule: &[String],
) {
    let command = |index: u32| {
        let mut command = Command::new(binary());
        command
            .args(["compact", "--json", "--source"])
            .arg(raw)
            .args(["--lake", &lake.uri, "--config"])
            .arg(config)
            .args(["--shard", &format!("{index}/{shards}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let check = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "seed {seed}: a run failed after {schedule:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    if at_once {
        let children: Vec<_> = (0..shards)
            .map(|index| command(index).spawn().unwrap())
            .collect();
        for child in children {
            check(child.wait_with_output().unwrap());
        }
    } else {
        for index in 0..shards {
            check(command(index).output().unwrap());
        }
    }
}

fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}
