//! `list databases`, `extensions`, `collations` and `schema`: instance-wide
//! and whole-catalog listings.

use anyhow::Result;

use crate::connections::{resolve, Side};
use crate::error::Failure;

use super::render::{grid, or_dash, pg_size_pretty, print_json, yes_no};
use super::schema_json::OriginalFacts;
use super::{ExtensionsArgs, SourceArgs};
use crate::catalog::listing::CollationRow;
use crate::catalog::parts::{plan_parts, SplitSettings};
use crate::catalog::{listing, read_catalog, TableSizes};

pub async fn databases(args: SourceArgs) -> Result<()> {
    let client = args.open().await?;
    let rows = listing::databases(&client).await?;
    if args.json {
        return print_json(&rows);
    }
    // The original's columns first, ours after them.
    let mut g = grid(&[
        "OID",
        "Database Name",
        "On-disk size",
        "Owner",
        "Encoding",
        "Collate",
        "Ctype",
    ]);
    for d in &rows {
        g.add_row(vec![
            d.oid.to_string(),
            d.name.clone(),
            d.bytes.map_or_else(|| "-".into(), pg_size_pretty),
            d.owner.clone(),
            d.encoding.clone(),
            d.collate.clone(),
            d.ctype.clone(),
        ]);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

pub async fn extensions(args: ExtensionsArgs) -> Result<()> {
    let client = args.src.open().await?;
    let scope = args.src.scope(&client).await?;
    if args.requirements {
        let rows = listing::available_extensions(&client, &*scope).await?;
        let pins: Vec<_> = rows
            .iter()
            .filter_map(|e| {
                let version = e.default_version.clone()?;
                Some(serde_json::json!({ "name": e.name, "version": version }))
            })
            .collect();
        if args.src.json {
            return print_json(&pins);
        }
        let mut g = grid(&["Name", "Version"]);
        for e in &rows {
            g.add_row(vec![e.name.clone(), or_dash(e.default_version.as_ref())]);
        }
        crate::report::stdout::println(&g)?;
        return Ok(());
    }
    if args.available_versions {
        let rows = listing::available_extensions(&client, &*scope).await?;
        if args.src.json {
            return print_json(&rows);
        }
        let mut g = grid(&["Name", "Default", "Installed", "Versions"]);
        for e in &rows {
            g.add_row(vec![
                e.name.clone(),
                or_dash(e.default_version.as_ref()),
                or_dash(e.installed_version.as_ref()),
                e.versions.join(", "),
            ]);
        }
        crate::report::stdout::println(&g)?;
        return Ok(());
    }
    let rows = listing::extensions(&client, &*scope).await?;
    if args.src.json {
        return print_json(&rows);
    }
    let mut g = grid(&[
        "OID",
        "Name",
        "Schema",
        "Count",
        "Config",
        "Version",
        "Relocatable",
    ]);
    for e in &rows {
        g.add_row(vec![
            e.oid.to_string(),
            e.name.clone(),
            e.schema.clone(),
            e.config_tables.len().to_string(),
            e.config_tables.join(", "),
            e.version.clone(),
            yes_no(e.relocatable).to_string(),
        ]);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

pub async fn collations(args: SourceArgs) -> Result<()> {
    let client = args.open().await?;
    let mut rows = listing::collations(&client).await?;
    if args.json {
        return print_json(&rows);
    }
    // In the text table, the database's own collation first, as the
    // original lists it (the JSON lists the collations the copy needs).
    let default = client
        .query_one(
            "SELECT datname::text, datcollate::text, datctype::text \
               FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    let database: String = default.try_get(0)?;
    rows.insert(
        0,
        CollationRow {
            oid: 100,
            schema: "pg_catalog".into(),
            name: default.try_get(1)?,
            provider: "d".into(),
            locale: default.try_get(1)?,
            ctype: default.try_get(2)?,
            deterministic: true,
            user_defined: false,
            object_name: format!("database {database}"),
        },
    );
    let mut g = grid(&[
        "OID",
        "Name",
        "Object name",
        "Schema",
        "Provider",
        "Locale",
        "Ctype",
        "Deterministic",
        "User-defined",
    ]);
    for c in &rows {
        let provider = match c.provider.as_str() {
            "c" => "libc",
            "i" => "icu",
            "b" => "builtin",
            "d" => "default",
            other => other,
        };
        g.add_row(vec![
            c.oid.to_string(),
            c.name.clone(),
            c.object_name.clone(),
            c.schema.clone(),
            provider.to_string(),
            c.locale.clone(),
            c.ctype.clone(),
            yes_no(c.deterministic).to_string(),
            yes_no(c.user_defined).to_string(),
        ]);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

/// Everything above in one JSON document, plus the catalog the copy itself
/// reads (columns, indexes, constraints, sequence values). Large objects are
/// counted, not listed: there can be millions.
pub async fn schema(a: super::SchemaArgs) -> Result<()> {
    let split_at = match &a.split_at {
        Some(size) => Some(crate::catalog::parts::parse_size(size).map_err(Failure::args)?),
        None => None,
    };
    let args = a.src;
    let client = args.open().await?;
    let scope = args.scope(&client).await?;
    let mut catalog = read_catalog(&client, false, TableSizes::Exact).await?;
    catalog.tables.retain(|t| scope.table(&t.schema, &t.name));
    for t in &mut catalog.tables {
        let t = std::sync::Arc::make_mut(t);
        t.copy_data = scope.table_data(&t.schema, &t.name);
    }
    catalog
        .sequences
        .retain(|s| scope.sequence(&s.schema, &s.name));
    let head = client
        .query_one(
            "SELECT current_database()::text, current_setting('server_version'), \
                    (SELECT count(*) FROM pg_largeobject_metadata)",
            &[],
        )
        .await?;
    let listed = listing::tables(&client, &*scope, TableSizes::Exact).await?;
    let mut facts = OriginalFacts::read(&client, &catalog).await?;
    if let Some(threshold) = split_at {
        let settings = SplitSettings {
            threshold,
            max_parts: a.max_parts.split_max_parts,
        };
        let skip_ctid = a.ctid.skip_split_by_ctid;
        plan_schema_parts(
            &client,
            &mut catalog,
            &listed,
            &settings,
            skip_ctid,
            &mut facts,
        )
        .await?;
    }
    let skipped: Vec<_> = listed.iter().filter(|t| !t.copied()).collect();
    let mut doc = serde_json::json!({
        "database": head.try_get::<_, String>(0)?,
        "server_version": head.try_get::<_, String>(1)?,
        "encoding": catalog.encoding,
        "tables": catalog.tables,
        "skipped_tables": skipped,
        "sequences": catalog.sequences,
        "large_objects": head.try_get::<_, i64>(2)?,
        "extensions": listing::extensions(&client, &*scope).await?,
        "collations": listing::collations(&client).await?,
        "depends": super::relations::dependency_doc(&client, &listed).await?,
    });
    let source = resolve(Side::Source, args.source.as_deref())?;
    let setup = serde_json::json!({
        "snapshot": args.snapshot,
        "source_pguri": source.safe_display(),
        "target_pguri": null,
        "table-jobs": null,
        "index-jobs": null,
        "split-tables-larger-than": split_at.unwrap_or(0),
    });
    super::schema_json::add_original_keys(&mut doc, &catalog, &facts, setup);
    print_json(&doc)
}

/// `list schema --split-at`: the parts of each table at least that large,
/// as `list table-parts` plans them.
async fn plan_schema_parts(
    client: &tokio_postgres::Client,
    catalog: &mut crate::catalog::Catalog,
    listed: &[listing::TableRow],
    settings: &SplitSettings,
    skip_ctid: bool,
    facts: &mut OriginalFacts,
) -> Result<()> {
    let large: Vec<&listing::TableRow> = listed
        .iter()
        .filter(|t| t.copied() && settings.eligible(t.bytes))
        .collect();
    let mut keys = listing::split_keys(client, &large).await?;
    let major = crate::connections::server_major(client).await?;
    for row in large {
        let shape = super::relations::shape_of(row, keys.remove(&row.oid), major, skip_ctid);
        let parts = plan_parts(&shape, settings);
        let Some(table) = catalog.tables.iter_mut().find(|t| t.oid == row.oid) else {
            continue;
        };
        if parts.len() > 1 {
            let key_min = shape.key.as_ref().and_then(|k| k.min);
            facts.key_mins.insert(table.oid, key_min);
            std::sync::Arc::make_mut(table).parts = parts;
        }
    }
    Ok(())
}
