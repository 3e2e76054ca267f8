-- Deterministic large-object dataset for pgcopydb-rs (issue 17).
--
--   psql -X -v ON_ERROR_STOP=1 -v scale=1 -d DB -f bench/generate-large-objects.sql
--
-- scale 1 is 10,000 large objects of 2 kB each (scale 10: 100,000), referenced
-- by one table of oids, as a document store keeps them. The OIDs are fixed
-- (1,000,000 + n) and the contents come from md5(), so two runs at the same
-- scale produce the same objects.

\set ON_ERROR_STOP 1
\if :{?scale}
\else
  \set scale 1
\endif

\o /dev/null
SET client_min_messages = warning;
SET synchronous_commit = off;

CREATE TABLE documents (
    id integer PRIMARY KEY,
    name text NOT NULL,
    content oid NOT NULL
);

-- 2048 bytes each: 64 md5 digests of the object's number, decoded from hex.
INSERT INTO documents (id, name, content)
SELECT n, 'document ' || n,
       lo_from_bytea(1000000 + n,
                     decode(repeat(md5(n::text) || md5((n + 1)::text), 64), 'hex'))
FROM generate_series(1, (10000 * :scale)::integer) AS n;

VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
