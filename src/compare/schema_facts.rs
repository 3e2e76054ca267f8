//! Catalog queries that describe a database as facts: rows of
//! `(kind, object, attribute, value, parent)`, all text.
//!
//! Objects are named by schema-qualified, quoted names — never OIDs, which
//! differ between servers. Values are normalised so that equal schemas give
//! equal facts: ACLs are sorted and a NULL ACL is replaced by the default it
//! stands for (`acldefault`), because a restore may store either form.
//! `parent` names the table an index, column, constraint, trigger or policy
//! belongs to, so that a missing table is reported once, not once per column.
//! System schemas and extension members are left out: extensions are
//! compared by name and version instead.

/// Schemas that belong to the server.
macro_rules! user_schema {
    ($n:literal) => {
        concat!(
            $n,
            ".nspname NOT IN ('pg_catalog', 'information_schema') AND ",
            $n,
            ".nspname !~ '^pg_toast' AND ",
            $n,
            ".nspname !~ '^pg_temp'"
        )
    };
}

/// Objects created by CREATE EXTENSION.
macro_rules! not_extension_member {
    ($catalog:literal, $oid:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '",
            $catalog,
            "'::regclass AND e.objid = ",
            $oid,
            " AND e.deptype = 'e')"
        )
    };
}

/// A sorted, comma-separated ACL, with NULL meaning the type's default.
macro_rules! acl {
    ($acl:literal, $type:literal, $owner:literal) => {
        concat!(
            "(SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(",
            $acl,
            ", acldefault(",
            $type,
            ", ",
            $owner,
            "))) a)"
        )
    };
}

const SCHEMAS: &str = concat!(
    "SELECT 'schema', format('%I', n.nspname), v.attr, v.value, NULL \
       FROM pg_namespace n, LATERAL (VALUES \
            ('owner', pg_get_userbyid(n.nspowner)::text), \
            ('acl', ",
    acl!("n.nspacl", "'n'", "n.nspowner"),
    ")) v(attr, value) WHERE ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_namespace", "n.oid")
);

const RELATIONS: &str = concat!(
    "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' \
            WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' \
            WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'composite type' END, \
            format('%I.%I', n.nspname, c.relname), v.attr, v.value, NULL \
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       LEFT JOIN pg_am am ON am.oid = c.relam, LATERAL (VALUES \
            ('owner', pg_get_userbyid(c.relowner)::text), \
            ('acl', CASE WHEN c.relkind <> 'c' THEN ",
    acl!(
        "c.relacl",
        "(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\"",
        "c.relowner"
    ),
    " END), \
            ('options', coalesce((SELECT string_agg(o, ',' ORDER BY o) \
                                    FROM unnest(c.reloptions) o), '')), \
            ('persistence', CASE WHEN c.relkind IN ('r', 'p', 'S', 'm') \
                                 THEN c.relpersistence::text END), \
            ('access method', CASE WHEN c.relkind IN ('r', 'm') THEN am.amname::text END), \
            ('row security', CASE WHEN c.relkind IN ('r', 'p') THEN c.relrowsecurity::text END), \
            ('force row security', CASE WHEN c.relkind IN ('r', 'p') \
                                        THEN c.relforcerowsecurity::text END), \
            ('replica identity', CASE WHEN c.relkind IN ('r', 'p') THEN c.relreplident::text END), \
            ('partition key', CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END), \
            ('partition bound', pg_get_expr(c.relpartbound, c.oid)), \
            ('inherits', (SELECT string_agg(format('%I.%I', pn.nspname, p.relname), ',' \
                                            ORDER BY i.inhseqno) \
                            FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
                            JOIN pg_namespace pn ON pn.oid = p.relnamespace \
                           WHERE i.inhrelid = c.oid)), \
            ('definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END), \
            ('populated', CASE WHEN c.relkind = 'm' THEN c.relispopulated::text END) \
       ) v(attr, value) \
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_class", "c.oid"),
    " AND (c.relkind <> 'c' OR ",
    not_extension_member!("pg_type", "c.reltype"),
    ")"
);

const SEQUENCES: &str = concat!(
    "SELECT 'sequence', format('%I.%I', n.nspname, c.relname), v.attr, v.value, NULL \
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
       JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL (VALUES \
            ('type', format_type(s.seqtypid, NULL)), \
            ('start', s.seqstart::text), ('increment', s.seqincrement::text), \
            ('minimum', s.seqmin::text), ('maximum', s.seqmax::text), \
            ('cache', s.seqcache::text), ('cycle', s.seqcycle::text), \
            ('owned by', (SELECT format('%I.%I.%I', tn.nspname, t.relname, a.attname) \
                            FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid \
                            JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                             AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 \
                             AND d.deptype IN ('a', 'i') \
                           ORDER BY d.deptype DESC, d.refobjid, d.refobjsubid LIMIT 1)) \
       ) v(attr, value) WHERE ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_class", "c.oid")
);

/// Columns in the order a `SELECT *` shows them: the position among live
/// columns, not attnum, which counts dropped columns.
const COLUMNS: &str = concat!(
    "SELECT 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname), v.attr, v.value, \
            format('%I.%I', n.nspname, c.relname) \
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
       JOIN pg_namespace n ON n.oid = c.relnamespace \
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
       LEFT JOIN pg_collation co ON co.oid = a.attcollation \
       LEFT JOIN pg_namespace con ON con.oid = co.collnamespace, LATERAL (VALUES \
            ('position', (SELECT count(*) FROM pg_attribute p WHERE p.attrelid = a.attrelid \
                            AND p.attnum > 0 AND NOT p.attisdropped \
                            AND p.attnum <= a.attnum)::text), \
            ('type', format_type(a.atttypid, a.atttypmod)), \
            ('not null', a.attnotnull::text), \
            ('default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END), \
            ('generated', CASE WHEN a.attgenerated <> '' \
                               THEN a.attgenerated::text || ': ' || pg_get_expr(ad.adbin, ad.adrelid) END), \
            ('identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END), \
            ('collation', CASE WHEN a.attcollation <> 0 \
                               THEN format('%I.%I', con.nspname, co.collname) END), \
            ('acl', (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x)) \
       ) v(attr, value) \
      WHERE a.attnum > 0 AND NOT a.attisdropped \
        AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_class", "c.oid"),
    " AND (c.relkind <> 'c' OR ",
    not_extension_member!("pg_type", "c.reltype"),
    ")"
);

const INDEXES: &str = concat!(
    "SELECT 'index', format('%I.%I', n.nspname, ic.relname), v.attr, v.value, \
            format('%I.%I', tn.nspname, t.relname) \
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
       JOIN pg_namespace n ON n.oid = ic.relnamespace \
       JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace, \
       LATERAL (VALUES \
            ('table', format('%I.%I', tn.nspname, t.relname)), \
            ('definition', pg_get_indexdef(i.indexrelid)), \
            ('valid', i.indisvalid::text), \
            ('clustered', i.indisclustered::text), \
            ('replica identity', i.indisreplident::text) \
       ) v(attr, value) WHERE ",
    user_schema!("tn"),
    " AND ",
    not_extension_member!("pg_class", "t.oid")
);

/// All constraints but NOT NULL ones (PostgreSQL 18 stores those in
/// pg_constraint too; nullability is a column fact). A foreign key that
/// references a partitioned table has one extra row per referenced
/// partition, with the same name on the same table: only the top one is kept.
const CONSTRAINTS: &str = concat!(
    "SELECT CASE WHEN c.contypid <> 0 THEN 'domain constraint' ELSE 'constraint' END, \
            CASE WHEN c.contypid <> 0 THEN format('%I.%I.%I', n.nspname, ty.typname, c.conname) \
                 ELSE format('%I.%I.%I', n.nspname, t.relname, c.conname) END, \
            v.attr, v.value, \
            CASE WHEN c.contypid = 0 THEN format('%I.%I', n.nspname, t.relname) END \
       FROM pg_constraint c \
       LEFT JOIN pg_class t ON t.oid = c.conrelid \
       LEFT JOIN pg_type ty ON ty.oid = c.contypid \
       JOIN pg_namespace n ON n.oid = coalesce(t.relnamespace, ty.typnamespace), \
       LATERAL (VALUES \
            ('type', c.contype::text), \
            ('definition', pg_get_constraintdef(c.oid)), \
            ('validated', c.convalidated::text), \
            ('deferrable', c.condeferrable::text), \
            ('deferred', c.condeferred::text) \
       ) v(attr, value) \
      WHERE c.contype <> 'n' AND ",
    user_schema!("n"),
    " AND NOT EXISTS (SELECT 1 FROM pg_constraint p \
                       WHERE p.oid = c.conparentid AND p.conrelid = c.conrelid) \
        AND (c.conrelid = 0 OR ",
    not_extension_member!("pg_class", "c.conrelid"),
    ") AND (c.contypid = 0 OR ",
    not_extension_member!("pg_type", "c.contypid"),
    ")"
);

const FUNCTIONS: &str = concat!(
    "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' \
                           ELSE 'function' END, \
            format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), \
            v.attr, v.value, NULL \
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, LATERAL (VALUES \
            ('owner', pg_get_userbyid(p.proowner)::text), \
            ('acl', ",
    acl!("p.proacl", "'f'", "p.proowner"),
    "), \
            ('definition', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END) \
       ) v(attr, value) WHERE ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_proc", "p.oid")
);

const TRIGGERS: &str = concat!(
    "SELECT 'trigger', format('%I.%I.%I', n.nspname, c.relname, g.tgname), v.attr, v.value, \
            format('%I.%I', n.nspname, c.relname) \
       FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid \
       JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL (VALUES \
            ('definition', pg_get_triggerdef(g.oid)), \
            ('enabled', g.tgenabled::text) \
       ) v(attr, value) WHERE NOT g.tgisinternal AND ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_class", "c.oid")
);

const POLICIES: &str = concat!(
    "SELECT 'policy', format('%I.%I.%I', n.nspname, c.relname, p.polname), v.attr, v.value, \
            format('%I.%I', n.nspname, c.relname) \
       FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid \
       JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL (VALUES \
            ('command', p.polcmd::text), \
            ('permissive', p.polpermissive::text), \
            ('roles', (SELECT string_agg(CASE WHEN r = 0 THEN 'public' \
                                              ELSE pg_get_userbyid(r)::text END, ',' \
                                         ORDER BY 1) FROM unnest(p.polroles) r)), \
            ('using', pg_get_expr(p.polqual, p.polrelid)), \
            ('with check', pg_get_expr(p.polwithcheck, p.polrelid)) \
       ) v(attr, value) WHERE ",
    user_schema!("n")
);

/// Enums, domains and range types (composite types are relations above).
const TYPES: &str = concat!(
    "SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' ELSE 'range' END, \
            format('%I.%I', n.nspname, t.typname), v.attr, v.value, NULL \
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace, LATERAL (VALUES \
            ('owner', pg_get_userbyid(t.typowner)::text), \
            ('acl', ",
    acl!("t.typacl", "'T'", "t.typowner"),
    "), \
            ('labels', (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) \
                          FROM pg_enum e WHERE e.enumtypid = t.oid)), \
            ('base type', CASE WHEN t.typtype = 'd' \
                               THEN format_type(t.typbasetype, t.typtypmod) END), \
            ('not null', CASE WHEN t.typtype = 'd' THEN t.typnotnull::text END), \
            ('default', t.typdefault) \
       ) v(attr, value) WHERE t.typtype IN ('e', 'd', 'r') AND ",
    user_schema!("n"),
    " AND ",
    not_extension_member!("pg_type", "t.oid")
);

const EXTENSIONS: &str = "\
    SELECT 'extension', format('%I', x.extname), v.attr, v.value, NULL \
      FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace, LATERAL (VALUES \
           ('version', x.extversion::text), ('schema', format('%I', n.nspname)) \
      ) v(attr, value)";

/// Database-level properties: the target database has another name, so it
/// is always called `current`. `ALTER DATABASE ... SET` settings, and
/// `ALTER ROLE ... IN DATABASE ... SET` ones per role.
const DATABASE: &str = "\
    SELECT 'database', 'current', v.attr, v.value, NULL \
      FROM pg_database d, LATERAL (VALUES \
           ('encoding', pg_encoding_to_char(d.encoding)::text), \
           ('collate', d.datcollate::text), ('ctype', d.datctype::text) \
      ) v(attr, value) WHERE d.datname = current_database() \
    UNION ALL \
    SELECT CASE WHEN r.setrole = 0 THEN 'database' ELSE 'role in database' END, \
           CASE WHEN r.setrole = 0 THEN 'current' ELSE pg_get_userbyid(r.setrole)::text END, \
           'setting ' || split_part(s, '=', 1), substr(s, strpos(s, '=') + 1), NULL \
      FROM pg_db_role_setting r, unnest(r.setconfig) s \
     WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Every fact query, each returning `(kind, object, attribute, value, parent)`.
pub const FACT_QUERIES: &[(&str, &str)] = &[
    ("schemas", SCHEMAS),
    ("relations", RELATIONS),
    ("sequences", SEQUENCES),
    ("columns", COLUMNS),
    ("indexes", INDEXES),
    ("constraints", CONSTRAINTS),
    ("functions", FUNCTIONS),
    ("triggers", TRIGGERS),
    ("policies", POLICIES),
    ("types", TYPES),
    ("extensions", EXTENSIONS),
    ("database", DATABASE),
];
