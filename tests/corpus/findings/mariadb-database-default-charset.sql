-- Finding mariadb-database-default-charset (tests/integration/corpus-apps.test.ts): loaded into an empty
-- database `hc_charset`, backed up, verified, the database dropped (a lost server), `restore latest --yes`.
-- Rows and definitions match (fingerprint equal, verify OK), but what came back:
--   schemata.default_collation_name      source: utf8mb3_bin   restored: utf8mb4_unicode_ci
--   parameters same.a / same.b collation source: utf8mb3_bin   restored: utf8mb4_unicode_ci
--   routines.database_collation (same)   source: utf8mb3_bin   restored: utf8mb4_unicode_ci
--   SELECT same('a', 'A')                source: 0             restored: 1
-- The backup does not record the database's default character set/collation; the restore creates the
-- missing database as utf8mb4_unicode_ci (swap.py / db.sh) and re-creates the routines in it, where
-- parameters declared without a character set take the database's. (phpMyAdmin's create_tables.sql makes
-- its database utf8_bin like this.)
ALTER DATABASE hc_charset CHARACTER SET utf8mb3 COLLATE utf8mb3_bin;
CREATE TABLE t (id int PRIMARY KEY, s varchar(10)) DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_bin;
INSERT INTO t VALUES (1, 'a'), (2, 'A');
CREATE FUNCTION same(a varchar(10), b varchar(10)) RETURNS int DETERMINISTIC RETURN a = b;
