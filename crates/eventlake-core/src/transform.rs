//! The record transform Firehose ran in a Lambda, done in-process, and its undo for replay.
//!
//! The `client-event-sample` preset reproduces the sample's Lambda
//! (`detail.accountNumber = resources[0]; resources = []`) and leaves records that already went
//! through it unchanged. It is written here once per form a record takes:
//!
//! ```text
//! parsed fields (every record)      Transform::apply            borrows; one string insertion
//! whole record (with operations)    Transform::apply_operations the preset, then the operations
//! stored detail (replay)            Transform::undo             accountNumber back to resources
//! ```
//!
//! Declarative operations from `eventlake.toml` (move, rename, drop) run after the preset; they
//! need a full parse of the record, so they are only paid for when set.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The detail member the sample's Lambda fills with the client id.
const ACCOUNT_NUMBER: &str = "accountNumber";

/// Why a transform could not be built from its configuration, or could not apply to a record.
/// The messages include their causes (none is also a `source`, so a printed chain says each
/// once).
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("transform path {path:?} has an empty step")]
    EmptyStep { path: String },

    #[error("transform path {path:?}: unclosed `[`")]
    UnclosedIndex { path: String },

    #[error("transform path {path:?}: bad index")]
    BadIndex { path: String },

    #[error("transform path {path:?}: unexpected {rest:?}")]
    UnexpectedText { path: String, rest: String },

    /// The record is not JSON.
    #[error("{0}")]
    NotJson(serde_json::Error),

    #[error("the record is not a JSON object")]
    NotAnObject,

    /// The record's `detail` could not be read to rewrite it.
    #[error("detail: {0}")]
    Detail(serde_json::Error),

    #[error("empty target path")]
    EmptyTarget,

    /// An operation's target path goes through a value that is not an object.
    #[error("`{key}` is under a value that is not an object")]
    NotUnderObject { key: String },

    /// An operation's target path names an array element that is not there.
    #[error("no element [{index}]")]
    NoElement { index: usize },
}

/// The parts of a parsed record the sample's Lambda reads and writes, borrowed from the raw
/// record where they can be.
#[derive(Debug)]
pub struct ClientFields<'a> {
    pub resources: Vec<Cow<'a, str>>,
    /// `detail.accountNumber`, the client id.
    pub account_number: Option<Cow<'a, str>>,
    /// The `detail` object as JSON text.
    pub detail: Detail<'a>,
}

/// The `detail` object's JSON text after the transform: the record's own (or one rewritten
/// whole), or the record's with the client id added before its closing brace, kept in pieces
/// so that every record's detail is copied once, into its column, not first into a `String`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail<'a> {
    Text(Cow<'a, str>),
    /// `body` (the text up to its closing brace, trailing space trimmed), `separator` (`", "`,
    /// or nothing in an empty object), then `"accountNumber": "<client_id>"}`; `client_id` has
    /// nothing JSON escapes.
    WithAccountNumber {
        body: &'a str,
        separator: &'static str,
        client_id: &'a str,
    },
}

impl Detail<'_> {
    /// The text's pieces, in order (some may be empty).
    pub fn pieces(&self) -> [&str; 5] {
        match self {
            Detail::Text(text) => [text, "", "", "", ""],
            Detail::WithAccountNumber {
                body,
                separator,
                client_id,
            } => [body, separator, ACCOUNT_NUMBER_MEMBER, client_id, "\"}"],
        }
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.pieces().iter().map(|piece| piece.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole text (joined only when it is in pieces).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Detail::Text(text) => Cow::Borrowed(text),
            Detail::WithAccountNumber { .. } => Cow::Owned(self.pieces().concat()),
        }
    }
}

impl<'a> From<&'a str> for Detail<'a> {
    fn from(text: &'a str) -> Self {
        Detail::Text(Cow::Borrowed(text))
    }
}

/// The start of the member the sample's Lambda adds, up to its value's text.
const ACCOUNT_NUMBER_MEMBER: &str = "\"accountNumber\": \"";

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
    pub fn new(preset: Preset, operations: &[Operation]) -> Result<Self, TransformError> {
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
            .collect::<Result<_, TransformError>>()?;
        Ok(Self { preset, operations })
    }

    pub fn has_operations(&self) -> bool {
        !self.operations.is_empty()
    }

    pub fn moves_client_id(&self) -> bool {
        self.preset == Preset::ClientEventSample
    }

    /// Applies the preset to a parsed record's fields: the path every record takes, without a
    /// full parse. `detail` is rewritten only when the client id it holds changes.
    pub fn apply(&self, fields: &mut ClientFields<'_>) -> Result<(), TransformError> {
        if !self.moves_client_id() || fields.resources.is_empty() {
            return Ok(());
        }
        let moved = fields.resources.swap_remove(0);
        fields.resources.clear();
        if fields.account_number.as_deref() != Some(&*moved) {
            let detail = std::mem::replace(&mut fields.detail, Detail::Text(Cow::Borrowed("")));
            fields.detail = with_account_number(detail, &moved, fields.account_number.is_some())?;
        }
        fields.account_number = Some(moved);
        Ok(())
    }

    /// Applies the preset and the operations to a whole record and serialises it again.
    pub fn apply_operations(&self, record_text: &str) -> Result<String, TransformError> {
        let mut record: Value =
            serde_json::from_str(record_text).map_err(TransformError::NotJson)?;
        if !record.is_object() {
            return Err(TransformError::NotAnObject);
        }
        if self.moves_client_id() {
            apply_sample_lambda(&mut record);
        }
        for operation in &self.operations {
            match operation {
                CompiledOperation::Move { from, to } => {
                    if let Some(value) = take(&mut record, from) {
                        put(&mut record, to, value)?;
                    }
                }
                CompiledOperation::Drop { path } => {
                    take(&mut record, path);
                }
            }
        }
        Ok(record.to_string())
    }

    /// Undoes the preset on a stored event for replay: the first string `accountNumber` of
    /// `detail` goes back to `resources` when they are empty, so the event is what the client
    /// sent. `detail` is the object's members in their order, values as raw JSON text; the
    /// others keep their order. The operations are not undone.
    pub fn undo(&self, detail: &mut Vec<(String, &RawValue)>, resources: &mut Vec<String>) {
        if !self.moves_client_id() || !resources.is_empty() {
            return;
        }
        let moved = detail.iter().enumerate().find_map(|(index, (key, value))| {
            if key != ACCOUNT_NUMBER {
                return None;
            }
            let client_id = serde_json::from_str::<String>(value.get()).ok()?;
            Some((index, client_id))
        });
        if let Some((index, client_id)) = moved {
            detail.remove(index);
            resources.push(client_id);
        }
    }
}

/// The sample's Lambda on a whole record.
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
        detail.insert(ACCOUNT_NUMBER.to_owned(), client_id);
    }
}

/// `detail` with `"accountNumber": client_id` put in: in pieces when `detail` is the record's own
/// text and the id has nothing JSON escapes (nearly always), else as a new text.
fn with_account_number<'a>(
    detail: Detail<'a>,
    client_id: &Cow<'a, str>,
    replace: bool,
) -> Result<Detail<'a>, TransformError> {
    let text = match detail {
        Detail::Text(text) => text,
        pieces => Cow::Owned(pieces.text().into_owned()),
    };
    if replace {
        // Rare (both present and different): rewrite through a full parse.
        let mut value: Value = serde_json::from_str(&text).map_err(TransformError::Detail)?;
        value[ACCOUNT_NUMBER] = Value::String(client_id.to_string());
        return Ok(Detail::Text(Cow::Owned(value.to_string())));
    }
    let plain_id = !client_id
        .bytes()
        .any(|byte| byte == b'"' || byte == b'\\' || byte < 0x20);
    if let (Cow::Borrowed(text), Cow::Borrowed(client_id), true) = (&text, client_id, plain_id) {
        let (body, separator) = body_and_separator(text);
        return Ok(Detail::WithAccountNumber {
            body,
            separator,
            client_id,
        });
    }
    let (body, separator) = body_and_separator(&text);
    let mut out = String::with_capacity(text.len() + client_id.len() + 24);
    out.push_str(body);
    out.push_str(separator);
    out.push_str(ACCOUNT_NUMBER_MEMBER);
    if plain_id {
        out.push_str(client_id);
        out.push('"');
    } else {
        // serde's quoting, less the opening quote the member's start holds.
        let quoted = serde_json::to_string(client_id).unwrap_or_else(|_| "\"\"".to_owned());
        out.push_str(&quoted[1..]);
    }
    out.push('}');
    Ok(Detail::Text(Cow::Owned(out)))
}

/// A detail object's text up to its closing brace (trailing space trimmed), and what goes
/// between that and a new member: `", "`, or nothing in an empty object.
fn body_and_separator(detail_text: &str) -> (&str, &'static str) {
    let close = detail_text.rfind('}').unwrap_or(detail_text.len());
    let body = detail_text[..close].trim_end();
    let is_empty = body.trim_start_matches('{').trim().is_empty();
    (body, if is_empty { "" } else { ", " })
}

fn parse_path(path: &str) -> Result<Vec<PathStep>, TransformError> {
    let mut steps = Vec::new();
    for part in path.trim_start_matches('.').split('.') {
        let (name, mut indexes) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if name.is_empty() && indexes.is_empty() {
            return Err(TransformError::EmptyStep {
                path: path.to_owned(),
            });
        }
        if !name.is_empty() {
            steps.push(PathStep::Key(name.to_owned()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| TransformError::UnclosedIndex {
                    path: path.to_owned(),
                })?;
            let index = rest[..close]
                .parse()
                .map_err(|_| TransformError::BadIndex {
                    path: path.to_owned(),
                })?;
            steps.push(PathStep::Index(index));
            indexes = &rest[close + 1..];
        }
        if !indexes.is_empty() {
            return Err(TransformError::UnexpectedText {
                path: path.to_owned(),
                rest: indexes.to_owned(),
            });
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

fn put(record: &mut Value, path: &[PathStep], value: Value) -> Result<(), TransformError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(TransformError::EmptyTarget);
    };
    let not_under_object = |key: &str| TransformError::NotUnderObject {
        key: key.to_owned(),
    };
    let mut node = record;
    for step in parents {
        node = match step {
            PathStep::Key(key) => {
                let object = node.as_object_mut().ok_or_else(|| not_under_object(key))?;
                object
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            PathStep::Index(index) => node
                .get_mut(*index)
                .ok_or(TransformError::NoElement { index: *index })?,
        };
    }
    match last {
        PathStep::Key(key) => {
            let object = node.as_object_mut().ok_or_else(|| not_under_object(key))?;
            object.insert(key.clone(), value);
        }
        PathStep::Index(index) => {
            let slot = node
                .get_mut(*index)
                .ok_or(TransformError::NoElement { index: *index })?;
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
            &[Operation::Drop {
                path: "detail.x".into(),
            }],
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
        let drop = |path: &str| {
            Transform::new(
                Preset::None,
                &[Operation::Drop {
                    path: path.to_owned(),
                }],
            )
            .map(|_| ())
            .map_err(|error| error.to_string())
        };
        assert_eq!(
            drop("a..b"),
            Err(r#"transform path "a..b" has an empty step"#.to_owned())
        );
        assert_eq!(
            drop("a[x]"),
            Err(r#"transform path "a[x]": bad index"#.to_owned())
        );
        assert_eq!(
            drop("a[0"),
            Err(r#"transform path "a[0": unclosed `[`"#.to_owned())
        );
        assert_eq!(
            drop("a[0]b"),
            Err(r#"transform path "a[0]b": unexpected "b""#.to_owned())
        );
        assert_eq!(drop("resources[0]"), Ok(()));
    }

    fn client_fields<'a>(
        resources: &[&'a str],
        account_number: Option<&'a str>,
        detail: &'a str,
    ) -> ClientFields<'a> {
        ClientFields {
            resources: resources.iter().map(|&r| Cow::Borrowed(r)).collect(),
            account_number: account_number.map(Cow::Borrowed),
            detail: Detail::Text(Cow::Borrowed(detail)),
        }
    }

    #[test]
    fn apply_moves_the_client_id_and_rewrites_detail_only_when_it_changes() {
        let mut fields = client_fields(&["c-1", "c-2"], None, r#"{"eventType": "x"}"#);
        Transform::sample().apply(&mut fields).unwrap();
        assert!(fields.resources.is_empty());
        assert_eq!(fields.account_number.as_deref(), Some("c-1"));
        assert_eq!(
            fields.detail.text(),
            r#"{"eventType": "x", "accountNumber": "c-1"}"#
        );
        assert!(matches!(fields.detail, Detail::WithAccountNumber { .. }));

        let mut empty = client_fields(&["c-1"], None, "{ }");
        Transform::sample().apply(&mut empty).unwrap();
        assert_eq!(empty.detail.text(), r#"{"accountNumber": "c-1"}"#);

        let detail = r#"{"accountNumber":"c-1"}"#;
        let mut same = client_fields(&["c-1"], Some("c-1"), detail);
        Transform::sample().apply(&mut same).unwrap();
        assert!(matches!(same.detail, Detail::Text(Cow::Borrowed(_))));
        assert!(same.resources.is_empty());

        let mut other = client_fields(&["c-2"], Some("c-1"), r#"{"accountNumber":"c-1","a":1}"#);
        Transform::sample().apply(&mut other).unwrap();
        assert_eq!(other.detail.text(), r#"{"a":1,"accountNumber":"c-2"}"#);

        let mut untouched = client_fields(&["c-1"], None, "{}");
        Transform::none().apply(&mut untouched).unwrap();
        assert_eq!(untouched.resources, ["c-1"]);
        assert_eq!(untouched.account_number, None);
    }

    fn members(detail: &str) -> Vec<(String, &RawValue)> {
        let map: Vec<(String, &RawValue)> =
            serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(detail)
                .unwrap()
                .into_iter()
                .collect();
        map
    }

    #[test]
    fn undo_moves_the_first_string_account_number_back() {
        let detail = r#"{"a":1,"accountNumber":"c-1"}"#;
        let mut fields = members(detail);
        let mut resources = Vec::new();
        Transform::sample().undo(&mut fields, &mut resources);
        assert_eq!(resources, ["c-1"]);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].0, "a");

        // Resources already there: the event was not transformed, nothing to undo.
        let mut fields = members(detail);
        let mut resources = vec!["r".to_owned()];
        Transform::sample().undo(&mut fields, &mut resources);
        assert_eq!((fields.len(), resources.len()), (2, 1));

        // Not a string: not a client id the transform put there.
        let mut fields = members(r#"{"accountNumber":7}"#);
        let mut resources = Vec::new();
        Transform::sample().undo(&mut fields, &mut resources);
        assert_eq!((fields.len(), resources.len()), (1, 0));

        let mut fields = members(detail);
        Transform::none().undo(&mut fields, &mut resources);
        assert_eq!((fields.len(), resources.len()), (2, 0));
    }
}
