/**
 * A content fingerprint of a database computed by the server alone (no dump tool, no dbtier code), with
 * exact renderings, for the exactness tests:
 *
 *   contentFingerprint(server, db): Promise<Record<string, string>>
 *     "table:<name>" -> "<rows>:<order-independent sum of row md5s>" where each value is rendered exactly:
 *       MariaDB: strings and bytes as HEX(), FLOAT widened to DOUBLE, numbers as their shortest exact text,
 *       invisible and generated columns included, every row version of a system-versioned table with its
 *       period; PostgreSQL: record text with shortest exact floats, ISO dates in UTC, hex bytea.
 *     "<kind>:<name>" -> md5 of the definition of every other object: columns, indexes, constraints,
 *       views, triggers, routines (incl. SQL-standard bodies), events, sequences and their position,
 *       partitions, policies, rules, types, domains, comments, extensions, large objects. Definers and
 *       owners are left out (a load makes the app user the definer and owner of everything), and so is
 *       Aria's default PAGE_CHECKSUM=1, which SHOW CREATE TABLE prints and a copy then states explicitly.
 */
import type { DbServer } from "./servers";

function lines(out: string): string[][] {
  return out.split("\n").filter((l) => l.length > 0).map((l) => l.split("\t"));
}

/** A field of the `mariadb` client's --batch output as the server sent it (the client escapes \0 \t \n \\). */
const unbatch = (s: string): string => s.replace(/\\(.)/g, (m, c: string) => ({ "0": "\0", t: "\t", n: "\n", "\\": "\\" })[c] ?? m);
const myStr = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
const myId = (s: string): string => "`" + s.replace(/`/g, "``") + "`";

async function mariadbFingerprint(server: DbServer, db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // A system-versioned table: every row version (FOR SYSTEM_TIME ALL) with its period's start and end, which
  // are columns here when declared and otherwise the hidden ROW_START and ROW_END.
  const cols = lines(await server.rootSql(
    `SELECT c.table_name, c.column_name, c.data_type, t.table_type, IFNULL(c.generation_expression, '') FROM information_schema.columns c JOIN information_schema.tables t
       ON t.table_schema = c.table_schema AND CAST(t.table_name AS BINARY) = CAST(c.table_name AS BINARY) AND t.table_type IN ('BASE TABLE', 'SYSTEM VERSIONED')
     WHERE c.table_schema = ${myStr(db)} ORDER BY c.table_name, c.ordinal_position;`));
  const byTable = new Map<string, string[]>();
  const versioned = new Map<string, boolean>(); // table -> declares its period columns
  for (const [table, column, type, tableType, generation] of cols) {
    const c = myId(unbatch(column));
    const numeric = ["tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "double", "year"].includes(type);
    const expr = type === "float" ? `CAST(CAST(${c} AS DOUBLE) AS CHAR)` : type === "bit" ? `BIN(${c})` : numeric ? `CAST(${c} AS CHAR)` : `HEX(${c})`;
    byTable.set(table, [...(byTable.get(table) ?? []), `IFNULL(${expr}, '~')`]);
    if (tableType === "SYSTEM VERSIONED") versioned.set(table, (versioned.get(table) ?? false) || generation === "ROW START");
  }
  for (const [table, exprs] of byTable) {
    const hiddenPeriod = versioned.get(table) === false ? ", HEX(ROW_START), HEX(ROW_END)" : "";
    const r = await server.rootSql(
      `SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', ${exprs.join(", ")}${hiddenPeriod})), 1, 15), 16, 10) AS UNSIGNED)), 0))
       FROM ${myId(db)}.${myId(unbatch(table))}${versioned.has(table) ? " FOR SYSTEM_TIME ALL" : ""};`);
    out[`table:${table}`] = r.trim();
  }
  const s = myStr(db);
  const defs = lines(await server.rootSql(`SET SESSION group_concat_max_len = 1048576;
    SELECT CONCAT('column:', table_name, '.', column_name), MD5(CONCAT_WS('|', ordinal_position, column_type, is_nullable,
      IFNULL(column_default, '~'), extra, IFNULL(collation_name, '~'), column_comment, IFNULL(generation_expression, '~')))
      FROM information_schema.columns WHERE table_schema = ${s};
    SELECT CONCAT('relation:', table_name), MD5(CONCAT_WS('|', table_type, engine, TRIM(REPLACE(create_options, 'page_checksum=1', '')), table_comment))
      FROM information_schema.tables WHERE table_schema = ${s};
    SELECT CONCAT('index:', table_name, '.', index_name), MD5(GROUP_CONCAT(CONCAT_WS(':', column_name, non_unique, index_type, IFNULL(sub_part, '~')) ORDER BY seq_in_index))
      FROM information_schema.statistics WHERE table_schema = ${s} GROUP BY CAST(table_name AS BINARY), CAST(index_name AS BINARY), table_name, index_name;
    SELECT CONCAT('partition:', table_name, '.', partition_name), MD5(CONCAT_WS('|', partition_method, partition_expression, IFNULL(partition_description, '~')))
      FROM information_schema.partitions WHERE table_schema = ${s} AND partition_name IS NOT NULL;
    SELECT CONCAT('view:', table_name), MD5(CONCAT_WS('|', view_definition, security_type, check_option)) FROM information_schema.views WHERE table_schema = ${s};
    SELECT CONCAT('trigger:', trigger_name), MD5(CONCAT_WS('|', action_statement, action_timing, event_manipulation, event_object_table)) FROM information_schema.triggers WHERE trigger_schema = ${s};
    SELECT CONCAT('routine:', routine_name), MD5(CONCAT_WS('|', routine_type, routine_definition, is_deterministic, security_type, routine_comment, IFNULL(dtd_identifier, '~')))
      FROM information_schema.routines WHERE routine_schema = ${s};
    SELECT CONCAT('event:', event_name), MD5(CONCAT_WS('|', event_definition, status, interval_value, interval_field, starts)) FROM information_schema.events WHERE event_schema = ${s};`));
  for (const [k, v] of defs) out[k] = v;
  for (const [seq] of lines(await server.rootSql(`SELECT table_name FROM information_schema.tables WHERE table_schema = ${s} AND table_type = 'SEQUENCE';`))) {
    out[`sequence-position:${seq}`] = (await server.rootSql(`SELECT next_not_cached_value FROM ${myId(db)}.${myId(unbatch(seq))};`)).trim();
  }
  return out;
}

const PG_SETTINGS = "SET extra_float_digits = 3; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET bytea_output = 'hex';";

async function postgresFingerprint(server: DbServer, db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const user = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";
  // Names may hold newlines and tabs (psql prints them as they are): read as hex, keys with them escaped.
  const fromHex = (text: string): string[] => lines(text).map(([h]) => Buffer.from(h, "hex").toString("utf8"));
  const hexName = "encode(convert_to(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'UTF8'), 'hex')";
  const tables = fromHex(await server.rootSql(
    `SELECT ${hexName} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND ${user} ORDER BY 1;`, db));
  for (const t of tables) {
    const r = await server.rootSql(`${PG_SETTINGS} SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) FROM ONLY ${t} t;`, db);
    out[`table:${t}`] = r.trim();
  }
  const keyEscaped = (selects: string): string => selects.split(/;\s*\n/).filter((q) => q.trim()).map((q) =>
    `SELECT replace(replace(replace(k, E'\\\\', E'\\\\\\\\'), E'\\n', E'\\\\n'), E'\\t', E'\\\\t'), v FROM (${q.replace(/;\s*$/, "")}) AS s(k, v);`).join("\n");
  const defs = lines(await server.rootSql(`${PG_SETTINGS}` + keyEscaped(`
    SELECT 'column:' || c.oid::regclass || '.' || a.attname, md5(concat_ws('|', (SELECT count(*) FROM pg_attribute p WHERE p.attrelid = a.attrelid AND p.attnum BETWEEN 1 AND a.attnum AND NOT p.attisdropped), format_type(a.atttypid, a.atttypmod), a.attnotnull,
      pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity, col_description(c.oid, a.attnum)))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum WHERE ${user} AND c.relkind IN ('r', 'p', 'v', 'm');
    SELECT 'relation:' || c.oid::regclass, md5(concat_ws('|', c.relkind, c.relrowsecurity, c.relforcerowsecurity, obj_description(c.oid, 'pg_class'),
      CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END, pg_get_expr(c.relpartbound, c.oid)))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${user} AND c.relkind IN ('r', 'p', 'v', 'm', 'S');
    SELECT 'index:' || c.oid::regclass, md5(pg_get_indexdef(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${user} AND c.relkind = 'i';
    SELECT 'constraint:' || co.conname || '@' || coalesce(co.conrelid::regclass::text, co.contypid::regtype::text), md5(pg_get_constraintdef(co.oid))
      FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace WHERE ${user};
    SELECT 'function:' || p.oid::regprocedure, md5(CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${user}
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = p.oid AND e.deptype = 'e');
    SELECT 'trigger:' || t.tgname || '@' || t.tgrelid::regclass, md5(pg_get_triggerdef(t.oid)) FROM pg_trigger t WHERE NOT t.tgisinternal;
    SELECT 'rule:' || r.rulename || '@' || r.ev_class::regclass, md5(pg_get_ruledef(r.oid)) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${user} AND r.rulename <> '_RETURN';
    SELECT 'policy:' || policyname || '@' || tablename, md5(concat_ws('|', cmd, permissive, qual, with_check, roles::text)) FROM pg_policies;
    SELECT 'type:' || t.oid::regtype, md5(concat_ws('|', t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
      (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid)))
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ${user} AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 OR (t.typtype = 'd' AND ${user});
    SELECT 'extension:' || extname, md5(extversion) FROM pg_extension;
    SELECT 'large-object:' || oid, md5(lo_get(oid)) FROM pg_largeobject_metadata;
    SELECT 'comment:' || c.oid::regclass, md5(d.description) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${user};`), db));
  for (const [k, v] of defs) out[k] = v;
  const seqs = fromHex(await server.rootSql(
    `SELECT ${hexName} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND ${user};`, db));
  for (const q of seqs) out[`sequence-position:${q}`] = (await server.rootSql(`SELECT last_value || '/' || is_called FROM ${q};`, db)).trim();
  return out;
}

export function contentFingerprint(server: DbServer, db: string): Promise<Record<string, string>> {
  return server.engine === "mariadb" ? mariadbFingerprint(server, db) : postgresFingerprint(server, db);
}
