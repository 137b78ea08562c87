//! Typed query parameters: `--param day=2026-11-20` becomes a bound `ScalarValue`, checked
//! against the type its saved query declares. Values are never pasted into SQL text.

use std::collections::HashMap;

use datafusion::scalar::ScalarValue;

use crate::error::{Error, Result};

/// A parameter type a saved query can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Text,
    /// `YYYY-MM-DD`, bound as text to compare with the `dt` partition column.
    Date,
    /// RFC 3339, bound as a UTC timestamp (microseconds).
    Timestamp,
    Int,
    Float,
    Bool,
}

impl std::str::FromStr for ParamType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "text" | "string" => ParamType::Text,
            "date" => ParamType::Date,
            "timestamp" => ParamType::Timestamp,
            "int" | "integer" | "bigint" => ParamType::Int,
            "float" | "double" => ParamType::Float,
            "bool" | "boolean" => ParamType::Bool,
            other => {
                return Err(format!(
                    "unknown parameter type `{other}` (text, date, timestamp, int, float, bool)"
                ))
            }
        })
    }
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            ParamType::Text => "text",
            ParamType::Date => "date",
            ParamType::Timestamp => "timestamp",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
        })
    }
}

impl ParamType {
    /// Converts a value given on the command line, naming the parameter when it does not fit.
    pub fn bind(self, name: &str, value: &str) -> Result<ScalarValue> {
        let invalid = |expected: &str| {
            Error::InvalidArgument(format!("parameter `{name}`: {value:?} is not {expected}"))
        };
        Ok(match self {
            ParamType::Text => ScalarValue::Utf8(Some(value.to_owned())),
            ParamType::Date => {
                chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .map_err(|_| invalid("a date (YYYY-MM-DD)"))?;
                ScalarValue::Utf8(Some(value.to_owned()))
            }
            ParamType::Timestamp => {
                let micros = crate::record::parse_time(value)
                    .map_err(|_| invalid("a timestamp (RFC 3339)"))?;
                ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()))
            }
            ParamType::Int => {
                ScalarValue::Int64(Some(value.parse().map_err(|_| invalid("an integer"))?))
            }
            ParamType::Float => {
                ScalarValue::Float64(Some(value.parse().map_err(|_| invalid("a number"))?))
            }
            ParamType::Bool => {
                ScalarValue::Boolean(Some(value.parse().map_err(|_| invalid("true or false"))?))
            }
        })
    }
}

/// Splits `name=value` flags.
pub fn parse_assignments(assignments: &[String]) -> Result<HashMap<String, String>> {
    assignments
        .iter()
        .map(|assignment| {
            assignment
                .split_once('=')
                .map(|(name, value)| {
                    (
                        name.trim().trim_start_matches('$').to_owned(),
                        value.to_owned(),
                    )
                })
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("--param {assignment:?} must be name=value"))
                })
        })
        .collect()
}

/// Binds parameters for ad-hoc SQL, where no types are declared: integers, numbers, booleans
/// and RFC 3339 timestamps get those types, anything else is text.
pub fn bind_untyped(values: &HashMap<String, String>) -> HashMap<String, ScalarValue> {
    values
        .iter()
        .map(|(name, value)| {
            let scalar = [ParamType::Int, ParamType::Float, ParamType::Bool]
                .into_iter()
                .find_map(|kind| kind.bind(name, value).ok())
                .or_else(|| {
                    (value.len() > 10 && value.contains('T'))
                        .then(|| ParamType::Timestamp.bind(name, value).ok())
                        .flatten()
                })
                .unwrap_or_else(|| ScalarValue::Utf8(Some(value.clone())));
            (name.clone(), scalar)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_bind_to_their_declared_types_or_name_the_parameter() {
        assert_eq!(
            ParamType::Int.bind("n", "60").unwrap(),
            ScalarValue::Int64(Some(60))
        );
        assert_eq!(
            ParamType::Date.bind("day", "2026-11-20").unwrap(),
            ScalarValue::Utf8(Some("2026-11-20".into()))
        );
        let error = ParamType::Date
            .bind("day", "20/11/2026")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`day`") && error.contains("YYYY-MM-DD"),
            "{error}"
        );
        assert!(ParamType::Timestamp
            .bind("from", "2026-11-20T00:00:00Z")
            .is_ok());
        assert!(ParamType::Int.bind("n", "1; DROP TABLE events").is_err());
        assert!(parse_assignments(&["novalue".into()]).is_err());
    }
}
