-- Deterministic benchmark dataset for pgcopydb-rs.
--
--   psql -X -v ON_ERROR_STOP=1 -v scale=1 -d DB -f bench/generate.sql
--
-- scale 1 is about 1.05 GB of table data (heap + TOAST), scale 4 about 4x that.
-- No random(), no now(): every value comes from generate_series() and hashing
-- (md5 / hashtext), so two runs at the same scale produce the same rows.
--
-- Content:
--   * pgbench tables as `pgbench -i --foreign-keys -s N` makes them
--     (N = 28 x scale; pgbench_accounts is the biggest table, ~30 % of the data),
--   * schema `shop`: ~20 tables of varied shapes (wide rows, jsonb, numeric,
--     timestamptz, bytea, a TOAST-heavy table, a range-partitioned table, tables
--     without a primary key, GIN (jsonb, pg_trgm, array), GiST (point,
--     range, btree_gist exclusion) and btree indexes, unique constraints,
--     foreign keys, a materialized view, sequences).

\set ON_ERROR_STOP 1
\if :{?scale}
\else
  \set scale 1
\endif

\o /dev/null
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';
SET TimeZone = 'UTC';

-- Row counts for this scale (at least 1 row each).
SELECT greatest(1, round(28 * :scale))::int             AS pgb_scale,
       greatest(1, round(50000 * :scale))::int          AS n_products,
       greatest(1, round(300000 * :scale))::int         AS n_customers,
       greatest(1, round(1000000 * :scale))::int        AS n_orders,
       greatest(1, round(500000 * :scale))::int         AS n_payments,
       greatest(1, round(20000 * :scale))::int          AS n_reviews,
       greatest(1, round(20000 * :scale))::int          AS n_images,
       greatest(1, round(600000 * :scale))::int         AS n_events,
       greatest(1, round(100000 * :scale))::int         AS n_bookings,
       greatest(1, round(50000 * :scale))::int          AS n_coupons,
       greatest(1, round(300000 * :scale))::int         AS n_sessions,
       greatest(1, round(200000 * :scale))::int         AS n_metrics,
       greatest(1, round(300000 * :scale))::int         AS n_audit
\gset

------------------------------------------------------------------------------
-- pgbench (same DDL as pgbench -i --foreign-keys, data generated server side)
------------------------------------------------------------------------------
DROP TABLE IF EXISTS pgbench_history, pgbench_tellers, pgbench_accounts, pgbench_branches CASCADE;
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
CREATE TABLE pgbench_tellers (tid int NOT NULL, bid int, tbalance int, filler char(84)) WITH (fillfactor = 100);
CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor = 100);
CREATE TABLE pgbench_branches (bid int NOT NULL, bbalance int, filler char(88)) WITH (fillfactor = 100);

INSERT INTO pgbench_branches (bid, bbalance)
  SELECT bid, 0 FROM generate_series(1, :pgb_scale) AS bid;
INSERT INTO pgbench_tellers (tid, bid, tbalance)
  SELECT tid, (tid - 1) / 10 + 1, 0 FROM generate_series(1, 10 * :pgb_scale) AS tid;
-- filler '' as pgbench's client-side generation does (padded to 84 blanks)
INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
  SELECT aid, (aid - 1) / 100000 + 1, 0, '' FROM generate_series(1, 100000 * :pgb_scale) AS aid;
-- a little history so the table is not empty
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler)
  SELECT (i % (10 * :pgb_scale)) + 1, (i % :pgb_scale) + 1, (abs(hashtext(i::text)) % (100000 * :pgb_scale)) + 1,
         hashtext('d' || i) % 5000, timestamp '2023-01-01' + i * interval '1 second', NULL
  FROM generate_series(1, 1000 * :pgb_scale) AS i;

ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid);
ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid);
ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid);
ALTER TABLE pgbench_tellers ADD FOREIGN KEY (bid) REFERENCES pgbench_branches;
ALTER TABLE pgbench_accounts ADD FOREIGN KEY (bid) REFERENCES pgbench_branches;
ALTER TABLE pgbench_history ADD FOREIGN KEY (bid) REFERENCES pgbench_branches;
ALTER TABLE pgbench_history ADD FOREIGN KEY (tid) REFERENCES pgbench_tellers;
ALTER TABLE pgbench_history ADD FOREIGN KEY (aid) REFERENCES pgbench_accounts;

------------------------------------------------------------------------------
-- shop
------------------------------------------------------------------------------
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped', 'delivered', 'cancelled', 'returned');

-- 1. self-referencing tree
CREATE TABLE shop.categories (
  id        int PRIMARY KEY,
  parent_id int REFERENCES shop.categories (id),
  name      text NOT NULL UNIQUE,
  path      text NOT NULL
);
INSERT INTO shop.categories
  SELECT i, CASE WHEN i <= 20 THEN NULL ELSE (i - 1) % 20 + 1 END,
         'category-' || i, '/' || ((i - 1) % 20 + 1) || '/' || i
  FROM generate_series(1, 200) AS i;

-- 2. suppliers
CREATE TABLE shop.suppliers (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name    text NOT NULL UNIQUE,
  country char(2) NOT NULL,
  contact jsonb NOT NULL
);
INSERT INTO shop.suppliers (name, country, contact)
  OVERRIDING SYSTEM VALUE
  SELECT 'supplier ' || md5('s' || i),
         (ARRAY['FR','DE','US','JP','BR','IN','GB','IT'])[abs(hashtext('c' || i)) % 8 + 1],
         jsonb_build_object('email', 's' || i || '@example.com', 'phone', '+1-555-' || lpad((i % 10000)::text, 4, '0'),
                            'rating', (abs(hashtext('r' || i)) % 50) / 10.0)
  FROM generate_series(1, 2000) AS i;

-- 3. products: trigram GIN on name, jsonb GIN on attrs
CREATE TABLE shop.products (
  id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  sku         text NOT NULL,
  name        text NOT NULL,
  category_id int NOT NULL REFERENCES shop.categories (id),
  price       numeric(12, 2) NOT NULL CHECK (price >= 0),
  attrs       jsonb NOT NULL,
  description text,
  created_at  timestamptz NOT NULL,
  CONSTRAINT products_sku_key UNIQUE (sku)
);
INSERT INTO shop.products (id, sku, name, category_id, price, attrs, description, created_at)
  SELECT i, 'SKU-' || lpad(i::text, 8, '0'),
         initcap(substr(md5('n' || i), 1, 8)) || ' ' || substr(md5('m' || i), 1, 6),
         abs(hashtext('cat' || i)) % 200 + 1,
         (abs(hashtext('p' || i)) % 100000) / 100.0,
         jsonb_build_object('color', (ARRAY['red','green','blue','black','white'])[i % 5 + 1],
                            'size', i % 7, 'weight_g', abs(hashtext('w' || i)) % 5000,
                            'tags', jsonb_build_array('t' || (i % 13), 't' || (i % 17))),
         repeat(md5('d' || i), 6),
         timestamptz '2020-01-01 00:00:00+00' + (abs(hashtext('t' || i)) % 100000000) * interval '1 second'
  FROM generate_series(1, :n_products) AS i;
SELECT setval(pg_get_serial_sequence('shop.products', 'id'), :n_products);

-- 4. many-to-many, composite primary key
CREATE TABLE shop.product_suppliers (
  product_id  bigint NOT NULL REFERENCES shop.products (id),
  supplier_id int NOT NULL REFERENCES shop.suppliers (id),
  cost        numeric(12, 2) NOT NULL,
  PRIMARY KEY (product_id, supplier_id)
);
INSERT INTO shop.product_suppliers
  SELECT p, (abs(hashtext(p || '-' || k)) % 1000) + 1 + (k - 1) * 1000, (abs(hashtext('k' || p || k)) % 10000) / 100.0
  FROM generate_series(1, :n_products) AS p, generate_series(1, 2) AS k;

-- 5. customers: wide rows with text/jsonb/numeric/timestamptz
CREATE TABLE shop.customers (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL,
  full_name   text NOT NULL,
  phone       text,
  balance     numeric(14, 4) NOT NULL DEFAULT 0,
  prefs       jsonb NOT NULL DEFAULT '{}',
  notes       text,
  created_at  timestamptz NOT NULL,
  last_login  timestamptz,
  is_active   boolean NOT NULL DEFAULT true,
  CONSTRAINT customers_email_key UNIQUE (email)
);
INSERT INTO shop.customers (id, email, full_name, phone, balance, prefs, notes, created_at, last_login, is_active)
  SELECT i, 'user' || i || '.' || substr(md5('e' || i), 1, 6) || '@example.org',
         initcap(substr(md5('f' || i), 1, 7)) || ' ' || initcap(substr(md5('l' || i), 1, 9)),
         CASE WHEN i % 4 = 0 THEN NULL ELSE '+33 6 ' || lpad((abs(hashtext('ph' || i)) % 100000000)::text, 8, '0') END,
         (hashtext('b' || i) % 10000000) / 10000.0,
         jsonb_build_object('lang', (ARRAY['fr','en','de','es'])[i % 4 + 1], 'newsletter', i % 3 = 0,
                            'theme', CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END,
                            'recent', jsonb_build_array(i % 1000, i % 777, i % 555)),
         CASE WHEN i % 5 = 0 THEN NULL ELSE md5('note' || i) || ' ' || md5('note2' || i) END,
         timestamptz '2018-01-01 00:00:00+00' + (abs(hashtext('ct' || i)) % 150000000) * interval '1 second',
         CASE WHEN i % 7 = 0 THEN NULL
              ELSE timestamptz '2023-01-01 00:00:00+00' + (abs(hashtext('ll' || i)) % 30000000) * interval '1 second' END,
         i % 11 <> 0
  FROM generate_series(1, :n_customers) AS i;
SELECT setval('shop.customers_id_seq', :n_customers);
CREATE INDEX customers_created_at_idx ON shop.customers (created_at);
CREATE INDEX customers_lower_name_idx ON shop.customers (lower(full_name));

-- 6. addresses: FK to customers
CREATE TABLE shop.addresses (
  id          bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('billing', 'shipping')),
  line1       text NOT NULL,
  city        text NOT NULL,
  postcode    varchar(10) NOT NULL,
  country     char(2) NOT NULL
);
INSERT INTO shop.addresses (customer_id, kind, line1, city, postcode, country)
  SELECT (i - 1) % :n_customers + 1, CASE WHEN i % 2 = 0 THEN 'billing' ELSE 'shipping' END,
         (abs(hashtext('no' || i)) % 300) || ' rue ' || substr(md5('st' || i), 1, 10),
         'City-' || substr(md5('ci' || i), 1, 5), lpad((abs(hashtext('pc' || i)) % 100000)::text, 5, '0'),
         (ARRAY['FR','DE','US','JP','BR','IN','GB','IT'])[abs(hashtext('ac' || i)) % 8 + 1]
  FROM generate_series(1, round(:n_customers * 4 / 3.0)::int) AS i;
CREATE INDEX addresses_customer_idx ON shop.addresses (customer_id);

-- 7. orders: range partitioned by date (8 quarterly partitions + default)
CREATE TABLE shop.orders (
  id          bigint NOT NULL,
  order_date  date NOT NULL,
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  status      shop.order_status NOT NULL,
  total       numeric(12, 2) NOT NULL,
  meta        jsonb,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (id, order_date)
) PARTITION BY RANGE (order_date);
DO $$
DECLARE q date;
BEGIN
  FOR k IN 0..7 LOOP
    q := date '2022-01-01' + make_interval(months => 3 * k);
    EXECUTE format('CREATE TABLE shop.orders_%s PARTITION OF shop.orders FOR VALUES FROM (%L) TO (%L)',
                   to_char(q, 'YYYY"q"Q'), q, q + interval '3 months');
  END LOOP;
END $$;
CREATE TABLE shop.orders_default PARTITION OF shop.orders DEFAULT;
CREATE SEQUENCE shop.orders_id_seq OWNED BY shop.orders.id;
ALTER TABLE shop.orders ALTER COLUMN id SET DEFAULT nextval('shop.orders_id_seq');
INSERT INTO shop.orders (id, order_date, customer_id, status, total, meta, created_at)
  SELECT i, d, abs(hashtext('oc' || i)) % :n_customers + 1,
         (enum_range(NULL::shop.order_status))[abs(hashtext('os' || i)) % 6 + 1],
         (abs(hashtext('ot' || i)) % 5000000) / 100.0,
         CASE WHEN i % 3 = 0 THEN NULL
              ELSE jsonb_build_object('channel', (ARRAY['web','app','store'])[i % 3 + 1], 'coupon', i % 10 = 0) END,
         d + (abs(hashtext('oh' || i)) % 86400) * interval '1 second'
  FROM generate_series(1, :n_orders) AS i,
       LATERAL (SELECT date '2022-01-01' + abs(hashtext('od' || i)) % 760 AS d) AS x;
SELECT setval('shop.orders_id_seq', :n_orders);
CREATE INDEX orders_customer_idx ON shop.orders (customer_id);
CREATE INDEX orders_meta_gin ON shop.orders USING gin (meta jsonb_path_ops);

-- 8. order lines: FK to the partitioned table and to products
CREATE TABLE shop.order_items (
  order_id    bigint NOT NULL,
  order_date  date NOT NULL,
  line_no     smallint NOT NULL,
  product_id  bigint NOT NULL REFERENCES shop.products (id),
  qty         int NOT NULL CHECK (qty > 0),
  unit_price  numeric(12, 2) NOT NULL,
  PRIMARY KEY (order_id, line_no),
  FOREIGN KEY (order_id, order_date) REFERENCES shop.orders (id, order_date)
);
INSERT INTO shop.order_items
  SELECT o.id, o.order_date, l, abs(hashtext('ip' || o.id || '-' || l)) % :n_products + 1,
         abs(hashtext('iq' || o.id || '-' || l)) % 5 + 1, (abs(hashtext('iu' || o.id || '-' || l)) % 20000) / 100.0
  FROM shop.orders AS o, generate_series(1, 1 + (o.id % 3)::int) AS l;
CREATE INDEX order_items_product_idx ON shop.order_items (product_id);

-- 9. payments (bigserial, numeric, timestamptz)
CREATE TABLE shop.payments (
  id       bigserial PRIMARY KEY,
  order_id bigint NOT NULL,
  amount   numeric(12, 2) NOT NULL,
  method   text NOT NULL,
  paid_at  timestamptz NOT NULL,
  ref      uuid NOT NULL UNIQUE
);
INSERT INTO shop.payments (order_id, amount, method, paid_at, ref)
  SELECT i, (abs(hashtext('pa' || i)) % 5000000) / 100.0,
         (ARRAY['card','paypal','transfer','voucher'])[i % 4 + 1],
         timestamptz '2022-01-01 00:00:00+00' + (abs(hashtext('pt' || i)) % 63072000) * interval '1 second',
         md5('ref' || i)::uuid
  FROM generate_series(1, :n_payments) AS i;
CREATE INDEX payments_paid_at_idx ON shop.payments (paid_at);

-- 10. TOAST-heavy: bodies of 3-6 kB of hex (barely compressible), stored out of line
CREATE TABLE shop.reviews (
  id         bigserial PRIMARY KEY,
  product_id bigint NOT NULL REFERENCES shop.products (id),
  rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title      text NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO shop.reviews (product_id, rating, title, body, created_at)
  SELECT abs(hashtext('rp' || i)) % :n_products + 1, i % 5 + 1, 'Review ' || substr(md5('rt' || i), 1, 12),
         (SELECT string_agg(md5(i || ':' || k), ' ') FROM generate_series(1, 100 + i % 100) AS k),
         timestamptz '2021-01-01 00:00:00+00' + i * interval '7 minutes'
  FROM generate_series(1, :n_reviews) AS i;
CREATE INDEX reviews_product_idx ON shop.reviews (product_id, rating);

-- 11. bytea column (0.5-2.5 kB binary blobs)
CREATE TABLE shop.product_images (
  id         int PRIMARY KEY,
  product_id bigint NOT NULL REFERENCES shop.products (id),
  mime       text NOT NULL,
  data       bytea NOT NULL
);
INSERT INTO shop.product_images
  SELECT i, (i - 1) % :n_products + 1, CASE WHEN i % 2 = 0 THEN 'image/png' ELSE 'image/jpeg' END,
         decode((SELECT string_agg(md5(i || '/' || k), '') FROM generate_series(1, 32 + i % 128) AS k), 'hex')
  FROM generate_series(1, :n_images) AS i;

-- 12. no primary key, no unique index (event log)
CREATE TABLE shop.events (
  ts          timestamptz NOT NULL,
  customer_id bigint,
  kind        text NOT NULL,
  payload     jsonb
);
INSERT INTO shop.events
  SELECT timestamptz '2023-01-01 00:00:00+00' + i * interval '250 milliseconds',
         CASE WHEN i % 9 = 0 THEN NULL ELSE abs(hashtext('ec' || i)) % :n_customers + 1 END,
         (ARRAY['view','click','cart','checkout','search'])[abs(hashtext('ek' || i)) % 5 + 1],
         jsonb_build_object('page', '/p/' || (abs(hashtext('ep' || i)) % 50000), 'ms', abs(hashtext('em' || i)) % 3000)
  FROM generate_series(1, :n_events) AS i;
CREATE INDEX events_ts_brin ON shop.events USING brin (ts);
CREATE INDEX events_customer_idx ON shop.events (customer_id) WHERE customer_id IS NOT NULL;

-- 13. GiST: point, btree_gist + range, exclusion constraint
CREATE TABLE shop.stores (
  id       int PRIMARY KEY,
  name     text NOT NULL UNIQUE,
  location point NOT NULL
);
INSERT INTO shop.stores
  SELECT i, 'Store #' || i, point((abs(hashtext('x' || i)) % 36000) / 100.0 - 180, (abs(hashtext('y' || i)) % 18000) / 100.0 - 90)
  FROM generate_series(1, 500) AS i;
CREATE INDEX stores_location_gist ON shop.stores USING gist (location);

CREATE TABLE shop.bookings (
  id       bigserial PRIMARY KEY,
  store_id int NOT NULL REFERENCES shop.stores (id),
  room     int NOT NULL,
  during   tstzrange NOT NULL,
  customer_id bigint REFERENCES shop.customers (id)
);
-- slot i of room (store, room): consecutive non-overlapping 2-hour slots
INSERT INTO shop.bookings (store_id, room, during, customer_id)
  SELECT (i % 500) + 1, (i / 500) % 10, tstzrange(t, t + interval '90 minutes'),
         abs(hashtext('bc' || i)) % :n_customers + 1
  FROM generate_series(0, :n_bookings - 1) AS i,
       LATERAL (SELECT timestamptz '2023-01-01 00:00:00+00' + (i / 5000) * interval '2 hours' AS t) AS x;
CREATE INDEX bookings_store_room_during_gist ON shop.bookings USING gist (store_id, room, during);

-- Exclusion constraint (btree_gist). It sits on a table with no other index or
-- constraint: pgcopydb 0.10 (the Debian package used as the "original" variant)
-- fails on a table that has an exclusion constraint next to a primary key.
CREATE TABLE shop.room_holds (
  store_id int NOT NULL REFERENCES shop.stores (id),
  room     int NOT NULL,
  during   tstzrange NOT NULL,
  note     text,
  EXCLUDE USING gist (store_id WITH =, room WITH =, during WITH &&)
);
INSERT INTO shop.room_holds
  SELECT (i % 500) + 1, (i / 500) % 10, tstzrange(t, t + interval '1 hour'), 'hold ' || substr(md5('rh' || i), 1, 8)
  FROM generate_series(0, :n_bookings / 5) AS i,
       LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + (i / 5000) * interval '1 hour' AS t) AS x;

-- 14. inventory: composite PK, two FKs
CREATE TABLE shop.inventory (
  store_id   int NOT NULL REFERENCES shop.stores (id),
  product_id bigint NOT NULL REFERENCES shop.products (id),
  qty        int NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (store_id, product_id)
);
INSERT INTO shop.inventory
  SELECT s, p, abs(hashtext('iv' || s || '-' || p)) % 1000,
         timestamptz '2023-06-01 00:00:00+00' + (abs(hashtext('iu' || s || '-' || p)) % 1000000) * interval '1 second'
  FROM generate_series(1, 20) AS s, generate_series(1, :n_products, 5) AS p;

-- 15. coupons: unique code, GiST on daterange
CREATE TABLE shop.coupons (
  id        int PRIMARY KEY,
  code      text NOT NULL UNIQUE,
  discount  numeric(5, 2) NOT NULL,
  valid     daterange NOT NULL
);
INSERT INTO shop.coupons
  SELECT i, upper(substr(md5('cp' || i), 1, 12)), (abs(hashtext('cd' || i)) % 5000) / 100.0,
         daterange(date '2022-01-01' + i % 700, date '2022-01-01' + i % 700 + 30)
  FROM generate_series(1, :n_coupons) AS i;
CREATE INDEX coupons_valid_gist ON shop.coupons USING gist (valid);

-- 16. sessions: uuid primary key, inet
CREATE TABLE shop.sessions (
  id          uuid PRIMARY KEY,
  customer_id bigint REFERENCES shop.customers (id),
  started_at  timestamptz NOT NULL,
  ip          inet NOT NULL,
  user_agent  text NOT NULL
);
INSERT INTO shop.sessions
  SELECT md5('sess' || i)::uuid, CASE WHEN i % 6 = 0 THEN NULL ELSE abs(hashtext('sc' || i)) % :n_customers + 1 END,
         timestamptz '2023-01-01 00:00:00+00' + i * interval '3 seconds',
         ('10.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256)::inet,
         'Mozilla/5.0 (' || (ARRAY['X11; Linux x86_64','Windows NT 10.0; Win64; x64','Macintosh; Intel Mac OS X 13_4'])[i % 3 + 1]
           || ') bench/' || (i % 120)
  FROM generate_series(1, :n_sessions) AS i;
CREATE INDEX sessions_customer_idx ON shop.sessions (customer_id);

-- 17. text[] with a GIN index
CREATE TABLE shop.product_tags (
  product_id bigint PRIMARY KEY REFERENCES shop.products (id),
  tags       text[] NOT NULL
);
INSERT INTO shop.product_tags
  SELECT i, ARRAY['t' || (i % 13), 't' || (i % 17), 'x' || (abs(hashtext('tg' || i)) % 500)]
  FROM generate_series(1, :n_products) AS i;
CREATE INDEX product_tags_gin ON shop.product_tags USING gin (tags);

-- 18. wide numeric/float table
CREATE TABLE shop.metrics (
  id bigint PRIMARY KEY,
  taken_at timestamptz NOT NULL,
  store_id int NOT NULL,
  m01 double precision, m02 double precision, m03 double precision, m04 double precision,
  m05 double precision, m06 double precision, m07 double precision, m08 double precision,
  c01 numeric(18, 6), c02 numeric(18, 6), c03 numeric(18, 6), c04 numeric(18, 6),
  i01 int, i02 int, i03 bigint, i04 bigint,
  flag1 boolean, flag2 boolean,
  label text
);
INSERT INTO shop.metrics
  SELECT i, timestamptz '2023-01-01 00:00:00+00' + i * interval '10 seconds', i % 500 + 1,
         h / 1000.0, h / 7.0, h / 3.0, sqrt(abs(h)), h * 0.5, h % 1000 / 13.0, h % 77 / 3.0, (h % 99) / 7.0,
         h / 1000000.0, (h % 1000000) / 7.0, (h % 1000) * 1.5, abs(h) / 3.0,
         h % 100000, h % 1000, h::bigint * 1000, i * 3,
         h % 2 = 0, h % 3 = 0, 'sensor-' || (i % 97)
  FROM generate_series(1, :n_metrics) AS i, LATERAL (SELECT hashtext('mt' || i) AS h) AS x;
CREATE INDEX metrics_store_time_idx ON shop.metrics (store_id, taken_at);

-- 19. another table without any key: identity column without a constraint
CREATE TABLE shop.audit_log (
  seq      bigint GENERATED ALWAYS AS IDENTITY,
  at       timestamptz NOT NULL,
  actor    text NOT NULL,
  action   text NOT NULL,
  detail   text
);
INSERT INTO shop.audit_log (seq, at, actor, action, detail)
  OVERRIDING SYSTEM VALUE
  SELECT i, timestamptz '2023-01-01 00:00:00+00' + i * interval '1 minute', 'user' || (i % 1000),
         (ARRAY['insert','update','delete','login'])[i % 4 + 1],
         CASE WHEN i % 2 = 0 THEN NULL ELSE 'changed ' || md5('al' || i) END
  FROM generate_series(1, :n_audit) AS i;
SELECT setval(pg_get_serial_sequence('shop.audit_log', 'seq'), :n_audit);

-- 20. small settings table and an empty table
CREATE TABLE shop.settings (key text PRIMARY KEY, value jsonb NOT NULL);
INSERT INTO shop.settings
  SELECT 'setting.' || i, jsonb_build_object('v', i, 'enabled', i % 2 = 0) FROM generate_series(1, 50) AS i;
CREATE TABLE shop.returns (
  id       bigserial PRIMARY KEY,
  order_id bigint NOT NULL,
  order_date date NOT NULL,
  reason   text,
  FOREIGN KEY (order_id, order_date) REFERENCES shop.orders (id, order_date)
);

-- standalone sequences: one advanced, one never called
CREATE SEQUENCE shop.invoice_number_seq START 1000 INCREMENT 7;
SELECT setval('shop.invoice_number_seq', 1000 + 7 * :n_orders);
CREATE SEQUENCE shop.unused_seq;

-- materialized view (GROUP BY over the partitioned table)
CREATE MATERIALIZED VIEW shop.daily_sales AS
  SELECT order_date, count(*) AS orders, sum(total) AS revenue
  FROM shop.orders GROUP BY order_date;
CREATE UNIQUE INDEX daily_sales_date_idx ON shop.daily_sales (order_date);

-- a plain view and a comment, for faithfulness
CREATE VIEW shop.active_customers AS SELECT id, email FROM shop.customers WHERE is_active;
COMMENT ON TABLE shop.events IS 'append-only event log, no primary key';

-- Set hint bits / visibility map and statistics so every run reads the source the same way.
VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
