//! Named failure points, for the crash tests only: `EVENTLAKE_TEST_FAILPOINT=<name>` makes the
//! process stop at that point of a `compact` run, every time it passes it, so a test can prove
//! that a rerun finishes exactly what the stopped one left. Nothing else sets the variable, and
//! only builds with the `failpoints` feature (the tests') have the points: elsewhere `hit` and
//! `hold` are empty.
//!
//! | name                  | where                                          | what happens        |
//! |-----------------------|------------------------------------------------|---------------------|
//! | `after-claim`         | a unit's manifest is written, no data yet      | the process aborts  |
//! | `mid-object`          | a worker has framed 100 records of an object   | the process aborts  |
//! | `after-events-commit` | `events` committed, `errors` and ledger not    | the process aborts  |
//! | `after-errors-commit` | `errors` committed, the ledger not             | the process aborts  |
//! | `worker-panic`        | a worker has framed 100 records of an object   | that worker panics  |
//! | `before-queue-delete` | `--follow --queue`: objects committed, their messages not deleted | the process aborts |
//! | `hold-before-events-commit` | ids checked, `events` commit not yet tried | waits (see `hold`) |
//! | `hold-between-state-reads` | a unit's `errors` state read, `events` not yet | waits (see `hold`) |

#[cfg(feature = "failpoints")]
const VARIABLE: &str = "EVENTLAKE_TEST_FAILPOINT";

/// The file whose existence releases a held failure point.
const RELEASE_VARIABLE: &str = "EVENTLAKE_TEST_FAILPOINT_RELEASE";
/// A held point gives up waiting after this long, so a broken test cannot hang CI.
const HOLD_MAX: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(feature = "failpoints")]
fn active() -> Option<&'static str> {
    static ACTIVE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ACTIVE
        .get_or_init(|| std::env::var(VARIABLE).ok())
        .as_deref()
}

/// Without the feature no point is ever active.
#[cfg(not(feature = "failpoints"))]
fn active() -> Option<&'static str> {
    None
}

/// Waits here, if the failure point `name` is the one the environment names, until the file
/// `EVENTLAKE_TEST_FAILPOINT_RELEASE` names exists; first it writes `<that file>.held`, so the
/// test knows the run is here (and can let another writer commit meanwhile).
pub async fn hold(name: &str) {
    if active() != Some(name) {
        return;
    }
    let Some(release) = std::env::var_os(RELEASE_VARIABLE).map(std::path::PathBuf::from) else {
        return;
    };
    if release.exists() {
        return;
    }
    let mut held = release.clone().into_os_string();
    held.push(".held");
    let _ = std::fs::write(&held, b"");
    let started = std::time::Instant::now();
    while !release.exists() && started.elapsed() < HOLD_MAX {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Stops here if the failure point `name` is the one the environment names.
pub fn hit(name: &str) {
    if active() != Some(name) {
        return;
    }
    if name == "worker-panic" {
        panic!("failure point {name}");
    }
    // Like a kill: no destructor runs, nothing is flushed.
    eprintln!("failure point {name}: aborting");
    std::process::abort();
}
