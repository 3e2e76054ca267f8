-- Deterministic many-small-tables dataset for pgcopydb-rs (issue 17).
--
--   psql -X -v ON_ERROR_STOP=1 -v scale=1 -d DB -f bench/generate-many-tables.sql
--
-- scale 1 is 10,000 tables (scale 0.1: 1,000), as a multi-tenant database
-- keeps one table set per customer: each table has a primary key, one more
-- index and 20 rows, spread over 100 schemas. Contents come from md5(), so
-- two runs at the same scale produce the same tables.

\set ON_ERROR_STOP 1
\if :{?scale}
\else
  \set scale 1
\endif

\o /dev/null
SET client_min_messages = warning;
SET synchronous_commit = off;

-- One statement a transaction (\gexec): a single transaction creating
-- 10,000 tables would need more locks than the lock table holds.
SELECT format('CREATE SCHEMA tenant_%s', s)
FROM generate_series(0, least(99, (10000 * :scale)::integer - 1)) AS s
\gexec

SELECT format('CREATE TABLE tenant_%s.items_%s (id integer PRIMARY KEY, code text NOT NULL, '
              'amount numeric(12,2) NOT NULL, created date NOT NULL); '
              'CREATE INDEX ON tenant_%s.items_%s (code); '
              'INSERT INTO tenant_%s.items_%s SELECT g, md5(%s || ''.'' || g), '
              '(hashtext(%s || ''.'' || g) %% 100000) / 100.0, '
              'date ''2020-01-01'' + (g * 17 %% 1000) FROM generate_series(1, 20) AS g',
              (i - 1) % 100, i, (i - 1) % 100, i, (i - 1) % 100, i, i, i)
FROM generate_series(1, (10000 * :scale)::integer) AS i
\gexec

VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
