//! What a replay has sent, kept so a rerun of the same name sends only the rest.
//!
//! Each round of requests is journalled twice in the lake, under `_eventlake/replay/<name>/`:
//! `intent-N.json` (the event ids about to go) before sending, `ack-N.json` (each id's outcome)
//! after. A crash between the two leaves ids *in doubt*: EventBridge may or may not have them, and
//! it offers no way to ask. A rerun reports them and does not resend them unless told to
//! (`--resend-in-doubt`): a duplicate loyalty purchase opens a second ticket.
//! Journals are folded into the `replays` Delta table (one commit, `txn(eventlake-replay:<name>,
//! last round)`, so a fold repeated after a crash adds nothing) and then deleted.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::{self, Lake};

pub const REPLAYS: &str = "replays";

/// An event's outcome in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Sent,
    Failed,
    InDoubt,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::InDoubt => "in_doubt",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            "in_doubt" => Some(Status::InDoubt),
            _ => None,
        }
    }

    /// Which of two outcomes of one id stands: a send is final, doubt outranks a failure.
    fn rank(self) -> u8 {
        match self {
            Status::Sent => 2,
            Status::InDoubt => 1,
            Status::Failed => 0,
        }
    }
}

/// One id's outcome, as journalled and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub event_id: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub eventbridge_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Intent {
    ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Ack {
    outcomes: Vec<Outcome>,
}

/// What earlier runs of a replay did, by event id.
#[derive(Debug, Default)]
pub struct ReplayState {
    statuses: HashMap<String, Status>,
}

impl ReplayState {
    pub fn status(&self, event_id: &str) -> Option<Status> {
        self.statuses.get(event_id).copied()
    }

    fn record(&mut self, event_id: String, status: Status) {
        let entry = self.statuses.entry(event_id).or_insert(status);
        if status.rank() > entry.rank() {
            *entry = status;
        }
    }
}

/// The journal of one replay name in one lake.
pub struct Journal {
    lake: Lake,
    store: Arc<dyn ObjectStore>,
    dir: Path,
    name: String,
    next_round: i64,
}

/// Replay names become paths and txn ids: keep them plain.
pub fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'));
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "replay name {name:?}: use 1 to 64 letters, digits, '.', '-' or '_'"
        )))
    }
}

impl Journal {
    /// Opens the journal, folding what an earlier run left, and loads what earlier runs did.
    pub async fn open(lake: &Lake, name: &str) -> Result<(Self, ReplayState)> {
        check_name(name)?;
        let (store, root) = lake.store()?;
        let dir = root.join("_eventlake").join("replay").join(name);
        let mut journal = Journal {
            lake: lake.clone(),
            store,
            dir,
            name: name.to_owned(),
            next_round: 1,
        };
        journal.fold().await?;
        let state = journal.load().await?;
        Ok((journal, state))
    }

    fn app_id(&self) -> String {
        format!("eventlake-replay:{}", self.name)
    }

    /// Claims the next round number and records the ids about to be sent.
    pub async fn intent(&mut self, ids: Vec<String>) -> Result<i64> {
        let round = self.next_round;
        self.next_round += 1;
        self.put(&format!("intent-{round:012}.json"), &Intent { ids })
            .await?;
        Ok(round)
    }

    pub async fn ack(&self, round: i64, outcomes: Vec<Outcome>) -> Result<()> {
        self.put(&format!("ack-{round:012}.json"), &Ack { outcomes })
            .await
    }

    async fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let path = self.dir.clone().join(name);
        let body = serde_json::to_vec(value).map_err(|error| Error::Manifest {
            path: path.to_string(),
            reason: error.to_string(),
        })?;
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| Error::ObjectStore {
                location: path.to_string(),
                source,
            })?;
        Ok(())
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<T> {
        let object_store_error = |source| Error::ObjectStore {
            location: path.to_string(),
            source,
        };
        let bytes = self
            .store
            .get(path)
            .await
            .map_err(object_store_error)?
            .bytes()
            .await
            .map_err(object_store_error)?;
        serde_json::from_slice(&bytes).map_err(|error| Error::Manifest {
            path: path.to_string(),
            reason: error.to_string(),
        })
    }

    /// Moves journalled outcomes into the `replays` table and deletes the journal files.
    pub async fn fold(&mut self) -> Result<()> {
        let files: Vec<Path> = self
            .store
            .list(Some(&self.dir))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|source| Error::ObjectStore {
                location: self.dir.to_string(),
                source,
            })?;
        let round_of = |path: &Path, prefix: &str| -> Option<i64> {
            path.filename()?
                .strip_prefix(prefix)?
                .strip_suffix(".json")?
                .parse()
                .ok()
        };
        let mut intents = HashMap::new();
        let mut outcomes = Vec::new();
        let mut last_round = 0;
        for path in &files {
            if let Some(round) = round_of(path, "intent-") {
                intents.insert(round, path.clone());
                last_round = last_round.max(round);
            }
        }
        for path in &files {
            if let Some(round) = round_of(path, "ack-") {
                intents.remove(&round);
                outcomes.extend(self.get::<Ack>(path).await?.outcomes);
            }
        }
        for path in intents.values() {
            let intent: Intent = self.get(path).await?;
            outcomes.extend(intent.ids.into_iter().map(|event_id| Outcome {
                event_id,
                status: Status::InDoubt,
                error_code: None,
                eventbridge_id: None,
            }));
        }

        let mut replays = self
            .lake
            .open_or_create(REPLAYS, table::delta_columns(&replays_schema()), vec![])
            .await?;
        if !outcomes.is_empty() {
            let batch = outcomes_batch(&self.name, &outcomes)?;
            let mut writer = RecordBatchWriter::for_table(&replays)
                .map_err(|source| table::delta(&replays, source))?;
            writer
                .write(batch)
                .await
                .map_err(|source| table::delta(&replays, source))?;
            let adds = writer
                .flush()
                .await
                .map_err(|source| table::delta(&replays, source))?;
            let metadata = HashMap::from([(
                "eventlake".to_owned(),
                serde_json::json!({"replay": self.name, "rounds": last_round, "events": outcomes.len()}),
            )]);
            table::commit_once(
                &mut replays,
                adds,
                &self.app_id(),
                last_round,
                metadata,
                table::Race::Rebase,
            )
            .await?;
        }
        for path in &files {
            self.store
                .delete(path)
                .await
                .map_err(|source| Error::ObjectStore {
                    location: path.to_string(),
                    source,
                })?;
        }
        let folded = table::transaction_version(&replays, &self.app_id()).await?;
        self.next_round = self.next_round.max(folded.max(last_round) + 1);
        Ok(())
    }

    async fn load(&self) -> Result<ReplayState> {
        let mut state = ReplayState::default();
        let Some(replays) = self.lake.open(REPLAYS).await? else {
            return Ok(state);
        };
        if replays
            .snapshot()
            .map_err(|source| table::delta(&replays, source))?
            .version()
            == 0
        {
            return Ok(state);
        }
        let context = SessionContext::new();
        replays
            .update_datafusion_session(&context.state())
            .map_err(|source| crate::table::delta(&replays, source))?;
        let frame = context
            .read_table(replays.table_provider().await?)?
            .filter(
                datafusion::prelude::col("replay_name")
                    .eq(datafusion::prelude::lit(self.name.as_str())),
            )?
            .select_columns(&["event_id", "status"])?;
        let mut stream = frame.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let ids = strings(&batch, 0)?;
            let statuses = strings(&batch, 1)?;
            for row in 0..batch.num_rows() {
                if let Some(status) = Status::parse(statuses.value(row)) {
                    state.record(ids.value(row).to_owned(), status);
                }
            }
        }
        Ok(state)
    }
}

/// A text column as plain UTF-8 (Delta scans may give view strings).
fn strings(batch: &RecordBatch, column: usize) -> Result<StringArray> {
    let cast = arrow::compute::cast(batch.column(column), &DataType::Utf8)?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| Error::Column {
            query: "the replays table",
            column: column.to_string(),
            reason: "has an unexpected type".into(),
        })
}

/// The `replays` table: one row per event outcome per replay.
pub fn replays_schema() -> SchemaRef {
    let utf8 = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        utf8("replay_name", false),
        utf8("event_id", false),
        utf8("status", false),
        utf8("error_code", true),
        utf8("eventbridge_id", true),
        Field::new(
            "recorded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

fn outcomes_batch(name: &str, outcomes: &[Outcome]) -> Result<RecordBatch> {
    let mut names = StringBuilder::new();
    let mut ids = StringBuilder::new();
    let mut statuses = StringBuilder::new();
    let mut codes = StringBuilder::new();
    let mut eventbridge_ids = StringBuilder::new();
    let mut recorded = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let now = chrono::Utc::now().timestamp_micros();
    for outcome in outcomes {
        names.append_value(name);
        ids.append_value(&outcome.event_id);
        statuses.append_value(outcome.status.as_str());
        codes.append_option(outcome.error_code.as_deref());
        eventbridge_ids.append_option(outcome.eventbridge_id.as_deref());
        recorded.append_value(now);
    }
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(names.finish()),
        Arc::new(ids.finish()),
        Arc::new(statuses.finish()),
        Arc::new(codes.finish()),
        Arc::new(eventbridge_ids.finish()),
        Arc::new(recorded.finish()),
    ];
    Ok(RecordBatch::try_new(replays_schema(), columns)?)
}
