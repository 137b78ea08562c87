//! The record transform Firehose ran in a Lambda, done in-process.
//!
//! The `client-event-sample` preset reproduces the sample's Lambda
//! (`detail.accountNumber = resources[0]; resources = []`) and leaves records that already went
//! through it unchanged. Declarative operations from `eventlake.toml` (move, rename, drop) run
//! after the preset; they need a full parse of the record, so they are only paid for when set.

use serde::Deserialize;
use serde_json::Value;

use crate::record::{ErrorCode, RecordError};

/// Which built-in transform runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The aws-samples/client-event-sample Lambda.
    #[default]
    ClientEventSample,
    /// Records are stored as they arrive.
    None,
}

/// One declarative operation on a record, with dotted paths (`detail.data.sku`, `resources[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Operation {
    /// Moves a value; an absent source is no error (the record is left as it is).
    Move { from: String, to: String },
    /// The same as `move`; reads better when only the last name changes.
    Rename { from: String, to: String },
    /// Removes a value if present.
    Drop { path: String },
}

/// A validated transform: the preset and the operations, paths already split.
#[derive(Debug, Clone)]
pub struct Transform {
    preset: Preset,
    operations: Vec<CompiledOperation>,
}

#[derive(Debug, Clone)]
enum CompiledOperation {
    Move {
        from: Vec<PathStep>,
        to: Vec<PathStep>,
    },
    Drop {
        path: Vec<PathStep>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    Key(String),
    Index(usize),
}

impl Transform {
    pub fn sample() -> Self {
        Self {
            preset: Preset::ClientEventSample,
            operations: Vec::new(),
        }
    }

    pub fn none() -> Self {
        Self {
            preset: Preset::None,
            operations: Vec::new(),
        }
    }

    /// Validates the operations' paths once, before any record is read.
    pub fn new(preset: Preset, operations: &[Operation]) -> Result<Self, String> {
        let operations = operations
            .iter()
            .map(|operation| match operation {
                Operation::Move { from, to } | Operation::Rename { from, to } => {
                    Ok(CompiledOperation::Move {
                        from: parse_path(from)?,
                        to: parse_path(to)?,
                    })
                }
                Operation::Drop { path } => Ok(CompiledOperation::Drop {
                    path: parse_path(path)?,
                }),
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { preset, operations })
    }

    pub fn has_operations(&self) -> bool {
        !self.operations.is_empty()
    }

    pub fn moves_client_id(&self) -> bool {
        self.preset == Preset::ClientEventSample
    }

    /// Applies the preset and the operations to a whole record and serialises it again.
    pub fn apply_operations(&self, record_text: &str) -> Result<String, RecordError> {
        let mut record: Value = serde_json::from_str(record_text)
            .map_err(|error| RecordError::new(ErrorCode::NotJson, error.to_string()))?;
        if !record.is_object() {
            return Err(RecordError::new(
                ErrorCode::NotJson,
                "the record is not a JSON object",
            ));
        }
        if self.moves_client_id() {
            apply_sample_lambda(&mut record);
        }
        for operation in &self.operations {
            match operation {
                CompiledOperation::Move { from, to } => {
                    if let Some(value) = take(&mut record, from) {
                        put(&mut record, to, value).map_err(|message| {
                            RecordError::new(ErrorCode::TransformFailed, message)
                        })?;
                    }
                }
                CompiledOperation::Drop { path } => {
                    take(&mut record, path);
                }
            }
        }
        Ok(record.to_string())
    }
}

fn apply_sample_lambda(record: &mut Value) {
    let client_id = match record.get_mut("resources").and_then(Value::as_array_mut) {
        Some(resources) if !resources.is_empty() => {
            let first = resources.remove(0);
            resources.clear();
            first
        }
        _ => return,
    };
    if let Some(detail) = record.get_mut("detail").and_then(Value::as_object_mut) {
        detail.insert("accountNumber".to_owned(), client_id);
    }
}

fn parse_path(path: &str) -> Result<Vec<PathStep>, String> {
    let mut steps = Vec::new();
    for part in path.trim_start_matches('.').split('.') {
        let (name, mut indexes) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if name.is_empty() && indexes.is_empty() {
            return Err(format!("transform path {path:?} has an empty step"));
        }
        if !name.is_empty() {
            steps.push(PathStep::Key(name.to_owned()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("transform path {path:?}: unclosed `[`"))?;
            let index = rest[..close]
                .parse()
                .map_err(|_| format!("transform path {path:?}: bad index"))?;
            steps.push(PathStep::Index(index));
            indexes = &rest[close + 1..];
        }
        if !indexes.is_empty() {
            return Err(format!("transform path {path:?}: unexpected {indexes:?}"));
        }
    }
    Ok(steps)
}

fn take(record: &mut Value, path: &[PathStep]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut node = record;
    for step in parents {
        node = match step {
            PathStep::Key(key) => node.get_mut(key.as_str())?,
            PathStep::Index(index) => node.get_mut(*index)?,
        };
    }
    match last {
        PathStep::Key(key) => node.as_object_mut()?.remove(key.as_str()),
        PathStep::Index(index) => {
            let array = node.as_array_mut()?;
            (*index < array.len()).then(|| array.remove(*index))
        }
    }
}

fn put(record: &mut Value, path: &[PathStep], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty target path".to_owned());
    };
    let mut node = record;
    for step in parents {
        node = match step {
            PathStep::Key(key) => {
                let object = node
                    .as_object_mut()
                    .ok_or_else(|| format!("`{key}` is under a value that is not an object"))?;
                object
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            PathStep::Index(index) => node
                .get_mut(*index)
                .ok_or_else(|| format!("no element [{index}]"))?,
        };
    }
    match last {
        PathStep::Key(key) => {
            let object = node
                .as_object_mut()
                .ok_or_else(|| format!("`{key}` is under a value that is not an object"))?;
            object.insert(key.clone(), value);
        }
        PathStep::Index(index) => {
            let slot = node
                .get_mut(*index)
                .ok_or_else(|| format!("no element [{index}]"))?;
            *slot = value;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `transform` fuzz target: without serde_json's exact float parsing, each
    /// rewrite moved a large float by one ulp (1.004e52 → 1.0039999999999999e52).
    #[test]
    fn declarative_transforms_keep_floats_exact() {
        let transform = Transform::new(
            Preset::ClientEventSample,
            &[Operation::Drop { path: "detail.x".into() }],
        )
        .unwrap();
        let record = r#"{"a":10040000000000000000000000000000000000000000000000000.000000,"b":0.1,"c":1e-300}"#;
        let once = transform.apply_operations(record).unwrap();
        assert_eq!(transform.apply_operations(&once).unwrap(), once);
        let value: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(value["a"].as_f64(), Some(1.004e52));
    }

    #[test]
    fn operations_move_rename_and_drop() {
        let transform = Transform::new(
            Preset::ClientEventSample,
            &[
                Operation::Move {
                    from: "detail.data.sku".into(),
                    to: "detail.data.itemSku".into(),
                },
                Operation::Rename {
                    from: "region".into(),
                    to: "awsRegion".into(),
                },
                Operation::Drop {
                    path: "account".into(),
                },
            ],
        )
        .unwrap();
        let out = transform
            .apply_operations(
                r#"{"account":"1","region":"eu","resources":["c"],"detail":{"data":{"sku":7}}}"#,
            )
            .unwrap();
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["detail"]["data"]["itemSku"], 7);
        assert_eq!(out["detail"]["accountNumber"], "c");
        assert_eq!(out["awsRegion"], "eu");
        assert!(out.get("account").is_none());
        assert_eq!(out["resources"], serde_json::json!([]));
    }

    #[test]
    fn bad_paths_are_rejected_up_front() {
        assert!(Transform::new(
            Preset::None,
            &[Operation::Drop {
                path: "a..b".into()
            }]
        )
        .is_err());
        assert!(Transform::new(
            Preset::None,
            &[Operation::Drop {
                path: "a[x]".into()
            }]
        )
        .is_err());
        assert!(Transform::new(
            Preset::None,
            &[Operation::Drop {
                path: "resources[0]".into()
            }]
        )
        .is_ok());
    }
}
