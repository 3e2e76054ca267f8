//! The columns of the copied tables, and whether their binary COPY form can
//! be sent from one server to another as is.
//!
//! A value's binary form is portable only when nothing in it depends on the
//! server that wrote it. The reg* types (regclass, regconfig, regproc...) are
//! the OID of the object they name: the target would store the source's OID,
//! naming some other object or none, where their text form (the name) is
//! resolved again on the target. Arrays carry their element type's OID, and
//! composites the OIDs of their attributes' types: the OIDs of the server's
//! own types are fixed in its catalog headers, any other differs between
//! servers (the target refuses the value). So a column is binary-portable
//! only when its type, walked down through domains, array elements, range
//! subtypes and multiranges' ranges, is made of types known to be portable:
//! the built-in types named in [`PORTABLE_BUILTIN_TYPES`] (a type a new
//! server version adds is copied as text until it is listed), enums (sent as
//! their label), and base types of extensions with send/receive functions
//! (their authors define the form; `--copy-format auto` uses binary only
//! between servers of the same major version). Everything else is copied as
//! text.

/// Built-in base types whose binary form is portable: numbers, strings,
/// times, geometry, network addresses, JSON, text search, and the like.
/// `oid`, `xid` and `cid` are plain integers whose text form is the same
/// number. Left out: the reg* types (an OID), and the internal types whose
/// input functions refuse any value (pg_node_tree, pg_ndistinct...), and
/// `tsvector` (see [`columns_sql`]).
const PORTABLE_BUILTIN_TYPES: &[&str] = &[
    "bit",
    "bool",
    "box",
    "bpchar",
    "bytea",
    "char",
    "cid",
    "cidr",
    "circle",
    "date",
    "float4",
    "float8",
    "inet",
    "int2",
    "int4",
    "int8",
    "interval",
    "json",
    "jsonb",
    "jsonpath",
    "line",
    "lseg",
    "macaddr",
    "macaddr8",
    "money",
    "name",
    "numeric",
    "oid",
    "path",
    "pg_lsn",
    "pg_snapshot",
    "point",
    "polygon",
    "refcursor",
    "text",
    "tid",
    "time",
    "timestamp",
    "timestamptz",
    "timetz",
    "tsquery",
    "txid_snapshot",
    "uuid",
    "varbit",
    "varchar",
    "xid",
    "xid8",
    "xml",
];

/// OIDs below this one are assigned in the server's catalog headers and are
/// the same on every server (FirstGenbkiObjectId); those of initdb's own
/// objects (information_schema) and of user objects are not.
const FIXED_OIDS_BELOW: u32 = 10000;

/// The query listing the columns of the tables `$1` (oid[]): table oid,
/// name, type, generated, why the binary form is not portable (NULL when it
/// is), stored EXTENDED. `source_major` says whether multiranges exist.
pub(super) fn columns_sql(source_major: u32) -> String {
    let portable = PORTABLE_BUILTIN_TYPES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    // PostgreSQL 14 added multiranges.
    let multiranges = if source_major >= 14 {
        "UNION ALL SELECT rngmultitypid, rngtypid, false FROM pg_range"
    } else {
        ""
    };
    format!(
        "WITH RECURSIVE \
         cols AS ( \
           SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, \
                  (a.attgenerated <> '') AS generated, a.attstorage = 'x' AS extended \
             FROM pg_attribute a \
            WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped), \
         parts(typid, part, is_element) AS ( \
           SELECT oid, typbasetype, false FROM pg_type WHERE typtype = 'd' \
           UNION ALL SELECT oid, typelem, true FROM pg_type \
                      WHERE typtype = 'b' AND typelem <> 0 AND typlen = -1 \
           UNION ALL SELECT rngtypid, rngsubtype, false FROM pg_range \
           {multiranges}), \
         walk(attrelid, attnum, typid, is_element) AS ( \
           SELECT attrelid, attnum, atttypid, false FROM cols \
           UNION \
           SELECT w.attrelid, w.attnum, p.part, p.is_element \
             FROM walk w JOIN parts p ON p.typid = w.typid), \
         verdicts AS ( \
           SELECT w.attrelid, w.attnum, CASE \
             WHEN w.is_element AND t.oid >= {FIXED_OIDS_BELOW} THEN \
               format('an array of %s holds the OID of that type, which differs between servers', \
                      format_type(t.oid, NULL)) \
             WHEN t.typtype = 'c' THEN \
               format('the composite type %s holds the OIDs of its attributes'' types', \
                      format_type(t.oid, NULL)) \
             WHEN t.typtype IN ('d', 'e', 'r', 'm') THEN NULL \
             WHEN t.typtype <> 'b' THEN format('%s is a pseudo-type', format_type(t.oid, NULL)) \
             WHEN t.typsend = 0 OR t.typreceive = 0 THEN \
               format('%s has no binary send/receive functions', format_type(t.oid, NULL)) \
             WHEN t.typsend = 'pg_catalog.tsvectorsend'::regproc THEN \
               format('%s is not safe for COPY BINARY: its receive function reads its lexemes at \
                       offsets that fault on strict-alignment hardware (ARM)', \
                      format_type(t.oid, NULL)) \
             WHEN t.typelem <> 0 AND t.typlen = -1 THEN NULL \
             WHEN t.oid >= {FIXED_OIDS_BELOW} THEN NULL \
             WHEN t.typname IN ({portable}) THEN NULL \
             WHEN t.typname LIKE 'reg%' THEN \
               format('%s is sent as the OID of the object it names, which differs between servers', \
                      format_type(t.oid, NULL)) \
             ELSE format('the binary form of %s is not known to be portable between servers', \
                         format_type(t.oid, NULL)) \
           END AS reason \
             FROM walk w JOIN pg_type t ON t.oid = w.typid), \
         reasons AS ( \
           SELECT attrelid, attnum, string_agg(DISTINCT reason, '; ') AS reason \
             FROM verdicts GROUP BY attrelid, attnum) \
         SELECT c.attrelid, c.attname, format_type(c.atttypid, c.atttypmod), c.generated, \
                r.reason, c.extended \
           FROM cols c LEFT JOIN reasons r USING (attrelid, attnum) \
          ORDER BY c.attrelid, c.attnum"
    )
}
