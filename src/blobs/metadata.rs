//! Large-object metadata made by the clone instead of pg_restore entries:
//! pg_restore spends a round trip or more on each object's BLOB, ACL and
//! COMMENT entry (pg_dump 16 and older write one of each per object), which
//! for 100,000 objects is most of a clone. Here the objects are created many
//! to a statement, and owners, privileges and comments are sent many to a
//! round trip, privileges grouped into one GRANT per grantee for many objects.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::sql::{quote_ident, quote_literal};

/// OIDs created per statement by [`create_metadata`], statements sent per
/// round trip, and objects named per grouped GRANT or REVOKE.
const METADATA_BATCH: usize = 10_000;

/// The objects created empty with their OIDs, many to a statement, then their
/// owners set, many to a round trip. Objects already on the target (a resumed
/// run) are left as they are.
pub async fn create_metadata(
    source: &Client,
    target: &Client,
    oids: &[u32],
    with_owners: bool,
) -> Result<()> {
    for chunk in oids.chunks(METADATA_BATCH) {
        create_missing(target, chunk)
            .await
            .context("creating large objects on the target")?;
    }
    if !with_owners {
        return Ok(());
    }
    let me: String = target
        .query_one("SELECT current_user::text", &[])
        .await?
        .try_get(0)?;
    let rows = source
        .query(
            "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text \
               FROM pg_catalog.pg_largeobject_metadata m \
              WHERE m.oid = ANY($1::pg_catalog.oid[]) ORDER BY m.oid",
            &[&oids],
        )
        .await
        .context("reading the owners of source large objects")?;
    let mut statements = Vec::new();
    for r in rows {
        let oid: u32 = r.try_get(0)?;
        let owner: String = r.try_get(1)?;
        if owner != me {
            statements.push(format!(
                "ALTER LARGE OBJECT {oid} OWNER TO {};",
                quote_ident(&owner)
            ));
        }
    }
    run_in_batches(target, &statements)
        .await
        .context("setting the owners of large objects on the target")
}

/// Create those of `oids` the target does not have, empty, with their OIDs.
/// The ones it has are looked up first: an anti-join in the creating
/// statement reads, on an empty target, the catalog the statement itself
/// fills once per object (a nested loop over a sequential scan), which made
/// 10,000 objects take two seconds instead of a tenth of one.
pub async fn create_missing(target: &Client, oids: &[u32]) -> Result<()> {
    let existing: std::collections::HashSet<u32> = target
        .query(
            "SELECT m.oid FROM pg_catalog.pg_largeobject_metadata m \
              WHERE m.oid = ANY($1::pg_catalog.oid[])",
            &[&oids],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let missing: Vec<u32> = (oids.iter().copied())
        .filter(|o| !existing.contains(o))
        .collect();
    if !missing.is_empty() {
        target
            .execute(
                "SELECT pg_catalog.lo_create(u.o) FROM unnest($1::pg_catalog.oid[]) AS u(o)",
                &[&missing],
            )
            .await?;
    }
    Ok(())
}

/// Comments and privileges of large objects, made after [`create_metadata`]
/// (the pre-data restore leaves their entries out). Privileges are replaced
/// whole: everything revoked from PUBLIC and the owner, then the source's
/// ACL granted item by item, in its order, each grant by its grantor.
pub async fn copy_comments_and_privileges(
    source: &Client,
    target: &Client,
    oids: &[u32],
    with_privileges: bool,
    with_comments: bool,
    with_owners: bool,
) -> Result<()> {
    let mut statements = Vec::new();
    if with_comments {
        statements.extend(comments(source, oids).await?);
    }
    if with_privileges {
        statements.extend(privileges(source, oids, with_owners).await?);
    }
    run_in_batches(target, &statements)
        .await
        .context("setting the comments and privileges of large objects on the target")
}

/// Security labels of large objects, made after [`create_metadata`] like
/// their comments. pg_dump 16 and older write a SECURITY LABEL entry per
/// object in pre-data (left out of the restore, as the ACL and COMMENT
/// ones), 17 and later one in the data section, which pg_restore is not
/// asked for: either way the labels are the clone's to make, or they would
/// be lost without a word. A target without the label's provider loaded
/// refuses the statement, and the clone fails naming the provider.
pub async fn copy_security_labels(source: &Client, target: &Client, oids: &[u32]) -> Result<()> {
    let rows = source
        .query(
            "SELECT l.objoid, l.provider, l.label FROM pg_catalog.pg_seclabel l \
              WHERE l.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass \
                AND l.objsubid = 0 AND l.objoid = ANY($1::pg_catalog.oid[]) \
              ORDER BY l.objoid, l.provider",
            &[&oids],
        )
        .await
        .context("reading the security labels of source large objects")?;
    let mut statements = Vec::new();
    let mut providers = std::collections::BTreeSet::new();
    for r in &rows {
        let oid: u32 = r.try_get(0)?;
        let provider: String = r.try_get(1)?;
        let label: String = r.try_get(2)?;
        statements.push(security_label_statement(oid, &provider, &label));
        providers.insert(provider);
    }
    if statements.is_empty() {
        return Ok(());
    }
    let providers: Vec<String> = providers.into_iter().collect();
    tracing::info!(
        "copying {} security labels of large objects (label providers: {})",
        statements.len(),
        providers.join(", ")
    );
    run_in_batches(target, &statements).await.with_context(|| {
        format!(
            "setting the security labels of large objects on the target: it needs the \
             source's label providers ({}) loaded",
            providers.join(", ")
        )
    })
}

fn security_label_statement(oid: u32, provider: &str, label: &str) -> String {
    format!(
        "SECURITY LABEL FOR {} ON LARGE OBJECT {oid} IS {};",
        quote_ident(provider),
        quote_literal(label)
    )
}

async fn comments(source: &Client, oids: &[u32]) -> Result<Vec<String>> {
    let rows = source
        .query(
            "SELECT d.objoid, d.description FROM pg_catalog.pg_description d \
              WHERE d.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass \
                AND d.objoid = ANY($1::pg_catalog.oid[]) ORDER BY d.objoid",
            &[&oids],
        )
        .await
        .context("reading the comments of source large objects")?;
    rows.iter()
        .map(|r| {
            let oid: u32 = r.try_get(0)?;
            let comment: String = r.try_get(1)?;
            Ok(format!(
                "COMMENT ON LARGE OBJECT {oid} IS {};",
                quote_literal(&comment)
            ))
        })
        .collect()
}

/// One item of an ACL (`grantee=privileges/grantor`), as GRANTs make it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Grant {
    /// Its place in the object's ACL: items are granted in that order, so
    /// that the target's ACL reads as the source's.
    position: usize,
    /// `None` when the owner granted it (the grant is then ours to make).
    grantor: Option<String>,
    /// `PUBLIC` or a quoted role name.
    grantee: String,
    plain: Vec<String>,
    with_grant_option: Vec<String>,
}

/// The REVOKE and GRANT statements that make the target's ACLs the
/// source's. An object with a NULL ACL (the default) gets none; one with an
/// empty ACL (everything revoked) gets only the REVOKE.
async fn privileges(source: &Client, oids: &[u32], with_owners: bool) -> Result<Vec<String>> {
    let rows = source
        .query(
            "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text, a.n, \
                    pg_catalog.pg_get_userbyid(a.grantor)::text, a.grantee = 0, \
                    pg_catalog.pg_get_userbyid(a.grantee)::text, \
                    a.privilege_type, a.is_grantable \
               FROM pg_catalog.pg_largeobject_metadata m \
               LEFT JOIN LATERAL pg_catalog.aclexplode(m.lomacl) \
                    WITH ORDINALITY AS a(grantor, grantee, privilege_type, is_grantable, n) \
                    ON true \
              WHERE m.lomacl IS NOT NULL AND m.oid = ANY($1::pg_catalog.oid[]) \
              ORDER BY m.oid, a.n",
            &[&oids],
        )
        .await
        .context("reading the privileges of source large objects")?;
    // Under --no-owner the target's objects are ours, not the source
    // owner's (who may not exist there).
    let owner_name = |owner: &str| match with_owners {
        true => quote_ident(owner),
        false => "CURRENT_USER".to_string(),
    };
    let mut revokes: Vec<(String, Vec<u32>)> = Vec::new();
    let mut grants: Vec<(Grant, Vec<u32>)> = Vec::new();
    let mut grant_index: HashMap<Grant, usize> = HashMap::new();
    let mut flush = |oid: u32, items: Vec<Grant>| {
        for g in items {
            let i = *grant_index.entry(g.clone()).or_insert_with(|| {
                grants.push((g, Vec::new()));
                grants.len() - 1
            });
            if let Some((_, objects)) = grants.get_mut(i) {
                objects.push(oid);
            }
        }
    };
    let mut current: Option<(u32, Vec<Grant>)> = None;
    for r in &rows {
        let oid: u32 = r.try_get(0)?;
        let owner: String = r.try_get(1)?;
        if current.as_ref().map(|(o, _)| *o) != Some(oid) {
            if let Some((o, items)) = current.take() {
                flush(o, items);
            }
            let from = format!("PUBLIC, {}", owner_name(&owner));
            match revokes.iter_mut().find(|(f, _)| *f == from) {
                Some((_, objects)) => objects.push(oid),
                None => revokes.push((from, vec![oid])),
            }
            current = Some((oid, Vec::new()));
        }
        // An empty ACL explodes to no item: the one row has NULLs.
        let Some(grantor) = r.try_get::<_, Option<String>>(3)? else {
            continue;
        };
        let public: bool = r.try_get(4)?;
        let grantee: String = r.try_get(5)?;
        let privilege: String = r.try_get(6)?;
        let grantable: bool = r.try_get(7)?;
        // aclexplode names privileges in SQL's words.
        let privilege = match privilege.as_str() {
            "SELECT" | "UPDATE" => privilege,
            other => anyhow::bail!("large object {oid}: unknown privilege {other:?}"),
        };
        let grantee = match (public, grantee == owner) {
            (true, _) => "PUBLIC".to_string(),
            (false, true) => owner_name(&owner),
            (false, false) => quote_ident(&grantee),
        };
        let grantor = (with_owners && grantor != owner).then(|| quote_ident(&grantor));
        let Some((_, items)) = current.as_mut() else {
            continue;
        };
        match items.last_mut() {
            Some(g) if g.grantee == grantee && g.grantor == grantor => {
                push_privilege(g, privilege, grantable)
            }
            _ => {
                let mut g = Grant {
                    position: items.len(),
                    grantor,
                    grantee,
                    plain: Vec::new(),
                    with_grant_option: Vec::new(),
                };
                push_privilege(&mut g, privilege, grantable);
                items.push(g);
            }
        }
    }
    if let Some((o, items)) = current.take() {
        flush(o, items);
    }
    let mut statements = Vec::new();
    for (from, objects) in &revokes {
        for chunk in objects.chunks(METADATA_BATCH) {
            statements.push(format!(
                "REVOKE ALL ON LARGE OBJECT {} FROM {from};",
                oid_list(chunk)
            ));
        }
    }
    // Each object's items in their order: all first items, then all second
    // ones, and so on.
    grants.sort_by_key(|(g, _)| g.position);
    for (g, objects) in &grants {
        for chunk in objects.chunks(METADATA_BATCH) {
            statements.push(grant_statement(g, &oid_list(chunk)));
        }
    }
    Ok(statements)
}

fn push_privilege(g: &mut Grant, privilege: String, grantable: bool) {
    match grantable {
        true => g.with_grant_option.push(privilege),
        false => g.plain.push(privilege),
    }
}

fn oid_list(oids: &[u32]) -> String {
    let list: Vec<String> = oids.iter().map(u32::to_string).collect();
    list.join(", ")
}

/// The GRANTs of one ACL item on `objects`, made as its grantor when that is
/// not the owner, so that the target records the same grantor.
fn grant_statement(g: &Grant, objects: &str) -> String {
    let mut sql = String::new();
    if let Some(grantor) = &g.grantor {
        sql.push_str(&format!("SET ROLE {grantor};"));
    }
    for (privileges, option) in [(&g.plain, ""), (&g.with_grant_option, " WITH GRANT OPTION")] {
        if !privileges.is_empty() {
            sql.push_str(&format!(
                "GRANT {} ON LARGE OBJECT {objects} TO {}{option};",
                privileges.join(", "),
                g.grantee
            ));
        }
    }
    if g.grantor.is_some() {
        sql.push_str("RESET ROLE;");
    }
    sql
}

/// `statements` in transactions of [`METADATA_BATCH`], one round trip each.
async fn run_in_batches(target: &Client, statements: &[String]) -> Result<()> {
    for chunk in statements.chunks(METADATA_BATCH) {
        target
            .batch_execute(&format!("BEGIN;{}COMMIT;", chunk.concat()))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_security_label_is_set_for_its_provider() {
        assert_eq!(
            security_label_statement(600001, "selinux", "system_u:object_r:it's:s0"),
            "SECURITY LABEL FOR selinux ON LARGE OBJECT 600001 IS 'system_u:object_r:it''s:s0';"
        );
    }

    #[test]
    fn a_grant_by_another_role_is_made_as_that_role() {
        let g = Grant {
            position: 1,
            grantor: Some("\"app\"".into()),
            grantee: "reader".into(),
            plain: vec!["SELECT".into()],
            with_grant_option: vec!["UPDATE".into()],
        };
        assert_eq!(
            grant_statement(&g, "1, 2"),
            "SET ROLE \"app\";GRANT SELECT ON LARGE OBJECT 1, 2 TO reader;\
             GRANT UPDATE ON LARGE OBJECT 1, 2 TO reader WITH GRANT OPTION;RESET ROLE;"
        );
    }
}
