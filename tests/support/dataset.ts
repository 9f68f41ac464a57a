/**
 * A test application database with the awkward parts real ones have, and independent checksums.
 *
 *   seedDataset(server, db, { rows, largeRowBytes }): create db and fill it (as the server's superuser):
 *     utf8mb4 emoji and accents, quotes/backslashes/newlines and "),(" inside strings, NULLs, binary blobs
 *     with every byte value, one large row (default 3 MiB), a view, a trigger, a procedure and a function,
 *     foreign keys, and a table without a primary key (`audit`), which DBaaS targets must cope with.
 *   datasetSql(engine, { rows, largeRowBytes }): the same as one SQL script (for a baseline dump file
 *     or to load through another client).
 *   tableChecksums(server, db): Record<table, "rows:sum"> computed by SQL from the visible column values
 *     (hex of each value, order-independent sum of md5s), independent of dbtier's own manifest.
 *   objectNames(server, db): sorted names of views, triggers and routines.
 */
import { randomBytes } from "crypto";
import { pgString } from "./servers";
import type { DbServer, ServerEngine } from "./servers";

export interface DatasetOptions {
  readonly rows?: number;
  readonly largeRowBytes?: number;
}

const AWKWARD = [
  "plain",
  "emoji 😀🎉 and accents café Ω ß",
  "quote ' double \" backslash \\ end",
  "separator ),( inside and (parens)",
  "line\nbreak\ttab\r\n",
  "",
];

function mysqlString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}'`;
}

export function datasetSql(engine: ServerEngine, { rows = 2000, largeRowBytes = 3 * 1024 * 1024 }: DatasetOptions = {}): string {
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("hex");
  const large = randomBytes(largeRowBytes).toString("hex");
  if (engine === "mariadb") {
    const awkward = AWKWARD.map((s, i) => `(${i + 1}, ${mysqlString(s)}, ${i % 2 ? "NULL" : mysqlString(s + " note")}, ${i % 3 ? i * 1.5 : "NULL"}, ${i}.25)`).join(",\n");
    return `
SET SESSION max_recursive_iterations = 10000000;
CREATE TABLE customers (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  note TEXT NULL,
  score DOUBLE NULL,
  amount DECIMAL(12,2) NULL,
  created DATETIME(6) NOT NULL DEFAULT '2024-02-29 12:34:56.789012'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  total DECIMAL(12,2) NULL,
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE blobs (id INT NOT NULL PRIMARY KEY, data LONGBLOB NULL, bin VARBINARY(300) NULL) ENGINE=InnoDB;
CREATE TABLE audit (msg VARCHAR(200) NULL, at DATETIME NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO customers (id, name, note, score, amount) VALUES
${awkward};
INSERT INTO customers (name, note, score, amount)
  WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${rows})
  SELECT CONCAT('customer ', n, ' 🚀'), IF(n % 7 = 0, NULL, REPEAT('x', n % 50)), n / 3, n * 1.01 FROM seq;
INSERT INTO orders (customer_id, total)
  WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${rows * 2})
  SELECT 1 + (n % ${rows}), IF(n % 11 = 0, NULL, n * 0.5) FROM seq;
INSERT INTO blobs VALUES (1, X'${allBytes}', X'${allBytes.slice(0, 64)}'), (2, NULL, NULL), (3, X'', X'00'), (4, X'${large}', NULL);
INSERT INTO audit VALUES ('seeded', '2024-01-01 00:00:00'), (NULL, NULL), ('seeded', '2024-01-01 00:00:00');
CREATE VIEW customer_totals AS SELECT c.id, c.name, SUM(o.total) AS total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit VALUES (CONCAT('order ', NEW.id), '2024-01-02 00:00:00');
DELIMITER ;;
CREATE PROCEDURE add_order(IN cid INT, IN amt DECIMAL(12,2)) BEGIN INSERT INTO orders (customer_id, total) VALUES (cid, amt); END;;
CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;;
DELIMITER ;
`;
  }
  const awkward = AWKWARD.map((s, i) => `(${i + 1}, ${pgString(s)}, ${i % 2 ? "NULL" : pgString(s + " note")}, ${i % 3 ? i * 1.5 : "NULL"}, ${i}.25)`).join(",\n");
  return `
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  note text,
  score double precision,
  amount numeric(12,2),
  tags text[],
  doc jsonb,
  created timestamptz NOT NULL DEFAULT '2024-02-29 12:34:56.789012+00'
);
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  total numeric(12,2)
);
CREATE TABLE blobs (id int PRIMARY KEY, data bytea, bin bytea);
CREATE TABLE audit (msg text, at timestamp);
INSERT INTO customers (id, name, note, score, amount) VALUES
${awkward};
SELECT setval('customers_id_seq', 100);
INSERT INTO customers (name, note, score, amount, tags, doc)
  SELECT 'customer ' || n || ' 🚀', CASE WHEN n % 7 = 0 THEN NULL ELSE repeat('x', n % 50) END, n / 3.0, n * 1.01,
         ARRAY['a' || n, NULL, 'emoji 😀'], jsonb_build_object('n', n, 's', 'é"\\')
  FROM generate_series(1, ${rows}) AS n;
INSERT INTO orders (customer_id, total)
  SELECT 101 + (n % ${rows}), CASE WHEN n % 11 = 0 THEN NULL ELSE n * 0.5 END FROM generate_series(1, ${rows * 2}) AS n;
INSERT INTO blobs VALUES (1, '\\x${allBytes}', '\\x${allBytes.slice(0, 64)}'), (2, NULL, NULL), (3, '\\x', '\\x00'), (4, '\\x${large}', NULL);
INSERT INTO audit VALUES ('seeded', '2024-01-01 00:00:00'), (NULL, NULL), ('seeded', '2024-01-01 00:00:00');
CREATE VIEW customer_totals AS SELECT c.id, c.name, sum(o.total) AS total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES ('order ' || NEW.id, '2024-01-02 00:00:00'); RETURN NEW; END $$;
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
CREATE FUNCTION double_it(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x * 2';
CREATE PROCEDURE add_order(cid int, amt numeric) LANGUAGE sql AS $$ INSERT INTO orders (customer_id, total) VALUES (cid, amt) $$;
`;
}

export async function seedDataset(server: DbServer, db: string, opts: DatasetOptions = {}): Promise<void> {
  if (server.engine === "mariadb") {
    await server.rootSql(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
  } else {
    await server.rootSql(`CREATE DATABASE "${db}" ENCODING 'UTF8' TEMPLATE template0;`);
  }
  await server.rootSql(datasetSql(server.engine, opts), db);
}

export async function tableChecksums(server: DbServer, db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (server.engine === "mariadb") {
    const cols = await server.rootSql(
      `SELECT table_name, GROUP_CONCAT(CONCAT('IFNULL(HEX(\`', column_name, '\`), ''~'')') ORDER BY ordinal_position SEPARATOR ', ')
       FROM information_schema.columns c
       WHERE table_schema = '${db}' AND extra NOT LIKE '%INVISIBLE%'
         AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = '${db}' AND table_type = 'BASE TABLE')
       GROUP BY table_name ORDER BY table_name;`,
    );
    for (const line of cols.trim().split("\n").filter(Boolean)) {
      const [table, expr] = line.split("\t");
      const r = await server.rootSql(
        `SET SESSION group_concat_max_len = 1048576; SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', ${expr})), 1, 15), 16, 10) AS UNSIGNED)), 0)) FROM \`${db}\`.\`${table}\`;`,
      );
      out[table] = r.trim();
    }
  } else {
    const tables = await server.rootSql(
      "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1;",
      db,
    );
    for (const table of tables.trim().split("\n").filter(Boolean)) {
      const [schema, name] = table.split(".");
      const r = await server.rootSql(
        `SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) FROM "${schema}"."${name}" t;`,
        db,
      );
      out[table] = r.trim();
    }
  }
  return out;
}

export async function objectNames(server: DbServer, db: string): Promise<string[]> {
  const sql =
    server.engine === "mariadb"
      ? `SELECT CONCAT('view:', table_name) FROM information_schema.views WHERE table_schema = '${db}'
         UNION ALL SELECT CONCAT('trigger:', trigger_name) FROM information_schema.triggers WHERE trigger_schema = '${db}'
         UNION ALL SELECT CONCAT(LOWER(routine_type), ':', routine_name) FROM information_schema.routines WHERE routine_schema = '${db}'
         UNION ALL SELECT CONCAT('fk:', constraint_name) FROM information_schema.referential_constraints WHERE constraint_schema = '${db}';`
      : `SELECT 'view:' || table_name FROM information_schema.views WHERE table_schema = 'public'
         UNION ALL SELECT 'trigger:' || tgname FROM pg_trigger WHERE NOT tgisinternal
         UNION ALL SELECT lower(routine_type) || ':' || routine_name FROM information_schema.routines WHERE routine_schema = 'public'
         UNION ALL SELECT 'fk:' || conname FROM pg_constraint WHERE contype = 'f';`;
  const r = await server.rootSql(sql, db);
  return r.trim().split("\n").filter(Boolean).sort();
}
