//! `eventlake.toml`: parsed without side effects, then validated into a [`CompactPlan`] whose
//! partition template and transform are compiled before any object is read.
//!
//! ```toml
//! lake = "s3://analytics/lake"          # default for --lake
//!
//! [partitioning]                        # Firehose's own syntax
//! prefix = "event_type=!{partitionKeyFromQuery:eventType}/dt=!{eventTime:yyyy-MM-dd}/"
//! query = "{eventType:.detail.eventType,schemaVersion:.detail.schemaVersion}"
//!
//! [transform]
//! preset = "client-event-sample"        # or "none"
//! operations = [{ op = "rename", from = "detail.data.sku", to = "detail.data.itemSku" }]
//!
//! [output]
//! target_file_size = "128MiB"
//! row_group_rows = 131072
//! row_group_bytes = "16MiB"             # encoded; a partition's open row group is held in memory
//!
//! [limits]
//! max_record_bytes = "2MiB"
//! unit_max_bytes = "2GiB"               # input bytes committed per Delta commit
//! unit_max_objects = 5000
//! unit_max_events = 2000000           # records per commit (estimated; the unit's ids are held)
//!
//! [storage]                             # S3 options (credentials belong in the environment)
//! aws_region = "eu-west-1"
//! max_retries = "10"
//! retry_timeout = "180s"
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::partition::{PartitionTemplate, DEFAULT_PREFIX};
use crate::transform::{Operation, Preset, Transform};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub lake: Option<String>,
    #[serde(default)]
    pub partitioning: PartitioningConfig,
    #[serde(default)]
    pub transform: TransformConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Storage options for every S3 location (object_store and delta-rs keys).
    #[serde(default)]
    pub storage: std::collections::HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitioningConfig {
    pub prefix: Option<String>,
    pub query: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    #[serde(default)]
    pub preset: Preset,
    #[serde(default)]
    pub operations: Vec<Operation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub target_file_size: Option<ByteSize>,
    pub row_group_rows: Option<usize>,
    pub row_group_bytes: Option<ByteSize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_record_bytes: Option<ByteSize>,
    pub unit_max_bytes: Option<ByteSize>,
    pub unit_max_objects: Option<usize>,
    pub unit_max_events: Option<u64>,
}

/// A size written as a number of bytes or with a unit (`"128MiB"`, `"1 GB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(bytes) => Ok(ByteSize(bytes)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a size like 128MiB"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => return Err(format!("unknown size unit {other:?} in {text:?}")),
        };
        Ok(ByteSize((number * multiplier as f64) as u64))
    }
}

impl Config {
    /// Reads a config file; a missing default file is an empty config, a missing named one an error.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from("eventlake.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default())
            }
            Err(error) => {
                return Err(Error::Config {
                    path,
                    reason: error.to_string(),
                })
            }
        };
        toml::from_str(&text).map_err(|error| Error::Config {
            path,
            reason: error.to_string(),
        })
    }

    /// Validates the config into a plan for `compact`.
    pub fn compact_plan(&self) -> Result<CompactPlan> {
        let prefix = self
            .partitioning
            .prefix
            .as_deref()
            .unwrap_or(DEFAULT_PREFIX);
        let template = PartitionTemplate::parse(prefix, self.partitioning.query.as_deref())?;
        let transform = Transform::new(self.transform.preset, &self.transform.operations)
            .map_err(Error::Transform)?;
        let defaults = CompactPlan::default();
        let plan = CompactPlan {
            template,
            transform,
            target_file_size: self
                .output
                .target_file_size
                .map_or(defaults.target_file_size, |size| size.0),
            row_group_rows: self
                .output
                .row_group_rows
                .unwrap_or(defaults.row_group_rows),
            row_group_bytes: self
                .output
                .row_group_bytes
                .map_or(defaults.row_group_bytes, |size| size.0 as usize),
            max_record_bytes: self
                .limits
                .max_record_bytes
                .map_or(defaults.max_record_bytes, |size| size.0 as usize),
            unit_max_bytes: self
                .limits
                .unit_max_bytes
                .map_or(defaults.unit_max_bytes, |size| size.0),
            unit_max_objects: self
                .limits
                .unit_max_objects
                .unwrap_or(defaults.unit_max_objects),
            unit_max_events: self
                .limits
                .unit_max_events
                .unwrap_or(defaults.unit_max_events),
            ..defaults
        };
        if plan.row_group_rows == 0
            || plan.row_group_bytes == 0
            || plan.max_record_bytes < 64
            || plan.unit_max_objects == 0
            || plan.unit_max_events == 0
        {
            return Err(Error::InvalidArgument(
                "row_group_rows, row_group_bytes and unit_max_objects must be positive and max_record_bytes at least 64".into(),
            ));
        }
        Ok(plan)
    }
}

/// Everything `compact` needs, validated.
#[derive(Debug, Clone)]
pub struct CompactPlan {
    pub template: PartitionTemplate,
    pub transform: Transform,
    pub target_file_size: u64,
    pub row_group_rows: usize,
    /// Encoded bytes a row group holds at most (it is cut at whichever of this and
    /// `row_group_rows` comes first): a writer holds its partition's open row group in memory,
    /// and a unit has one open a partition, so this bounds memory for records of any size.
    pub row_group_bytes: usize,
    /// Larger records go to `errors` as `oversized` (EventBridge's own limit is 1 MB an event).
    pub max_record_bytes: usize,
    /// Input bytes per unit (one Delta commit per table).
    pub unit_max_bytes: u64,
    pub unit_max_objects: usize,
    /// Records a unit should hold (estimated from the bytes a record took in the run's
    /// earlier units): the unit's ids are held until it commits.
    pub unit_max_events: u64,
    /// Objects parsed at once.
    pub workers: usize,
    /// Stop starting new units after this long (the current one is finished and committed).
    pub max_runtime: Option<std::time::Duration>,
}

impl Default for CompactPlan {
    fn default() -> Self {
        Self {
            template: PartitionTemplate::parse(DEFAULT_PREFIX, None)
                .expect("the default prefix parses"),
            transform: Transform::sample(),
            target_file_size: 128 << 20,
            row_group_rows: 128 * 1024,
            // 1M events of 2 KB in 15 partitions held 660 MiB at their peak by rows alone, 552
            // MiB with this; smaller row groups made the full-scan query slower (8 MiB: +30%).
            row_group_bytes: 16 << 20,
            // EventBridge caps an event at 1 MB, but the sample's Lambda stores it with Python's
            // json.dumps(ensure_ascii=True), which can double non-ASCII text.
            max_record_bytes: 2 << 20,
            unit_max_bytes: 2 << 30,
            unit_max_objects: 5_000,
            unit_max_events: 2_000_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_runtime: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!("128MiB".parse::<ByteSize>().unwrap().0, 128 << 20);
        assert_eq!("1 GB".parse::<ByteSize>().unwrap().0, 1_000_000_000);
        assert_eq!("42".parse::<ByteSize>().unwrap().0, 42);
        assert!("12 parsecs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn config_validates_into_a_plan() {
        let config: Config = toml::from_str(
            r#"
            [partitioning]
            prefix = "!{partitionKeyFromQuery:eventType}/!{partitionKeyFromQuery:schemaVersion}/"
            [transform]
            operations = [{ op = "drop", path = "detail.ticket" }]
            [output]
            target_file_size = "64MiB"
            "#,
        )
        .unwrap();
        let plan = config.compact_plan().unwrap();
        assert_eq!(
            plan.template.column_names(),
            ["event_type", "schema_version"]
        );
        assert_eq!(plan.target_file_size, 64 << 20);
        assert!(plan.transform.has_operations());
        let bad: Config = toml::from_str("[partitioning]\nprefix = \"x=!{nope:1}/\"").unwrap();
        assert!(bad.compact_plan().is_err());
        assert!(toml::from_str::<Config>("[output]\ncolour = 1").is_err());
    }
}
