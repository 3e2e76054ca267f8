//! `compare schema`: the catalog facts of both sides, diffed object by object.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use crate::connections::{Endpoints, Side};
use crate::filters::Filters;
use crate::snapshot::reader_on;

use super::schema_facts::FACT_QUERIES;
use super::scope::ExcludedNames;

/// What to leave out of the comparison: owners and privileges for clones
/// made with `--no-owner` or `--no-acl`, where they legitimately differ, and
/// the objects a clone made with `--filters` left out.
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    pub no_owner: bool,
    pub no_acl: bool,
    pub filters: Filters,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    MissingOnTarget,
    ExtraOnTarget,
    Different {
        attribute: String,
        source: Option<String>,
        target: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaDifference {
    pub kind: String,
    pub object: String,
    #[serde(flatten)]
    pub problem: Problem,
}

/// Objects of one kind on each side, and how many differ.
#[derive(Debug, Clone, Serialize)]
pub struct KindCount {
    pub kind: String,
    pub source: usize,
    pub target: usize,
    pub differences: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaReport {
    pub source: String,
    pub target: String,
    pub kinds: Vec<KindCount>,
    pub differences: Vec<SchemaDifference>,
}

impl SchemaReport {
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
    }
    /// Objects of the source and of the target, each counted once.
    pub fn compared(&self) -> usize {
        self.kinds.iter().map(|k| k.source.max(k.target)).sum()
    }
    /// Objects with at least one difference.
    pub fn differing_objects(&self) -> usize {
        self.differences
            .iter()
            .map(|d| (&d.kind, &d.object))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// One object's facts: attribute → value, and the table it belongs to.
#[derive(Debug, Default)]
struct Object {
    parent: Option<String>,
    attributes: BTreeMap<String, String>,
}

type Facts = BTreeMap<(String, String), Object>;

/// Compare the schemas of source and target. The source is read under
/// `snapshot` when given.
pub async fn compare_schema(
    endpoints: &Endpoints,
    snapshot: Option<&str>,
    options: &SchemaOptions,
) -> Result<SchemaReport> {
    let ((mut source, excluded), mut target) = tokio::try_join!(
        async {
            let c = reader_on(Side::Source, &endpoints.source, snapshot).await?;
            let excluded = ExcludedNames::read(&options.filters, &c).await?;
            let facts = read_facts(&c, options).await.context("on the source")?;
            Ok::<_, anyhow::Error>((facts, excluded))
        },
        async {
            let c = reader_on(Side::Target, &endpoints.target, None).await?;
            read_facts(&c, options).await.context("on the target")
        },
    )?;
    if let Some(excluded) = &excluded {
        // Left out on both sides: the target may or may not have them.
        for facts in [&mut source, &mut target] {
            facts.retain(|(kind, object), o| !excluded.skips(kind, object, o.parent.as_deref()));
            for ((kind, object), o) in facts.iter_mut() {
                o.attributes
                    .retain(|a, v| !excluded.skips_attribute(kind, object, a, v));
            }
        }
    }
    Ok(SchemaReport {
        source: endpoints.source.safe_display(),
        target: endpoints.target.safe_display(),
        kinds: count_kinds(&source, &target),
        differences: diff(&source, &target),
    })
}

async fn read_facts(client: &Client, options: &SchemaOptions) -> Result<Facts> {
    let mut facts = Facts::new();
    for (name, sql) in FACT_QUERIES {
        let rows = client
            .query(*sql, &[])
            .await
            .with_context(|| format!("reading {name}"))?;
        for r in rows {
            let (kind, object): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            let attribute: String = r.try_get(2)?;
            let value: Option<String> = r.try_get(3)?;
            let skip = (options.no_owner && attribute == "owner")
                || (options.no_acl && attribute == "acl");
            let entry = facts.entry((kind, object)).or_default();
            entry.parent = r.try_get(4)?;
            let Some(value) = value.filter(|_| !skip) else {
                continue;
            };
            // Two rows for one attribute (names the catalog allows twice):
            // keep both, in a fixed order, so either side lists them alike.
            entry
                .attributes
                .entry(attribute)
                .and_modify(|v| {
                    let mut all: Vec<&str> = v.split(" | ").chain([value.as_str()]).collect();
                    all.sort_unstable();
                    *v = all.join(" | ");
                })
                .or_insert_with(|| value.clone());
        }
    }
    Ok(facts)
}

fn count_kinds(source: &Facts, target: &Facts) -> Vec<KindCount> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (kind, _) in source.keys() {
        counts.entry(kind).or_default().0 += 1;
    }
    for (kind, _) in target.keys() {
        counts.entry(kind).or_default().1 += 1;
    }
    let differing = diff(source, target);
    counts
        .into_iter()
        .map(|(kind, (s, t))| KindCount {
            kind: kind.to_string(),
            source: s,
            target: t,
            differences: differing
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| &d.object)
                .collect::<BTreeSet<_>>()
                .len(),
        })
        .collect()
}

/// Every difference, source order. An object whose table is itself missing
/// (or extra) is not listed again: the table's line says it all.
fn diff(source: &Facts, target: &Facts) -> Vec<SchemaDifference> {
    let only_in = |a: &Facts, b: &Facts| -> BTreeSet<String> {
        a.iter()
            .filter(|(k, o)| o.parent.is_none() && !b.contains_key(*k))
            .map(|((_, name), _)| name.clone())
            .collect()
    };
    let missing = only_in(source, target);
    let extra = only_in(target, source);
    let covered =
        |o: &Object, set: &BTreeSet<String>| o.parent.as_ref().is_some_and(|p| set.contains(p));

    let mut out = Vec::new();
    for ((kind, object), s) in source {
        let Some(t) = target.get(&(kind.clone(), object.clone())) else {
            if !covered(s, &missing) {
                out.push(difference(kind, object, Problem::MissingOnTarget));
            }
            continue;
        };
        let names: BTreeSet<&String> = s.attributes.keys().chain(t.attributes.keys()).collect();
        for name in names {
            let (sv, tv) = (s.attributes.get(name), t.attributes.get(name));
            if sv != tv {
                let problem = Problem::Different {
                    attribute: name.clone(),
                    source: sv.cloned(),
                    target: tv.cloned(),
                };
                out.push(difference(kind, object, problem));
            }
        }
    }
    for ((kind, object), t) in target {
        if !source.contains_key(&(kind.clone(), object.clone())) && !covered(t, &extra) {
            out.push(difference(kind, object, Problem::ExtraOnTarget));
        }
    }
    out
}

fn difference(kind: &str, object: &str, problem: Problem) -> SchemaDifference {
    SchemaDifference {
        kind: kind.to_string(),
        object: object.to_string(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(kind, object, parent, attributes)`.
    type Entry<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

    fn facts(entries: &[Entry]) -> Facts {
        entries
            .iter()
            .map(|(kind, object, parent, attrs)| {
                let o = Object {
                    parent: parent.map(str::to_string),
                    attributes: attrs
                        .iter()
                        .map(|(a, v)| (a.to_string(), v.to_string()))
                        .collect(),
                };
                ((kind.to_string(), object.to_string()), o)
            })
            .collect()
    }

    #[test]
    fn missing_table_hides_its_columns() {
        let s = facts(&[
            ("table", "public.t", None, &[("owner", "u")]),
            (
                "column",
                "public.t.a",
                Some("public.t"),
                &[("type", "integer")],
            ),
        ]);
        let t = facts(&[]);
        let d = diff(&s, &t);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].object, "public.t");
        assert_eq!(d[0].problem, Problem::MissingOnTarget);
    }

    #[test]
    fn attribute_changes_and_extras_are_listed() {
        let s = facts(&[(
            "column",
            "public.t.a",
            Some("public.t"),
            &[("default", "1")],
        )]);
        let t = facts(&[
            ("column", "public.t.a", Some("public.t"), &[]),
            ("index", "public.i", Some("public.t"), &[]),
        ]);
        let d = diff(&s, &t);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0].problem,
            Problem::Different {
                attribute: "default".into(),
                source: Some("1".into()),
                target: None
            }
        );
        assert_eq!(d[1].problem, Problem::ExtraOnTarget);
    }
}
