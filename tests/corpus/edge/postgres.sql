-- dbtier exactness corpus: edge values and objects for PostgreSQL 15 (loaded by the superuser into an
-- empty UTF8 database owned by nobody in particular). Every value here must come back bit for bit.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;
-- Extensions only a superuser may create (a restore's admin creates them before the app user's load), one
-- of them needing a trusted one, and a trusted one sharing an untrusted one's schema of its own
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE SCHEMA "ext ☃";
COMMENT ON SCHEMA "ext ☃" IS 'extensions live here';
CREATE EXTENSION IF NOT EXISTS file_fdw WITH SCHEMA "ext ☃";
CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA "ext ☃";
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;
CREATE TABLE places (id int PRIMARY KEY, tags "ext ☃".hstore, at cube);
INSERT INTO places VALUES (1, 'k=>v, "é"=>NULL, "a b"=>"c\"d"', cube(array[1.5, -2.25])), (2, '', NULL);
CREATE SCHEMA "Ünï schema";
COMMENT ON SCHEMA "Ünï schema" IS 'schema comment ☃';
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('happy 😀', 'sad', 'it''s');
CREATE TABLE nums (
  id int PRIMARY KEY, f8 float8, f4 real, n numeric, n2 numeric(40, 20), i8 bigint, i2 smallint, m money, p positive
);
INSERT INTO nums VALUES
 (1, '-0', '-0', 'NaN', 12345678901234567890.12345678901234567890, 9223372036854775807, -32768, 12.34, 1),
 (2, 'NaN', 'NaN', '1e-130', 0, -9223372036854775808, 32767, -0.01, 2),
 (3, 'Infinity', '-Infinity', '-0.000000000000000000001', NULL, 0, 0, 0, 3),
 (4, 0.1 + 0.2::float8, 1.1, 'Infinity', -1, NULL, NULL, NULL, NULL),
 (5, 4.9e-324, 1.4e-45, '-Infinity', NULL, NULL, NULL, NULL, NULL),
 (6, 1.7976931348623157e308, 3.4028235e38, 0, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE temporal (
  id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, t time, ttz timetz, iv interval
);
INSERT INTO temporal VALUES
 (1, 'infinity', 'infinity', 'infinity', '24:00:00', '23:59:59.999999+15:59', '-178000000 years'),
 (2, '-infinity', '-infinity', '-infinity', '00:00:00', '00:00:00-15:59', '1 mon -1 day 00:00:00.000001'),
 (3, '4713-01-01 BC', '4713-01-01 00:00:00 BC', '294276-12-31 23:59:59.999999+00', '12:34:56.789012', '12:00+05:30', '0'),
 (4, '2024-02-29', '2024-02-29 12:34:56.789012', '2024-03-31 01:30:00+02', NULL, NULL, NULL);
CREATE TABLE "Ünï schema"."text ☃" (
  id serial PRIMARY KEY, t text, vc varchar(10), c char(5), ci citext, b bytea, j jsonb, js json, x xml, u uuid,
  arr text[], m mood, r int4range, inet inet, bits bit varying(20), tsv tsvector, pt point
);
INSERT INTO "Ünï schema"."text ☃" (t, vc, c, ci, b, j, js, x, u, arr, m, r, inet, bits, tsv, pt) VALUES
 ('emoji 😀🎉 𝄞 max U+10FFFF: 􏿿', 'pad', 'ab', 'MiXeD', '\x00ff80c328e282', '{"b": 1, "a": [1.0, "ü"]}', '{"b":1,  "a" : 1}',
  '<a>ü</a>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['a', NULL, 'q"uote', 'back\slash'], 'happy 😀', '[1,10)', '::ffff:1.2.3.4/128',
  B'10101', 'a:1 b:2', '(1.5,-2.25)'),
 (E'line\nbreak\r\n\ttab \\ back '' quote ; -- not a comment $$ dollar', '', '', '', '\x', 'null', 'null', NULL, NULL, '{}', 'it''s', 'empty',
  NULL, B'', '', NULL),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
COMMENT ON TABLE "Ünï schema"."text ☃" IS 'table comment ☃';
COMMENT ON COLUMN "Ünï schema"."text ☃".t IS 'column comment';
-- No key, duplicate rows; partitions; generated and identity columns
CREATE TABLE nokey (a int, b text);
INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (NULL, NULL), (NULL, NULL);
CREATE TABLE parts (id int, at date, v text) PARTITION BY RANGE (at);
CREATE TABLE parts_2023 PARTITION OF parts FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE parts_rest PARTITION OF parts DEFAULT;
INSERT INTO parts VALUES (1, '2023-05-01', 'a'), (2, '2030-01-01', 'b');
CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY (START WITH 50) PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO gen (a) VALUES (1), (NULL), (3);
-- Binary columns through a domain (of a domain), arrays of bytea, a dropped column in between
CREATE DOMAIN blob_d AS bytea CHECK (octet_length(VALUE) < 100);
CREATE DOMAIN blob_dd AS blob_d;
CREATE TABLE blobs (id int PRIMARY KEY, gone int, b blob_d, bb blob_dd, arr bytea[], raw bytea);
ALTER TABLE blobs DROP COLUMN gone;
INSERT INTO blobs VALUES (1, '\x00', '\x', ARRAY['\x00'::bytea, NULL, '\x'], '\x5c783030'),
 (2, NULL, NULL, NULL, NULL), (3, '\x', '\x00', '{}', '\x');
-- Sequences with state
CREATE SEQUENCE seq_called START 100 INCREMENT 5;
SELECT nextval('seq_called'), nextval('seq_called');
CREATE SEQUENCE seq_fresh;
-- Row-level security, a rule with several actions, a materialized view, a trigger
CREATE TABLE secrets (id int PRIMARY KEY, owner text, body text);
INSERT INTO secrets VALUES (1, 'app', 'mine'), (2, 'other', 'theirs');
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secrets USING (owner = current_user);
CREATE TABLE audit (msg text);
CREATE RULE nokey_log AS ON INSERT TO nokey WHERE NEW.a < 0 DO ALSO (INSERT INTO audit VALUES ('neg; one'); INSERT INTO audit VALUES ('neg; two'));
CREATE MATERIALIZED VIEW gen_totals AS SELECT count(*) AS n, sum(doubled) AS s FROM gen;
CREATE FUNCTION audit_gen() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  INSERT INTO audit VALUES ('gen ' || NEW.id || '; $$ not the end');
  RETURN NEW;
END
$body$;
CREATE TRIGGER gen_ai AFTER INSERT ON gen FOR EACH ROW EXECUTE FUNCTION audit_gen();
-- SQL-standard function bodies (PostgreSQL 14+): ';' inside BEGIN ATOMIC ... END
CREATE FUNCTION add_two(a int) RETURNS int LANGUAGE sql IMMUTABLE
BEGIN ATOMIC
  SELECT a + 1 + 1;
END;
CREATE PROCEDURE log_twice(m text) LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO audit VALUES (m || ' 1;');
  INSERT INTO audit VALUES (m || ' 2;');
END;
CREATE FUNCTION returns_a_string() RETURNS text LANGUAGE sql RETURN 'END; BEGIN ATOMIC';
-- Large objects
SELECT lo_from_bytea(424242, '\x00010203ff'::bytea);
SELECT lo_from_bytea(424243, ''::bytea);
-- Names holding a newline, a tab, quotes and a semicolon; text that reads as COPY's end marker; a table
-- whose rows its own FORCEd policy hides from its owner; a publication; a CHECK added NOT VALID over a row
-- that breaks it; a column dropped after its rows were written.
CREATE SCHEMA "sch
ema";
CREATE TABLE "sch
ema"."new
line ""q"" ; t	ab" ("tab	col" int PRIMARY KEY, "semi;colon" text);
INSERT INTO "sch
ema"."new
line ""q"" ; t	ab" VALUES (1, E'\\.'), (2, E'a\n\\.\nb'), (3, NULL);
CREATE TABLE secret (id int PRIMARY KEY, owner text);
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret FORCE ROW LEVEL SECURITY;
CREATE POLICY only_bob ON secret USING (owner = 'bob') WITH CHECK (owner = 'bob');
INSERT INTO secret VALUES (1, 'alice'), (2, 'bob');
CREATE PUBLICATION pub_secret FOR TABLE secret;
CREATE TABLE lax_check (id int PRIMARY KEY, n int);
INSERT INTO lax_check VALUES (1, -1), (2, 2);
ALTER TABLE lax_check ADD CONSTRAINT positive CHECK (n > 0) NOT VALID;
CREATE TABLE dropped_col (a int, b text, c int);
INSERT INTO dropped_col VALUES (1, 'gone', 2);
ALTER TABLE dropped_col DROP COLUMN b;
