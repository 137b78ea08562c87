//! Stored events back into PutEvents entries, and entries into batches within EventBridge's limits.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::time::CivilTime;
use crate::transform::Transform;

/// Entries a PutEvents request takes at most.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// PutEvents' size limit since January 2026 (1 MB); `LEGACY_MAX_BYTES` is the one before.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
pub const LEGACY_MAX_BYTES: usize = 256 * 1024;
/// What `Time` counts for in an entry's size, as EventBridge documents it.
const TIME_BYTES: usize = 14;

/// The mark on a replayed event's detail (EventBridge's own replays add `replay-name` beside it).
pub const MARK_NAME: &str = "replay-name";
pub const MARK_ORIGINAL_ID: &str = "replay-original-id";

/// One PutEvents entry, and the stored event it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub event_id: String,
    pub event_type: Option<String>,
    /// RFC 3339, seconds, UTC.
    pub time: String,
    pub source: String,
    pub detail_type: String,
    pub resources: Vec<String>,
    pub detail: String,
}

impl Entry {
    /// The entry's size as EventBridge computes it against the request limit.
    pub fn size(&self) -> usize {
        TIME_BYTES
            + self.source.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }

    /// The entry as `aws events put-events --entries` takes it.
    pub fn to_json(&self, event_bus: Option<&str>) -> serde_json::Value {
        let mut entry = serde_json::json!({
            "Time": self.time,
            "Source": self.source,
            "DetailType": self.detail_type,
            "Resources": self.resources,
            "Detail": self.detail,
        });
        if let Some(bus) = event_bus {
            entry["EventBusName"] = bus.into();
        }
        entry
    }
}

/// A stored event's columns, borrowed from its Arrow batch.
pub struct StoredEvent<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub detail_type: &'a str,
    pub time_micros: i64,
    pub resources: Vec<String>,
    pub event_type: Option<&'a str>,
    pub detail: &'a str,
}

/// How stored events become entries.
#[derive(Debug, Clone)]
pub struct EntryFormat {
    /// Keep the stored (transformed) detail and resources instead of the client's originals.
    pub as_stored: bool,
    /// The replay name to mark entries with, if marking.
    pub mark: Option<String>,
}

impl EntryFormat {
    /// Undoes the Firehose transform ([`Transform::undo`]) unless `as_stored`, then adds the
    /// replay mark. The detail's key order is kept.
    pub fn entry(&self, event: StoredEvent<'_>) -> Result<Entry, String> {
        let mut resources = event.resources;
        let mut detail = String::with_capacity(event.detail.len() + 96);
        let needs_rewrite = !self.as_stored || self.mark.is_some();
        if needs_rewrite {
            let mut pairs: Pairs = serde_json::from_str(event.detail).map_err(|error| {
                format!("event {}: detail is not a JSON object: {error}", event.id)
            })?;
            if !self.as_stored {
                Transform::sample().undo(&mut pairs.0, &mut resources);
            }
            detail.push('{');
            let mut first = true;
            let mut push = |detail: &mut String, key: &str, raw: &str| {
                if !std::mem::take(&mut first) {
                    detail.push(',');
                }
                push_json_string(detail, key);
                detail.push(':');
                detail.push_str(raw);
            };
            for (key, value) in &pairs.0 {
                if self.mark.is_some() && (key == MARK_NAME || key == MARK_ORIGINAL_ID) {
                    continue; // a replay of a replay carries one mark, this one
                }
                push(&mut detail, key, value.get());
            }
            if let Some(name) = &self.mark {
                let mut quoted = String::new();
                push_json_string(&mut quoted, name);
                push(&mut detail, MARK_NAME, &quoted);
                quoted.clear();
                push_json_string(&mut quoted, event.id);
                push(&mut detail, MARK_ORIGINAL_ID, &quoted);
            }
            detail.push('}');
        } else {
            detail.push_str(event.detail);
        }
        Ok(Entry {
            event_id: event.id.to_owned(),
            event_type: event.event_type.map(str::to_owned),
            time: CivilTime::from_micros(event.time_micros).rfc3339(),
            source: event.source.to_owned(),
            detail_type: event.detail_type.to_owned(),
            resources,
            detail,
        })
    }
}

fn push_json_string(out: &mut String, text: &str) {
    // serde_json's escaping, without an intermediate allocation per call site.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

/// A JSON object's members in their order, values left as raw text.
struct Pairs<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for PairsVisitor<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    pairs.push((key, value));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// Groups entries into PutEvents requests: at most 10 entries and `max_bytes` each.
#[derive(Debug)]
pub struct Batcher {
    max_bytes: usize,
    current: Vec<Entry>,
    current_bytes: usize,
}

impl Batcher {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            current: Vec::with_capacity(MAX_BATCH_ENTRIES),
            current_bytes: 0,
        }
    }

    /// Whether an entry can go in any request at all.
    pub fn fits(&self, entry: &Entry) -> bool {
        entry.size() <= self.max_bytes
    }

    /// Adds an entry that [`fits`](Self::fits); returns the batch it closed, if any.
    pub fn push(&mut self, entry: Entry) -> Option<Vec<Entry>> {
        let size = entry.size();
        let closed = if self.current.len() == MAX_BATCH_ENTRIES
            || self.current_bytes + size > self.max_bytes
        {
            self.take()
        } else {
            None
        };
        self.current_bytes += size;
        self.current.push(entry);
        closed
    }

    /// The last, partly filled batch.
    pub fn finish(&mut self) -> Option<Vec<Entry>> {
        self.take()
    }

    fn take(&mut self) -> Option<Vec<Entry>> {
        self.current_bytes = 0;
        (!self.current.is_empty())
            .then(|| std::mem::replace(&mut self.current, Vec::with_capacity(MAX_BATCH_ENTRIES)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A JSON value a client may put in `detail`: escapes, non-ASCII, numbers, nesting.
    fn detail_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            any::<String>().prop_map(serde_json::Value::from),
            "[a-z\"\\\n/é😀]{0,8}".prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| {
            prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
        })
    }

    proptest! {
        /// The sample's transform at compaction, then its undo at replay, gives back what the
        /// client sent: the same detail and `resources: [client id]`.
        #[test]
        fn the_transform_and_its_undo_round_trip(
            client_id in any::<String>(),
            detail in prop::collection::btree_map("[a-zA-Z]{1,8}", detail_value(), 0..8),
        ) {
            let mut detail: serde_json::Map<String, serde_json::Value> = detail.into_iter().collect();
            detail.remove("accountNumber"); // the field the transform fills
            let detail = serde_json::Value::Object(detail);
            let record = serde_json::json!({
                "id": "e-1",
                "time": "2026-11-20T13:00:00Z",
                "source": "clientevents",
                "detail-type": "prod",
                "resources": [client_id],
                "detail": detail,
            })
            .to_string();
            let mut scratch = String::new();
            let parsed = crate::record::parse_record(record.as_bytes(), &crate::transform::Transform::sample(), &mut scratch);
            let Ok(crate::record::Parsed::Event(event)) = parsed else {
                return Err(TestCaseError::fail(format!("{record} did not parse to an event")));
            };
            prop_assert!(event.resources.is_empty());
            let entry = EntryFormat { as_stored: false, mark: None }
                .entry(StoredEvent {
                    id: &event.id,
                    source: "clientevents",
                    detail_type: "prod",
                    time_micros: event.time_micros,
                    resources: event.resources.iter().map(|r| r.to_string()).collect(),
                    event_type: None,
                    detail: &event.detail.text(),
                })
                .map_err(TestCaseError::fail)?;
            prop_assert_eq!(&entry.resources, &vec![client_id]);
            let undone: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
            prop_assert_eq!(undone, detail);
        }
    }

    fn stored<'a>(detail: &'a str, resources: Vec<String>) -> StoredEvent<'a> {
        StoredEvent {
            id: "6f1c2a4e-0000-4000-8000-000000000001",
            source: "clientevents",
            detail_type: "prod",
            time_micros: 1_764_000_000_000_000,
            resources,
            event_type: Some("searching"),
            detail,
        }
    }

    #[test]
    fn the_firehose_transform_is_undone_and_key_order_kept() {
        let format = EntryFormat {
            as_stored: false,
            mark: None,
        };
        let entry = format
            .entry(stored(
                r#"{"eventType": "searching", "accountNumber": "c-1", "data": {"searchTerm": "g\"x"}}"#,
                vec![],
            ))
            .unwrap();
        assert_eq!(entry.resources, vec!["c-1"]);
        assert_eq!(
            entry.detail,
            r#"{"eventType":"searching","data":{"searchTerm": "g\"x"}}"#
        );
        assert_eq!(entry.time, "2025-11-24T16:00:00Z");
        assert_eq!(entry.size(), 14 + 12 + 4 + entry.detail.len() + 3);
    }

    #[test]
    fn as_stored_keeps_the_detail_and_the_mark_names_the_replay() {
        let detail = r#"{"eventType":"searching","accountNumber":"c-1"}"#;
        let plain = EntryFormat {
            as_stored: true,
            mark: None,
        }
        .entry(stored(detail, vec![]))
        .unwrap();
        assert_eq!(plain.detail, detail);
        assert!(plain.resources.is_empty());
        let marked = EntryFormat {
            as_stored: false,
            mark: Some("fix-1".into()),
        }
        .entry(stored(r#"{"a":1,"replay-name":"old"}"#, vec![]))
        .unwrap();
        assert_eq!(
            marked.detail,
            r#"{"a":1,"replay-name":"fix-1","replay-original-id":"6f1c2a4e-0000-4000-8000-000000000001"}"#
        );
    }

    #[test]
    fn a_detail_that_is_not_an_object_is_an_error_not_a_panic() {
        let format = EntryFormat {
            as_stored: false,
            mark: None,
        };
        assert!(format.entry(stored("[1,2]", vec![])).is_err());
        assert!(format.entry(stored("{", vec![])).is_err());
    }

    fn entry_of_size(size: usize) -> Entry {
        let fixed = 14 + 1 + 1;
        Entry {
            event_id: "x".into(),
            event_type: None,
            time: "2026-01-01T00:00:00Z".into(),
            source: "s".into(),
            detail_type: "d".into(),
            resources: vec![],
            detail: "x".repeat(size - fixed),
        }
    }

    #[test]
    fn batches_stop_at_ten_entries() {
        let mut batcher = Batcher::new(DEFAULT_MAX_BYTES);
        let closed: Vec<_> = (0..25)
            .filter_map(|_| batcher.push(entry_of_size(100)))
            .collect();
        assert_eq!(closed.len(), 2);
        assert!(closed.iter().all(|batch| batch.len() == 10));
        assert_eq!(batcher.finish().unwrap().len(), 5);
        assert!(batcher.finish().is_none());
    }

    #[test]
    fn batches_stop_at_the_byte_limit_exactly() {
        for limit in [LEGACY_MAX_BYTES, DEFAULT_MAX_BYTES] {
            let mut batcher = Batcher::new(limit);
            // Two entries that fill the limit to the byte share a request; a third byte does not.
            assert!(batcher.push(entry_of_size(limit / 2)).is_none());
            assert!(batcher.push(entry_of_size(limit - limit / 2)).is_none());
            let closed = batcher.push(entry_of_size(100)).unwrap();
            assert_eq!(closed.iter().map(Entry::size).sum::<usize>(), limit);
            let mut batcher = Batcher::new(limit);
            assert!(batcher.push(entry_of_size(limit / 2)).is_none());
            assert_eq!(batcher.push(entry_of_size(limit / 2 + 1)).unwrap().len(), 1);
            assert!(batcher.fits(&entry_of_size(limit)));
            assert!(!batcher.fits(&entry_of_size(limit + 1)));
        }
    }
}
