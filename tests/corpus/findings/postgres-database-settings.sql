-- Finding postgres-database-settings (tests/integration/corpus-apps.test.ts): loaded into `hc_settings`,
-- backed up, verified, restored over itself (`restore latest --yes`). What came back:
--   pg_db_role_setting  source: search_path=app, public        restored: search_path="app, public"
--     (swap.py copies each setconfig item as `ALTER DATABASE side SET name = '<value>'`: one literal, so a
--     list-valued setting becomes one quoted element; SHOW search_path now says "app, public", and
--     `SELECT count(*) FROM t` fails: relation "t" does not exist)
--   shobj_description(database)  source: 'wiki ☃'   restored: NULL (not carried over)
-- bytea_output=escape (a scalar setting) comes back right.
-- Finding postgres-lost-database-settings (same file, loaded into `hc_lost`, the database dropped before the
-- restore): no setting comes back at all (pg_db_role_setting has no row): the backup does not hold them.
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = app, public', current_database());
  EXECUTE format('ALTER DATABASE %I SET bytea_output = %L', current_database(), 'escape');
  EXECUTE format('COMMENT ON DATABASE %I IS %L', current_database(), 'wiki ☃');
END $$;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, b bytea);
INSERT INTO app.t VALUES (1, '\x00ff');
