//! `eventlake catalog ddl` and `catalog register`: the lake's tables for Athena, Trino, Spark
//! and Glue.

use crate::catalog::{self, Engine};
use crate::cli::args::{CatalogDdlArgs, CatalogRegisterArgs};
use crate::cli::to_json;
use crate::error::{Error, Result};

pub async fn ddl(args: &CatalogDdlArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    let tables = tables_of(&lake).await?;
    let statements = catalog::ddl(&tables, args.engine, &args.database, &args.trino_catalog)?;
    if args.engine == Engine::Trino {
        println!("-- Trino's Delta Lake connector registers tables only with delta.register-table-procedure.enabled=true");
    }
    print!("{statements}");
    Ok(())
}

pub async fn register(args: &CatalogRegisterArgs, endpoint_url: Option<&str>) -> Result<()> {
    let lake = args.at.open(endpoint_url)?;
    if lake.root().scheme() != "s3" {
        return Err(Error::InvalidArgument(format!(
            "Glue tables point at S3, and the lake is at {}",
            lake.root()
        )));
    }
    let tables = tables_of(&lake).await?;
    let config = crate::aws::sdk_config(args.region.as_deref(), endpoint_url).await;
    let client = crate::glue::GlueClient::new(&config)?;
    let registered = catalog::register_glue(&client, &args.glue_database, &tables).await?;
    if args.json {
        println!("{}", to_json(&registered)?);
        return Ok(());
    }
    for table in registered {
        println!(
            "{} {}.{} at {}",
            table.action, args.glue_database, table.table, table.location
        );
    }
    Ok(())
}

async fn tables_of(lake: &crate::table::Lake) -> Result<Vec<catalog::CatalogTable>> {
    let tables = catalog::tables(lake).await?;
    if tables.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} holds no Delta tables; `eventlake compact --lake` makes them",
            lake.root()
        )));
    }
    Ok(tables)
}
