//! `list tables`, `table-parts`, `sequences`, `indexes` and `depends`.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::render::{grid, or_dash, pg_size_pretty, print_json, yes_no};
use super::{DependsArgs, IndexesArgs, SequencesArgs, TablePartsArgs, TablesArgs};
use crate::catalog::listing::{self, Dependent, Everything, IndexRow, TableRow};
use crate::catalog::part_bounds::{part_json, PartBounds};
use crate::catalog::parts::{
    ctid_split_allowed, plan_parts, Part, PartRange, SplitKey, SplitSettings, TableShape,
};
use crate::catalog::TableSizes;
use crate::error::Failure;
use crate::sql::quote_qualified;

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "r" => "table",
        "p" => "partitioned table",
        "f" => "foreign table",
        "m" => "materialized view",
        _ => "other",
    }
}

pub async fn tables(args: TablesArgs) -> Result<()> {
    let client = args.src.open().await?;
    let scope = args.src.scope(&client).await?;
    let rows: Vec<TableRow> = listing::tables(&client, &*scope, args.sizes.table_sizes())
        .await?
        .into_iter()
        .filter(|t| t.copied() != args.list_skipped)
        .filter(|t| !(args.without_pkey && t.has_pkey))
        .collect();
    if args.src.json {
        return print_json(&rows);
    }
    // The original's columns first, ours after them.
    let mut header = vec![
        "OID",
        "Schema Name",
        "Table Name",
        "Est. Row Count",
        "On-disk size",
    ];
    header.extend(match args.list_skipped {
        true => ["Kind", "Skipped because"],
        false => ["Primary key", "Kind"],
    });
    let mut g = grid(&header);
    for t in &rows {
        let mut row = vec![
            t.oid.to_string(),
            t.schema.clone(),
            t.name.clone(),
            t.estimated_rows.unwrap_or(-1).to_string(),
            pg_size_pretty(t.bytes),
        ];
        if args.list_skipped {
            row.push(kind_name(&t.relkind).to_string());
            row.push(t.skipped.clone().unwrap_or_default());
        } else {
            row.push(yes_no(t.has_pkey).to_string());
            row.push(kind_name(&t.relkind).to_string());
        }
        g.add_row(row);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

/// The split plan of one table, as `list table-parts --json` prints it.
#[derive(Debug, Serialize)]
struct TablePlan {
    schema: String,
    name: String,
    bytes: i64,
    /// `key`, `ctid`, or `none` when the table stays whole.
    method: &'static str,
    split_key: Option<SplitKey>,
    /// Each part with the original's keys (see [`part_json`]).
    parts: Vec<serde_json::Value>,
    #[serde(skip)]
    planned: Vec<Part>,
}

/// What the split planner needs to know about a listed table, ctid ranges
/// allowed as the clone allows them.
pub(super) fn shape_of(
    t: &TableRow,
    key: Option<SplitKey>,
    source_major: u32,
    skip_ctid: bool,
) -> TableShape {
    TableShape {
        bytes: t.bytes,
        heap_pages: t.heap_pages,
        key,
        ctid_split: ctid_split_allowed(
            source_major,
            t.access_method.as_deref() == Some("heap"),
            skip_ctid,
        ),
    }
}

pub async fn table_parts(args: TablePartsArgs) -> Result<()> {
    let client = args.src.open().await?;
    let scope = args.src.scope(&client).await?;
    let settings = SplitSettings {
        threshold: args.split_tables_larger_than,
        max_parts: args.max_parts.split_max_parts,
    };
    let listed = listing::tables(&client, &*scope, args.sizes.table_sizes()).await?;
    let large: Vec<&TableRow> = listed
        .iter()
        .filter(|t| {
            t.copied() && settings.eligible(t.bytes) && args.names.keeps(&t.schema, &t.name)
        })
        .collect();
    let mut keys = listing::split_keys(&client, &large).await?;
    let major = crate::connections::server_major(&client).await?;
    let plans: Vec<TablePlan> = large
        .iter()
        .map(|t| {
            let shape = shape_of(t, keys.remove(&t.oid), major, args.ctid.skip_split_by_ctid);
            let parts = plan_parts(&shape, &settings);
            let method = match parts.first().map(|p| &p.range) {
                Some(PartRange::Key { .. } | PartRange::KeyIsNull { .. }) => "key",
                Some(PartRange::Pages { .. }) => "ctid",
                Some(PartRange::Whole) | None => "none",
            };
            let key_min = shape.key.as_ref().and_then(|k| k.min);
            TablePlan {
                schema: t.schema.clone(),
                name: t.name.clone(),
                bytes: t.bytes,
                method,
                parts: parts.iter().map(|p| part_json(p, key_min)).collect(),
                split_key: shape.key,
                planned: parts,
            }
        })
        .collect();
    if args.src.json {
        return print_json(&plans);
    }
    // The original's columns first (inclusive bounds and their span, -1
    // where open), ours after them.
    let mut g = grid(&["Part", "Min", "Max", "Count", "Table", "Size", "Rows read"]);
    for plan in &plans {
        let key_min = plan.split_key.as_ref().and_then(|k| k.min);
        for p in &plan.planned {
            let (min, max, count) = PartBounds::of(p, key_min).text(p);
            g.add_row(vec![
                format!("{}/{}", p.number, p.count),
                min,
                max,
                count,
                quote_qualified(&plan.schema, &plan.name),
                pg_size_pretty(plan.bytes),
                p.predicate().unwrap_or_else(|| "whole table".into()),
            ]);
        }
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

/// With `--list-skipped`: the rows of `all` (the whole source) missing from
/// `kept` (what `--filters` keeps), by oid.
fn left_out<T>(all: Vec<T>, kept: &[T], oid: impl Fn(&T) -> u32) -> Vec<T> {
    let kept: std::collections::HashSet<u32> = kept.iter().map(&oid).collect();
    all.into_iter()
        .filter(|r| !kept.contains(&oid(r)))
        .collect()
}

pub async fn sequences(args: SequencesArgs) -> Result<()> {
    let (skipped, args) = (args.skipped.list_skipped, args.src);
    let client = args.open().await?;
    let mut rows = listing::sequences(&client, &*args.scope(&client).await?).await?;
    if skipped {
        let all = listing::sequences(&client, &Everything).await?;
        rows = left_out(all, &rows, |s| s.oid);
    }
    if args.json {
        return print_json(&rows);
    }
    // The original's columns (oids, 0 for none), then ours.
    let mut g = grid(&[
        "OID",
        "Schema Name",
        "Sequence Name",
        "Owned By",
        "attrelid",
        "attroid",
        "Owned by column",
        "Type",
        "Last value",
    ]);
    for s in &rows {
        g.add_row(vec![
            s.oid.to_string(),
            s.schema.clone(),
            s.name.clone(),
            s.ownedby.to_string(),
            s.attrelid.to_string(),
            s.attroid.to_string(),
            or_dash(s.owned_by.as_ref()),
            s.data_type.clone(),
            or_dash(s.last_value),
        ]);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

pub async fn indexes(args: IndexesArgs) -> Result<()> {
    let client = args.src.open().await?;
    let scope = args.src.scope(&client).await?;
    let mut rows = listing::indexes(&client, &*scope).await?;
    if args.skipped.list_skipped {
        let all = listing::indexes(&client, &Everything).await?;
        rows = left_out(all, &rows, |i| i.oid);
    }
    if let Some(wanted) = &args.table {
        let tables = listing::tables(&client, &*scope, TableSizes::Exact).await?;
        if !tables
            .iter()
            .any(|t| names_table(wanted, &t.schema, &t.name))
        {
            return Err(Failure::args(format!("no table {wanted} on the source")).into());
        }
        rows.retain(|i| names_table(wanted, &i.table_schema, &i.table_name));
    }
    rows.retain(|i| args.names.keeps(&i.table_schema, &i.table_name));
    if args.src.json {
        return print_json(&rows);
    }
    // The original's columns, then ours; DDL stays last, as long as it is.
    let mut g = grid(&[
        "OID",
        "Schema",
        "Index Name",
        "Constraint Name",
        "Constraint",
        "Table",
        "Kind",
        "Size",
        "DDL",
    ]);
    for i in &rows {
        g.add_row(vec![
            i.oid.to_string(),
            i.schema.clone(),
            i.name.clone(),
            i.constraint.clone().unwrap_or_default(),
            i.constraint_definition.clone().unwrap_or_default(),
            quote_qualified(&i.table_schema, &i.table_name),
            index_kind(i).to_string(),
            pg_size_pretty(i.bytes),
            i.definition.clone(),
        ]);
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}

fn index_kind(i: &IndexRow) -> &'static str {
    match (i.primary, i.unique, &i.constraint) {
        (true, _, _) => "primary key",
        (_, true, Some(_)) => "unique constraint",
        (_, true, None) => "unique",
        (_, false, Some(_)) => "exclusion constraint",
        _ => "",
    }
}

/// `--table` matches `schema.name` as written or quoted, or a bare name in
/// any schema.
fn names_table(wanted: &str, schema: &str, name: &str) -> bool {
    wanted == format!("{schema}.{name}")
        || wanted == quote_qualified(schema, name)
        || wanted == name
}

/// One table and what depends on it.
#[derive(Debug, Serialize)]
pub struct TableDependents {
    oid: u32,
    schema: String,
    name: String,
    dependents: Vec<Dependent>,
}

/// Dependents of every listed table (tables without any included), in the
/// listing's order.
pub async fn dependency_doc(client: &Client, tables: &[TableRow]) -> Result<Vec<TableDependents>> {
    let mut deps = listing::dependents(client).await?;
    Ok(tables
        .iter()
        .map(|t| TableDependents {
            oid: t.oid,
            schema: t.schema.clone(),
            name: t.name.clone(),
            dependents: deps.remove(&t.oid).unwrap_or_default(),
        })
        .collect())
}

pub async fn depends(args: DependsArgs) -> Result<()> {
    let (names, skipped) = (args.names, args.skipped.list_skipped);
    let args = args.src;
    let client = args.open().await?;
    let scope = args.scope(&client).await?;
    let mut tables = listing::tables(&client, &*scope, TableSizes::Exact).await?;
    // Tables the filters leave out are not part of the run, nor their
    // dependents: --list-skipped lists those instead.
    tables
        .retain(|t| scope.table(&t.schema, &t.name) != skipped && names.keeps(&t.schema, &t.name));
    let doc = dependency_doc(&client, &tables).await?;
    if args.json {
        return print_json(&doc);
    }
    let mut g = grid(&["Table", "Dependent kind", "Dependent", "Detail"]);
    for t in &doc {
        for d in &t.dependents {
            g.add_row(vec![
                quote_qualified(&t.schema, &t.name),
                d.kind.clone(),
                quote_qualified(&d.schema, &d.name),
                d.detail.clone(),
            ]);
        }
    }
    crate::report::stdout::println(&g)?;
    Ok(())
}
