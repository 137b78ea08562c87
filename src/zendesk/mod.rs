//! `zendesk sync`: Zendesk tickets into the lake's `zendesk_tickets` table, incrementally.
//!
//! Each sync follows the export cursor from where the last one stopped (kept in the commit's
//! metadata, so data and cursor move together), keeps each ticket's latest version, and merges
//! them into the table by id in one commit: readers see the old table or the new one, never half.

pub mod client;

pub use client::ZendeskError;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::transaction::CommitProperties;
use futures::TryStreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::table::{self, Lake};
use client::{Client, Start};

pub const ZENDESK_TICKETS: &str = "zendesk_tickets";
const CURSOR_KEY: &str = "eventlake_zendesk";

/// What a sync did; `--json` prints it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncSummary {
    pub pages: u64,
    /// Ticket versions the export returned (an updated ticket can come more than once).
    pub tickets_fetched: u64,
    /// Distinct tickets new or changed since the last sync.
    pub tickets_changed: u64,
    pub tickets_in_table: u64,
    /// Whether this sync resumed from a stored cursor (only changes since the last sync).
    pub resumed: bool,
}

pub fn tickets_schema() -> SchemaRef {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    let timestamp = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        utf8("external_id"),
        utf8("subject"),
        utf8("description"),
        utf8("status"),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            true,
        ),
        utf8("custom_fields"),
        // Every value a ticket carries that could name an event or a client: external_id, tags
        // and custom field values. Matching joins on it (a hash join, not a scan per pair).
        Field::new(
            "refs",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            true,
        ),
        Field::new("requester_id", DataType::Int64, true),
        timestamp("created_at"),
        timestamp("updated_at"),
    ]))
}

/// Tickets as Zendesk's JSON into a batch of [`tickets_schema`].
pub fn tickets_batch<'a>(
    tickets: impl Iterator<Item = &'a serde_json::Value>,
) -> Result<RecordBatch> {
    let mut ids = Int64Builder::new();
    let mut external_ids = StringBuilder::new();
    let mut subjects = StringBuilder::new();
    let mut descriptions = StringBuilder::new();
    let mut statuses = StringBuilder::new();
    let element = Arc::new(Field::new("element", DataType::Utf8, true));
    let mut tags = ListBuilder::new(StringBuilder::new()).with_field(element.clone());
    let mut custom_fields = StringBuilder::new();
    let mut refs = ListBuilder::new(StringBuilder::new()).with_field(element);
    let mut requesters = Int64Builder::new();
    let mut created = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut updated = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let time = |value: &serde_json::Value| {
        value
            .as_str()
            .and_then(|text| crate::record::parse_time(text).ok())
    };
    for ticket in tickets {
        let Some(id) = ticket["id"].as_i64() else {
            continue; // Zendesk always sends an id; a ticket without one cannot be kept
        };
        ids.append_value(id);
        external_ids.append_option(ticket["external_id"].as_str());
        subjects.append_option(ticket["subject"].as_str());
        descriptions.append_option(ticket["description"].as_str());
        statuses.append_option(ticket["status"].as_str());
        match ticket["tags"].as_array() {
            Some(values) => {
                for tag in values {
                    tags.values().append_option(tag.as_str());
                }
                tags.append(true);
            }
            None => tags.append(false),
        }
        match &ticket["custom_fields"] {
            serde_json::Value::Null => custom_fields.append_null(),
            fields => custom_fields.append_value(fields.to_string()),
        }
        if let Some(external_id) = ticket["external_id"].as_str() {
            refs.values().append_value(external_id);
        }
        for tag in ticket["tags"].as_array().into_iter().flatten() {
            if let Some(tag) = tag.as_str() {
                refs.values().append_value(tag);
            }
        }
        for field in ticket["custom_fields"].as_array().into_iter().flatten() {
            match &field["value"] {
                serde_json::Value::String(text) => refs.values().append_value(text),
                serde_json::Value::Number(number) => refs.values().append_value(number.to_string()),
                _ => {}
            }
        }
        refs.append(true);
        requesters.append_option(ticket["requester_id"].as_i64());
        created.append_option(time(&ticket["created_at"]));
        updated.append_option(time(&ticket["updated_at"]));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(external_ids.finish()),
        Arc::new(subjects.finish()),
        Arc::new(descriptions.finish()),
        Arc::new(statuses.finish()),
        Arc::new(tags.finish()),
        Arc::new(custom_fields.finish()),
        Arc::new(refs.finish()),
        Arc::new(requesters.finish()),
        Arc::new(created.finish()),
        Arc::new(updated.finish()),
    ];
    Ok(RecordBatch::try_new(tickets_schema(), columns)?)
}

/// Fetches what changed since the last sync (or since `start_time` the first time) and writes it.
pub async fn sync(lake: &Lake, client: &Client, start_time: i64) -> Result<SyncSummary> {
    let table = open_tickets(lake).await?;
    let cursor = stored_cursor(&table).await?;
    let mut summary = SyncSummary {
        resumed: cursor.is_some(),
        ..SyncSummary::default()
    };
    let mut start = cursor.map_or(Start::Time(start_time), Start::Cursor);
    let mut changed: HashMap<i64, serde_json::Value> = HashMap::new();
    let mut last_cursor = None;
    loop {
        let page = client.page(&start).await?;
        summary.pages += 1;
        summary.tickets_fetched += page.tickets.len() as u64;
        // An empty page that hands back the cursor it was asked with would loop forever.
        let stuck = page.tickets.is_empty()
            && matches!((&start, &page.after_cursor), (Start::Cursor(asked), Some(next)) if asked == next);
        for ticket in page.tickets {
            if let Some(id) = ticket["id"].as_i64() {
                // Later pages hold later versions: the last one seen stands.
                changed.insert(id, ticket);
            }
        }
        if let Some(cursor) = page.after_cursor {
            last_cursor = Some(cursor.clone());
            start = Start::Cursor(cursor);
        }
        if page.end_of_stream || last_cursor.is_none() {
            break;
        }
        if stuck {
            tracing::warn!(
                "Zendesk returned an empty page without moving its cursor: stopping here"
            );
            break;
        }
    }
    summary.tickets_changed = changed.len() as u64;
    write_changes(table, changed, last_cursor, summary).await
}

/// The changed tickets merged into the table by id (updated where present, inserted where not)
/// with the cursor, in one commit: only the files holding changed tickets are rewritten, so a
/// sync costs what changed, not the whole table.
async fn write_changes(
    table: deltalake::DeltaTable,
    changed: HashMap<i64, serde_json::Value>,
    last_cursor: Option<String>,
    mut summary: SyncSummary,
) -> Result<SyncSummary> {
    use datafusion::prelude::{col, SessionContext};
    let metadata = HashMap::from([(
        CURSOR_KEY.to_owned(),
        serde_json::json!({"cursor": last_cursor, "tickets_changed": summary.tickets_changed}),
    )]);
    let mut ordered: Vec<&serde_json::Value> = changed.values().collect();
    ordered.sort_by_key(|ticket| ticket["id"].as_i64());
    let source = SessionContext::new().read_batch(tickets_batch(ordered.into_iter())?)?;
    let columns: Vec<String> = tickets_schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect();
    let delta = |source| Error::Delta {
        table: ZENDESK_TICKETS.into(),
        source,
    };
    let (table, _) = table
        .merge(source, col("target.id").eq(col("source.id")))
        .with_source_alias("source")
        .with_target_alias("target")
        .with_commit_properties(CommitProperties::default().with_metadata(metadata))
        .when_matched_update(|update| {
            columns.iter().fold(update, |update, name| {
                update.update(name.as_str(), col(format!("source.\"{name}\"")))
            })
        })
        .map_err(delta)?
        .when_not_matched_insert(|insert| {
            columns.iter().fold(insert, |insert, name| {
                insert.set(name.as_str(), col(format!("source.\"{name}\"")))
            })
        })
        .map_err(delta)?
        .await
        .map_err(delta)?;
    summary.tickets_in_table = count_rows(&table).await?;
    Ok(summary)
}

async fn count_rows(table: &deltalake::DeltaTable) -> Result<u64> {
    let context = datafusion::prelude::SessionContext::new();
    table
        .update_datafusion_session(&context.state())
        .map_err(|source| crate::table::delta(table, source))?;
    let rows = context
        .read_table(table.table_provider().await?)?
        .count()
        .await?;
    Ok(rows as u64)
}

/// The export cursor the last sync stopped at, from the newest commit that has one.
async fn stored_cursor(table: &deltalake::DeltaTable) -> Result<Option<String>> {
    let commits: Vec<_> = table
        .history(Some(20))
        .try_collect()
        .await
        .map_err(|source| table::delta(table, source))?;
    Ok(commits.iter().find_map(|commit| {
        commit.info.get(CURSOR_KEY)?["cursor"]
            .as_str()
            .map(str::to_owned)
    }))
}

/// Imports a saved export (the tickets as Zendesk's JSON) as if a sync had fetched them; the
/// stored cursor stays where it was.
pub async fn import(lake: &Lake, tickets: Vec<serde_json::Value>) -> Result<SyncSummary> {
    let table = open_tickets(lake).await?;
    let cursor = stored_cursor(&table).await?;
    let mut summary = SyncSummary {
        pages: 1,
        tickets_fetched: tickets.len() as u64,
        ..SyncSummary::default()
    };
    let mut changed = HashMap::new();
    for ticket in tickets {
        if let Some(id) = ticket["id"].as_i64() {
            changed.insert(id, ticket);
        }
    }
    summary.tickets_changed = changed.len() as u64;
    write_changes(table, changed, cursor, summary).await
}

/// Reads a saved export for [`import`]: a JSON array of tickets, or an export page (an object
/// whose `tickets` is that array), as the incremental export API returns it
/// (<https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/>).
pub fn read_tickets_file(path: &std::path::Path) -> Result<Vec<serde_json::Value>> {
    let unreadable = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| unreadable(error.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| unreadable(error.to_string()))?;
    // `page["tickets"]` would panic on a file holding a bare string or number: match instead.
    match value {
        serde_json::Value::Array(tickets) => Ok(tickets),
        serde_json::Value::Object(mut page) => match page.remove("tickets") {
            Some(serde_json::Value::Array(tickets)) => Ok(tickets),
            _ => Err(unreadable(NOT_TICKETS.into())),
        },
        _ => Err(unreadable(NOT_TICKETS.into())),
    }
}

const NOT_TICKETS: &str = "not a JSON array of tickets nor an export page";

async fn open_tickets(lake: &Lake) -> Result<deltalake::DeltaTable> {
    lake.open_or_create(
        ZENDESK_TICKETS,
        table::delta_columns(&tickets_schema()),
        vec![],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tickets_file_is_an_array_or_an_export_page_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let read = |text: &str| {
            let path = dir.path().join("tickets.json");
            std::fs::write(&path, text).unwrap();
            read_tickets_file(&path)
        };
        assert_eq!(read(r#"[{"id": 1}, {"id": 2}]"#).unwrap().len(), 2);
        let page = read(r#"{"tickets": [{"id": 1}], "end_of_stream": true}"#).unwrap();
        assert_eq!(page, [serde_json::json!({"id": 1})]);
        for not_tickets in [
            r#""tickets""#,
            "42",
            r#"{"tickets": 1}"#,
            r#"{"users": []}"#,
        ] {
            let error = read(not_tickets).unwrap_err().to_string();
            assert!(error.contains(NOT_TICKETS), "{not_tickets}: {error}");
        }
        assert!(matches!(read("[{"), Err(Error::Config { .. })));
        let missing = read_tickets_file(&dir.path().join("missing.json"));
        assert!(matches!(missing, Err(Error::Config { .. })));
    }
}
