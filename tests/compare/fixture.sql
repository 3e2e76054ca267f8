-- A source database with one of everything compare looks at.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE SCHEMA app AUTHORIZATION app;

CREATE TABLE customers (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL DEFAULT 'anonymous' COLLATE "C",
    feeling mood,
    score positive,
    balance numeric(12, 2),
    ratio double precision,
    born date,
    seen timestamptz,
    wait interval,
    photo bytea,
    tags text[],
    extra jsonb,
    name_len integer GENERATED ALWAYS AS (length(name)) STORED,
    CHECK (balance > -1000)
);
INSERT INTO customers (name, feeling, score, balance, ratio, born, seen, wait, photo, tags, extra)
SELECT 'customer ' || i, (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood, i, i * 1.25,
       i / 3.0, date '2000-01-01' + i, timestamptz '2024-01-01 12:00+02' + i * interval '1 hour',
       i * interval '90 seconds', decode(md5(i::text), 'hex'), ARRAY['t' || i, NULL],
       jsonb_build_object('i', i, 'odd', i % 2 = 1)
  FROM generate_series(1, 500) i;

-- A dropped column: attribute numbers differ after a dump and restore.
CREATE TABLE orders (id bigserial PRIMARY KEY, junk int, customer_id integer NOT NULL
    REFERENCES customers (id) DEFERRABLE, amount numeric, note text);
ALTER TABLE orders DROP COLUMN junk;
INSERT INTO orders (customer_id, amount, note)
SELECT 1 + i % 500, i * 0.5, CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END
  FROM generate_series(1, 2000) i;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_note_idx ON orders (lower(note)) WHERE note IS NOT NULL;

-- No columns at all, yet rows.
CREATE TABLE empty_shape ();
INSERT INTO empty_shape SELECT FROM generate_series(1, 3);

CREATE TABLE measures (at date NOT NULL, value real) PARTITION BY RANGE (at);
CREATE TABLE measures_2023 PARTITION OF measures FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measures_2024 PARTITION OF measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO measures SELECT date '2023-06-01' + i, i / 7.0 FROM generate_series(0, 400) i;

CREATE TABLE app.audit (id serial PRIMARY KEY, what text, at timestamptz DEFAULT now());

CREATE FUNCTION app.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app.audit (what) VALUES ('order ' || NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION app.log_order();

CREATE PROCEDURE app.touch(n integer) LANGUAGE sql AS $$ SELECT n $$;

CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
CREATE MATERIALIZED VIEW order_totals AS
    SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id;

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON orders FOR SELECT TO reader USING (customer_id < 100);

CREATE SEQUENCE invoice_no START 1000 INCREMENT 10;
SELECT nextval('invoice_no'), nextval('invoice_no');

GRANT SELECT ON customers, orders TO reader;
GRANT USAGE ON SCHEMA app TO reader;
GRANT EXECUTE ON FUNCTION app.log_order() TO reader;
REVOKE EXECUTE ON PROCEDURE app.touch(integer) FROM PUBLIC;

SELECT lo_from_bytea(424242, 'hello large object');
SELECT lo_from_bytea(424243, decode(repeat('ab', 5000), 'hex'));
