//! Saved queries: `queries/**/*.sql`, each with a header that says what it answers and which
//! parameters it takes:
//!
//! ```sql
//! -- Events, distinct clients and bad records by event type and hour, for one UTC day.
//! -- @param day date  The UTC day (YYYY-MM-DD)
//! -- @param threshold_minutes int = 60  How late counts as late
//! SELECT … WHERE dt = $day
//! ```
//!
//! The binary carries the shipped queries; a `queries/` folder (or `--queries DIR`) adds to them
//! and overrides them by name.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use datafusion::scalar::ScalarValue;

use super::params::ParamType;
use crate::error::{Error, Result};

/// The queries shipped in the binary, by name.
const SHIPPED: &[(&str, &str)] = &[
    (
        "reconcile/candidates",
        include_str!("../../queries/reconcile/candidates.sql"),
    ),
    (
        "replay/client-window",
        include_str!("../../queries/replay/client-window.sql"),
    ),
    (
        "replay/loyalty-purchases",
        include_str!("../../queries/replay/loyalty-purchases.sql"),
    ),
    (
        "triage/overview",
        include_str!("../../queries/triage/overview.sql"),
    ),
    (
        "triage/client-timeline",
        include_str!("../../queries/triage/client-timeline.sql"),
    ),
    (
        "triage/errors",
        include_str!("../../queries/triage/errors.sql"),
    ),
    (
        "triage/late-events",
        include_str!("../../queries/triage/late-events.sql"),
    ),
    (
        "triage/schema-drift",
        include_str!("../../queries/triage/schema-drift.sql"),
    ),
    (
        "loyalty/purchases",
        include_str!("../../queries/loyalty/purchases.sql"),
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamType,
    pub default: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SavedQuery {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub sql: String,
}

impl SavedQuery {
    /// Reads the header comment of a query file.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let invalid =
            |reason: String| Error::InvalidArgument(format!("saved query `{name}`: {reason}"));
        let mut description = Vec::new();
        let mut params = Vec::new();
        for line in text.lines() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            let comment = comment.trim();
            if let Some(spec) = comment.strip_prefix("@param") {
                let mut words = spec.split_whitespace();
                let param_name = words
                    .next()
                    .ok_or_else(|| invalid("@param without a name".into()))?;
                let kind: ParamType = words
                    .next()
                    .ok_or_else(|| invalid(format!("@param {param_name} has no type")))?
                    .parse()
                    .map_err(invalid)?;
                let rest: Vec<&str> = words.collect();
                let (default, described) = match rest.as_slice() {
                    ["=", value, tail @ ..] => (Some(value.to_string()), tail.join(" ")),
                    tail => (None, tail.join(" ")),
                };
                if let Some(value) = &default {
                    kind.bind(param_name, value)
                        .map_err(|error| invalid(error.to_string()))?;
                }
                params.push(ParamSpec {
                    name: param_name.to_owned(),
                    kind,
                    default,
                    description: described,
                });
            } else if !comment.is_empty() {
                description.push(comment.to_owned());
            }
        }
        Ok(Self {
            name: name.to_owned(),
            description: description.join(" "),
            params,
            sql: text.to_owned(),
        })
    }

    /// Binds the given values (and defaults) to the declared types; names what is missing or wrong.
    pub fn bind(&self, given: &HashMap<String, String>) -> Result<HashMap<String, ScalarValue>> {
        if let Some(unknown) = given
            .keys()
            .find(|name| !self.params.iter().any(|param| &param.name == *name))
        {
            let known: Vec<&str> = self
                .params
                .iter()
                .map(|param| param.name.as_str())
                .collect();
            return Err(Error::InvalidArgument(format!(
                "`{}` has no parameter `{unknown}` (it takes: {})",
                self.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        self.params
            .iter()
            .map(|param| {
                let value = given
                    .get(&param.name)
                    .or(param.default.as_ref())
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "`{}` needs --param {}=… ({}: {})",
                            self.name, param.name, param.kind, param.description
                        ))
                    })?;
                Ok((param.name.clone(), param.kind.bind(&param.name, value)?))
            })
            .collect()
    }
}

/// Reads a SQL file (`-f FILE`) and binds `given` to its parameters: typed as its `-- @param`
/// header declares them, or, when it declares none, untyped as ad-hoc SQL is bound. Returns the
/// SQL text and the bound values.
pub fn read_sql_file(
    path: &Path,
    given: &HashMap<String, String>,
) -> Result<(String, HashMap<String, ScalarValue>)> {
    let sql = std::fs::read_to_string(path).map_err(|error| Error::Config {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    let query = SavedQuery::parse(&path.to_string_lossy(), &sql)?;
    let params = if query.params.is_empty() {
        super::params::bind_untyped(given)
    } else {
        query.bind(given)?
    };
    Ok((sql, params))
}

/// The shipped queries plus those under `dir`, by name.
pub fn catalog(dir: Option<&Path>) -> Result<BTreeMap<String, SavedQuery>> {
    let mut queries = BTreeMap::new();
    for (name, text) in SHIPPED {
        queries.insert(name.to_string(), SavedQuery::parse(name, text)?);
    }
    if let Some(dir) = dir {
        if dir.is_dir() {
            collect(dir, dir, &mut queries)?;
        }
    }
    Ok(queries)
}

fn collect(root: &Path, dir: &Path, queries: &mut BTreeMap<String, SavedQuery>) -> Result<()> {
    let read = |path: &Path, error: std::io::Error| Error::Config {
        path: path.to_path_buf(),
        reason: error.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(|error| read(dir, error))? {
        let path = entry.map_err(|error| read(dir, error))?.path();
        if path.is_dir() {
            collect(root, &path, queries)?;
        } else if path.extension().is_some_and(|ext| ext == "sql") {
            let relative = path.strip_prefix(root).unwrap_or(&path).with_extension("");
            let name = relative.to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&path).map_err(|error| read(&path, error))?;
            queries.insert(name.clone(), SavedQuery::parse(&name, &text)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_queries_have_descriptions_and_typed_params() {
        let queries = catalog(None).unwrap();
        assert_eq!(queries.len(), SHIPPED.len());
        for query in queries.values() {
            assert!(
                !query.description.is_empty(),
                "{} has no description",
                query.name
            );
        }
        let overview = &queries["triage/overview"];
        assert_eq!(overview.params[0].name, "day");
        assert_eq!(overview.params[0].kind, ParamType::Date);
    }

    #[test]
    fn binding_names_missing_unknown_and_ill_typed_parameters() {
        let query = SavedQuery::parse("q", "-- A query.\n-- @param day date  The day\n-- @param n int = 5  How many\nSELECT $day, $n").unwrap();
        let missing = query.bind(&HashMap::new()).unwrap_err().to_string();
        assert!(missing.contains("--param day="), "{missing}");
        let unknown = query
            .bind(&HashMap::from([("dy".into(), "x".into())]))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("`dy`") && unknown.contains("day, n"),
            "{unknown}"
        );
        let ill = query
            .bind(&HashMap::from([
                ("day".into(), "2026-11-20".into()),
                ("n".into(), "five".into()),
            ]))
            .unwrap_err();
        assert!(ill.to_string().contains("`n`"));
        let bound = query
            .bind(&HashMap::from([("day".into(), "2026-11-20".into())]))
            .unwrap();
        assert_eq!(bound["n"], ScalarValue::Int64(Some(5)));
    }

    #[test]
    fn a_sql_file_binds_typed_by_its_header_or_untyped_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let typed = dir.path().join("typed.sql");
        std::fs::write(&typed, "-- @param n int  How many\nSELECT $n").unwrap();
        let untyped = dir.path().join("untyped.sql");
        std::fs::write(&untyped, "SELECT $n").unwrap();
        let given = HashMap::from([("n".to_owned(), "5".to_owned())]);

        let (sql, params) = read_sql_file(&typed, &given).unwrap();
        assert!(sql.ends_with("SELECT $n"));
        assert_eq!(params["n"], ScalarValue::Int64(Some(5)));
        let (_, params) = read_sql_file(&untyped, &given).unwrap();
        assert_eq!(params["n"], ScalarValue::Int64(Some(5)));

        let unknown = HashMap::from([("m".to_owned(), "5".to_owned())]);
        assert!(read_sql_file(&typed, &unknown).is_err());
        let missing = read_sql_file(&dir.path().join("nope.sql"), &given).unwrap_err();
        assert!(matches!(missing, Error::Config { .. }), "{missing}");
    }
}
