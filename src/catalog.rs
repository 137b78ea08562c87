//! `catalog`: the lake's tables in the catalogs of engines that run at a larger scale. `ddl`
//! prints the statements that register each table (Athena, Trino, Spark); `register` creates or
//! updates the tables in an AWS Glue database, which Athena, EMR Spark and Trino's Glue
//! metastore read.
//!
//! Every engine reads the schema and the files from the Delta log itself: the catalog holds only
//! the name, the location and that the table is Delta. The tables stay within what those readers
//! support: protocol (reader 1, writer 2) with no table features, classic Parquet checkpoints.

use arrow::datatypes::{DataType, Schema};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::table::Lake;

/// An engine whose statements `catalog ddl` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// `CREATE EXTERNAL TABLE … LOCATION … TBLPROPERTIES ('table_type'='DELTA')`.
    Athena,
    /// The Delta Lake connector's `system.register_table` procedure.
    Trino,
    /// `CREATE TABLE … USING DELTA LOCATION …` (Spark, Databricks, Sail).
    Spark,
}

/// One of the lake's Delta tables, as a catalog names it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogTable {
    pub name: String,
    /// The table's folder, ending in `/`.
    pub location: String,
    /// Columns with their Hive types, for catalogs that show them (engines read the log's).
    pub columns: Vec<(String, String)>,
}

/// The lake's Delta tables with their locations and columns.
pub async fn tables(lake: &Lake) -> Result<Vec<CatalogTable>> {
    let mut tables = Vec::new();
    for name in crate::query::table_names(lake).await? {
        let Some(table) = lake.open(&name).await? else {
            continue;
        };
        let snapshot = table
            .snapshot()
            .map_err(|source| crate::table::delta(&table, source))?;
        let schema: Schema = {
            use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
            snapshot.schema().as_ref().try_into_arrow()?
        };
        let columns = schema
            .fields()
            .iter()
            .map(|field| (field.name().clone(), hive_type(field.data_type())))
            .collect();
        let location = format!("{}/", lake.table_url(&name)?.as_str().trim_end_matches('/'));
        tables.push(CatalogTable {
            name,
            location,
            columns,
        });
    }
    Ok(tables)
}

/// The Hive type a Glue column shows for an Arrow type.
fn hive_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::Decimal128(precision, scale) => format!("decimal({precision},{scale})"),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("array<{}>", hive_type(item.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|field| format!("{}:{}", field.name(), hive_type(field.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "map<{},{}>",
                hive_type(fields[0].data_type()),
                hive_type(fields[1].data_type())
            ),
            _ => "string".into(),
        },
        _ => "string".into(),
    }
}

/// The statements that register `tables` in `engine`'s catalog, in `database` (a Trino
/// `catalog` names the Delta connector's catalog).
pub fn ddl(
    tables: &[CatalogTable],
    engine: Engine,
    database: &str,
    catalog: &str,
) -> Result<String> {
    let mut out = String::new();
    for table in tables {
        if engine == Engine::Athena && !table.location.starts_with("s3://") {
            return Err(Error::InvalidArgument(format!(
                "Athena reads tables from S3 only, and {} is at {}",
                table.name, table.location
            )));
        }
        let location = quote_text(&table.location);
        let statement = match engine {
            Engine::Athena => format!(
                "CREATE EXTERNAL TABLE {}.{}\nLOCATION {location}\nTBLPROPERTIES ('table_type'='DELTA');\n",
                quote_name(database, '`'),
                quote_name(&table.name, '`'),
            ),
            Engine::Trino => format!(
                "CALL {}.system.register_table(schema_name => {}, table_name => {}, table_location => {location});\n",
                quote_name(catalog, '"'),
                quote_text(database),
                quote_text(&table.name),
            ),
            Engine::Spark => format!(
                "CREATE TABLE IF NOT EXISTS {}.{}\nUSING DELTA\nLOCATION {location};\n",
                quote_name(database, '`'),
                quote_name(&table.name, '`'),
            ),
        };
        out.push_str(&statement);
    }
    Ok(out)
}

/// A SQL string literal: quotes doubled, so a location cannot end the literal.
fn quote_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An identifier in `quote` (a backtick or a double quote), the quote doubled inside.
fn quote_name(name: &str, quote: char) -> String {
    let doubled: String = [quote, quote].iter().collect();
    format!("{quote}{}{quote}", name.replace(quote, &doubled))
}

/// What `register` did to one table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Registered {
    pub table: String,
    pub location: String,
    /// `created` or `updated`.
    pub action: &'static str,
}

/// Creates `database` if missing, and each table in it (or updates the table, if there is one).
pub async fn register_glue(
    client: &crate::glue::GlueClient,
    database: &str,
    tables: &[CatalogTable],
) -> Result<Vec<Registered>> {
    let input = serde_json::json!({"DatabaseInput": {
        "Name": database,
        "Description": "eventlake: Delta tables of the event lake",
    }});
    match client.call("CreateDatabase", &input).await {
        Err(error) if !crate::glue::already_exists(&error) => return Err(error),
        _ => {}
    }
    let mut registered = Vec::new();
    for table in tables {
        let input =
            serde_json::json!({"DatabaseName": database, "TableInput": glue_table_input(table)});
        let action = match client.call("CreateTable", &input).await {
            Ok(_) => "created",
            Err(error) if crate::glue::already_exists(&error) => {
                client.call("UpdateTable", &input).await?;
                "updated"
            }
            Err(error) => return Err(error),
        };
        tracing::info!(table = %table.name, action, "Glue table registered");
        registered.push(Registered {
            table: table.name.clone(),
            location: table.location.clone(),
            action,
        });
    }
    Ok(registered)
}

/// A Glue table that Athena reads as Delta (`table_type=DELTA`) and Spark on EMR or Glue reads
/// through the `path` SerDe parameter (`spark.sql.sources.provider=delta`).
fn glue_table_input(table: &CatalogTable) -> serde_json::Value {
    let columns: Vec<_> = table
        .columns
        .iter()
        .map(|(name, hive_type)| serde_json::json!({"Name": name, "Type": hive_type}))
        .collect();
    serde_json::json!({
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "table_type": "DELTA",
            "EXTERNAL": "TRUE",
            "spark.sql.sources.provider": "delta",
            "classification": "delta",
        },
        "StorageDescriptor": {
            "Location": table.location,
            "Columns": columns,
            "InputFormat": "org.apache.hadoop.mapred.SequenceFileInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"path": table.location, "serialization.format": "1"},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_at(location: &str) -> CatalogTable {
        CatalogTable {
            name: "events".into(),
            location: location.into(),
            columns: vec![("id".into(), "string".into())],
        }
    }

    #[test]
    fn each_engine_gets_its_statement_with_quotes_doubled() {
        let tables = [events_at("s3://bucket/it's/events/")];
        let athena = ddl(&tables, Engine::Athena, "lake", "delta").unwrap();
        assert_eq!(
            athena,
            "CREATE EXTERNAL TABLE `lake`.`events`\nLOCATION 's3://bucket/it''s/events/'\nTBLPROPERTIES ('table_type'='DELTA');\n"
        );
        let trino = ddl(&tables, Engine::Trino, "lake", "delta").unwrap();
        assert_eq!(
            trino,
            "CALL \"delta\".system.register_table(schema_name => 'lake', table_name => 'events', table_location => 's3://bucket/it''s/events/');\n"
        );
        let spark = ddl(&tables, Engine::Spark, "we`ird", "delta").unwrap();
        assert!(
            spark.starts_with("CREATE TABLE IF NOT EXISTS `we``ird`.`events`\nUSING DELTA\n"),
            "{spark}"
        );
    }

    #[test]
    fn athena_needs_s3() {
        let tables = [events_at("file:///tmp/lake/events/")];
        assert!(ddl(&tables, Engine::Athena, "lake", "delta").is_err());
        assert!(ddl(&tables, Engine::Spark, "lake", "delta").is_ok());
    }

    #[test]
    fn hive_types_follow_the_arrow_types() {
        use arrow::datatypes::{Field, TimeUnit};
        use std::sync::Arc;
        assert_eq!(hive_type(&DataType::Int64), "bigint");
        assert_eq!(
            hive_type(&DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            )),
            "timestamp"
        );
        assert_eq!(
            hive_type(&DataType::List(Arc::new(Field::new(
                "element",
                DataType::Utf8,
                true
            )))),
            "array<string>"
        );
    }
}
