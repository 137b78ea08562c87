//! Helpers: where a test keeps its data (a temp folder or a bucket on the test S3 server),
//! generate input, run the binary, read the lake back with DataFusion.
//!
//! Cases that matter on both backends are written once, as `async fn case(backend: Backend)`,
//! and instantiated for each with [`on_both_backends!`] (one suite, two backends).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::prelude::SessionContext;
use eventlake::generate::{GenOptions, GenSummary};
use eventlake::table::Lake;
use futures::StreamExt;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_eventlake")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

/// Instantiates `async fn name(backend: Backend)` cases as `local::name` and `s3::name` tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Local).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::S3).await
                }
            )*
        }
    };
}

/// A location a test reads or writes: a local path, or an `s3://` URI on an endpoint.
#[derive(Debug, Clone)]
pub struct Loc {
    pub uri: String,
    pub endpoint: Option<String>,
}

impl From<&Path> for Loc {
    fn from(path: &Path) -> Self {
        Loc {
            uri: path.to_str().unwrap().to_owned(),
            endpoint: None,
        }
    }
}

impl From<&PathBuf> for Loc {
    fn from(path: &PathBuf) -> Self {
        Loc::from(path.as_path())
    }
}

impl From<&Loc> for Loc {
    fn from(loc: &Loc) -> Self {
        loc.clone()
    }
}

/// The S3 test server's credentials: any will do, but they must be there.
const S3_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "eventlake-test"),
    ("AWS_SECRET_ACCESS_KEY", "eventlake-test-secret"),
    ("AWS_REGION", "us-east-1"),
];

impl Loc {
    /// A local path inside this test's temp folder.
    pub fn local(path: PathBuf) -> Self {
        Loc::from(&path)
    }

    pub fn is_s3(&self) -> bool {
        self.uri.starts_with("s3://")
    }

    /// The same place reached through another endpoint (a fault-injecting proxy).
    pub fn via(&self, endpoint: &str) -> Self {
        Loc {
            uri: self.uri.clone(),
            endpoint: Some(endpoint.to_owned()),
        }
    }

    /// A path below this one.
    pub fn join(&self, tail: &str) -> Self {
        Loc {
            uri: format!("{}/{tail}", self.uri.trim_end_matches('/')),
            endpoint: self.endpoint.clone(),
        }
    }

    pub fn storage_options(&self) -> HashMap<String, String> {
        let Some(endpoint) = &self.endpoint else {
            return HashMap::new();
        };
        let mut options: HashMap<String, String> = S3_ENV
            .iter()
            .map(|(key, value)| (key.to_ascii_lowercase(), (*value).to_owned()))
            .collect();
        options.insert("aws_endpoint".into(), endpoint.clone());
        options.insert("aws_allow_http".into(), "true".into());
        options
    }

    /// Adds what the binary needs to reach this location: the endpoint flag and credentials.
    pub fn configure(&self, command: &mut Command) {
        if let Some(endpoint) = &self.endpoint {
            command.arg("--endpoint-url").arg(endpoint).envs(S3_ENV);
        }
    }

    pub fn lake(&self) -> Lake {
        Lake::with_storage_options(&self.uri, self.storage_options()).unwrap()
    }

    /// The object store holding this location, and the path of the location inside it.
    pub fn store(
        &self,
    ) -> (
        std::sync::Arc<dyn object_store::ObjectStore>,
        object_store::path::Path,
    ) {
        let url = eventlake::storage::parse_location(&self.uri).unwrap();
        eventlake::storage::object_store_for(&url, &self.storage_options()).unwrap()
    }
}

/// How `source_object` columns spell a location (`file:///…` or `s3://…`).
pub fn uri_of(loc: &Loc) -> String {
    if loc.is_s3() {
        loc.uri.trim_end_matches('/').to_owned()
    } else {
        format!("file://{}", loc.uri.trim_end_matches('/'))
    }
}

/// The raw folder and the lake of one test: in `dir`, or in a new bucket on the test S3 server.
pub fn place(backend: Backend, dir: &tempfile::TempDir) -> (Loc, Loc) {
    match backend {
        Backend::Local => (Loc::local(path(dir, "raw")), Loc::local(path(dir, "lake"))),
        Backend::S3 => {
            let endpoint = s3_endpoint();
            let bucket = format!("eventlake-{}", uuid::Uuid::new_v4().simple());
            let (status, body) = http(&endpoint, "PUT", &format!("/{bucket}"));
            assert_eq!(status, 200, "creating bucket {bucket}: {body}");
            let root = Loc {
                uri: format!("s3://{bucket}"),
                endpoint: Some(endpoint),
            };
            (root.join("raw"), root.join("lake"))
        }
    }
}

/// The S3-compatible server `.ci/run` starts (moto_server on loopback).
pub fn s3_endpoint() -> String {
    std::env::var("EVENTLAKE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("EVENTLAKE_TEST_S3_ENDPOINT is not set: run the suite with .ci/run, which starts moto_server")
    })
}

/// One plain HTTP/1.1 request on loopback: (status, body).
pub fn http(endpoint: &str, method: &str, target: &str) -> (u16, String) {
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Generates raw objects at `dir` and returns the known answer.
pub async fn generate(dir: impl Into<Loc>, options: &GenOptions) -> GenSummary {
    let (store, prefix) = dir.into().store();
    eventlake::generate::generate(store, &prefix, options)
        .await
        .unwrap()
}

/// The `eventlake` binary with `--endpoint-url` and credentials for `loc`.
pub fn eventlake(loc: &Loc) -> Command {
    let mut command = Command::new(binary());
    loc.configure(&mut command);
    command
}

/// Runs `eventlake compact --json` and returns its metrics as JSON.
pub fn compact_cli(
    source: impl Into<Loc>,
    lake: impl Into<Loc>,
    extra: &[&str],
) -> serde_json::Value {
    let (source, lake) = (source.into(), lake.into());
    let output = eventlake(&lake)
        .args([
            "compact",
            "--json",
            "--source",
            &source.uri,
            "--lake",
            &lake.uri,
        ])
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
pub async fn sql(lake: impl Into<Loc>, query: &str) -> Vec<Vec<String>> {
    let lake = lake.into().lake();
    let context = SessionContext::new();
    for name in eventlake::query::table_names(&lake).await.unwrap() {
        let name = name.as_str();
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
        rows.extend(text_rows(&batch.unwrap()));
    }
    rows
}

/// A batch's rows, each value as Arrow displays it.
pub fn text_rows(batch: &arrow::array::RecordBatch) -> impl Iterator<Item = Vec<String>> + '_ {
    (0..batch.num_rows()).map(|row| {
        batch
            .columns()
            .iter()
            .map(|column| arrow::util::display::array_value_to_string(column, row).unwrap())
            .collect()
    })
}

pub async fn count(lake: impl Into<Loc>, query: &str) -> u64 {
    sql(lake, query).await[0][0].parse().unwrap()
}

/// Rows of the ledger (`source_objects`), or `None` before the first commit makes it.
pub async fn ledger_rows(lake: &Loc) -> Option<u64> {
    let tables = eventlake::query::table_names(&lake.lake())
        .await
        .unwrap_or_default();
    if !tables.iter().any(|name| name == "source_objects") {
        return None;
    }
    Some(count(lake, "SELECT count(*) FROM source_objects").await)
}

/// Asserts the lake holds exactly the generator's answer.
pub async fn assert_lake_matches(lake: impl Into<Loc>, summary: &GenSummary) {
    let lake = &lake.into();
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
    assert_ledger_matches_tables(lake).await;
}

/// Each ledger row's counts are what the tables hold for its object, and add up.
pub async fn assert_ledger_matches_tables(lake: impl Into<Loc>) {
    let wrong = sql(
        lake,
        "SELECT l.source_object, l.records, l.events, l.duplicates, l.errors, e.n, r.n \
         FROM source_objects l \
         LEFT JOIN (SELECT source_object, count(*) AS n FROM events GROUP BY source_object) e \
           ON e.source_object = l.source_object \
         LEFT JOIN (SELECT source_object, count(*) AS n FROM errors GROUP BY source_object) r \
           ON r.source_object = l.source_object \
         WHERE (l.events IS DISTINCT FROM coalesce(e.n, 0)) \
            OR (l.errors IS DISTINCT FROM coalesce(r.n, 0)) \
            OR (l.records IS DISTINCT FROM l.events + l.duplicates + l.errors) \
         LIMIT 5",
    )
    .await;
    assert!(
        wrong.is_empty(),
        "ledger rows disagree with the tables (object, records, events, duplicates, errors, in events, in errors): {wrong:?}"
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

/// `tests/python/fault_proxy.py` in front of the test S3 server, killed on drop.
pub struct FaultProxy {
    child: std::process::Child,
    pub endpoint: String,
}

impl FaultProxy {
    /// Fails `rate` of the requests with one of `faults` (see the script for the kinds).
    pub fn start(rate: f64, seed: u64, faults: &str) -> Self {
        let (rate, seed) = (rate.to_string(), seed.to_string());
        let upstream = s3_endpoint();
        let (child, endpoint) = python_server(
            "fault_proxy.py",
            &[
                &upstream, "--rate", &rate, "--seed", &seed, "--faults", faults,
            ],
        );
        FaultProxy { child, endpoint }
    }

    /// What the proxy saw: `requests` by method, `faults` by kind, `gets` by path.
    pub fn stats(&self) -> serde_json::Value {
        let (status, body) = http(&self.endpoint, "GET", "/__proxy/stats");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How often [`eventually`] looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Waits until `check` holds, looking every 50 ms; fails the test naming `what` if it does not
/// within `timeout`. The one place tests wait for an event to happen (never a fixed sleep).
pub async fn eventually<F, Fut>(what: &str, timeout: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < timeout, "timed out waiting: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime at hand.
pub fn eventually_blocking(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> bool,
) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting: {what}");
        std::thread::sleep(POLL);
    }
}

/// A run stopped at a `hold-…` failure point until [`HeldRun::release`].
pub struct HeldRun {
    child: std::process::Child,
    release: PathBuf,
}

/// Spawns `command` to stop at `failpoint` (its release file in `dir`); returns once it is there.
pub fn spawn_held(mut command: Command, failpoint: &str, dir: &tempfile::TempDir) -> HeldRun {
    let release = path(dir, "release");
    let held = path(dir, "release.held");
    let child = command
        .env("EVENTLAKE_TEST_FAILPOINT", failpoint)
        .env("EVENTLAKE_TEST_FAILPOINT_RELEASE", &release)
        .spawn()
        .unwrap();
    eventually_blocking(
        &format!("the run held at {failpoint}"),
        std::time::Duration::from_secs(60),
        || held.exists(),
    );
    HeldRun { child, release }
}

impl HeldRun {
    /// Lets the run go on; returns its output once it exits 0 (any other exit fails the test).
    pub fn release(self) -> std::process::Output {
        std::fs::write(&self.release, b"").unwrap();
        let output = self.child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// Runs `tests/python/<script>` with `args` under the test Python to its end; returns what it
/// printed, trimmed (a failure fails the test with its stderr).
pub fn python_script(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = Command::new(crate::interop::python())
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Starts `tests/python/<script>` with `args` under the test Python; the script prints the port
/// it listens on, first. Returns the child and `http://127.0.0.1:<port>`.
pub fn python_server(script: &str, args: &[&str]) -> (std::process::Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = Command::new(crate::interop::python())
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port.trim());
    (child, endpoint)
}
