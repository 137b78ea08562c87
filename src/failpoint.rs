//! Named failure points, for the crash tests only: `EVENTLAKE_TEST_FAILPOINT=<name>` makes the
//! process stop at that point of a `compact` run, every time it passes it, so a test can prove
//! that a rerun finishes exactly what the stopped one left. Nothing else sets the variable.
//!
//! | name                  | where                                          | what happens        |
//! |-----------------------|------------------------------------------------|---------------------|
//! | `after-claim`         | a unit's manifest is written, no data yet      | the process aborts  |
//! | `mid-object`          | a worker has framed 100 records of an object   | the process aborts  |
//! | `after-events-commit` | `events` committed, `errors` and ledger not    | the process aborts  |
//! | `after-errors-commit` | `errors` committed, the ledger not             | the process aborts  |
//! | `worker-panic`        | a worker has framed 100 records of an object   | that worker panics  |

use std::sync::OnceLock;

const VARIABLE: &str = "EVENTLAKE_TEST_FAILPOINT";

/// Stops here if the failure point `name` is the one the environment names.
pub fn hit(name: &str) {
    static ACTIVE: OnceLock<Option<String>> = OnceLock::new();
    let active = ACTIVE.get_or_init(|| std::env::var(VARIABLE).ok());
    if active.as_deref() != Some(name) {
        return;
    }
    if name == "worker-panic" {
        panic!("failure point {name}");
    }
    // Like a kill: no destructor runs, nothing is flushed.
    eprintln!("failure point {name}: aborting");
    std::process::abort();
}
