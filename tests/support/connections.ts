/**
 * Takes every connection slot of a test server, so the next login gets "Too many connections" (MariaDB) or
 * "sorry, too many clients already" (PostgreSQL), as a busy DBaaS answers.
 *
 *   fillConnections(server, { endSessionsOf }): Promise<ConnectionHog>   opens connections as the server's
 *     admin over TLS until the server refuses one (bounded: at most MAX_SLOTS), and holds them; with
 *     endSessionsOf=USER, that user's sessions are then ended (KILL CONNECTION / pg_terminate_backend) and
 *     their slots taken as well, so a client in the middle of its work loses its connections and cannot
 *     get new ones
 *   ConnectionHog.count, ConnectionHog.release()      closes them all and waits for the holder to exit
 *   holdTable(server, db, table): Promise<TableHold>  one admin session idle in a transaction that read the
 *     table (a dead client's session, as the server sees it); TableHold.session, TableHold.release()
 *
 * The admin of the test servers is a superuser (SUPER / SUPERUSER), so it also takes the slots a server
 * keeps for superusers (MariaDB's extra connection, PostgreSQL's superuser_reserved_connections): nobody
 * gets in. Debian's python3-pymysql / python3-psycopg2 (what the toolkit uses) hold the connections; the
 * password goes on stdin, never into argv.
 */
import { spawn } from "child_process";
import type { DbServer } from "./servers";

const MAX_SLOTS = 300;

const HOLDER = `
import sys
import time
password = sys.stdin.readline().rstrip("\\n")
engine, host, port, user, ca, limit, victim = sys.argv[1:8]
held = []
refusal = ""

def fill():
    global refusal
    for _ in range(int(limit) - len(held)):
        try:
            if engine == "mariadb":
                import pymysql
                c = pymysql.connect(host=host, port=int(port), user=user, password=password,
                                    ssl={"ca": ca, "check_hostname": False}, connect_timeout=10, autocommit=True)
            else:
                import psycopg2
                c = psycopg2.connect(host=host, port=int(port), user=user, password=password,
                                     dbname="postgres", sslmode="require", connect_timeout=10)
                c.autocommit = True
            held.append(c)
        except Exception as e:
            refusal = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            return

fill()
if victim and held:
    # The victim's sessions are ended (a dropped connection) and their slots taken too: it cannot reconnect.
    cur = held[0].cursor()
    if engine == "mariadb":
        cur.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (victim,))
        for (pid,) in cur.fetchall():
            try:
                cur.execute(f"KILL CONNECTION {int(pid)}")
            except Exception:
                pass
    else:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (victim,))
    time.sleep(0.5)
    fill()
if not refusal or not held:
    print(f"FAILED {len(held)} {refusal or 'never refused'}", flush=True)
    sys.exit(1)
print(f"HELD {len(held)} {refusal}", flush=True)
sys.stdin.read()
`;

export interface ConnectionHog {
  readonly count: number;
  /** The server's own refusal of the connection after the last one held. */
  readonly refusal: string;
  release(): Promise<void>;
}

export async function fillConnections(server: DbServer, { endSessionsOf = "" }: { endSessionsOf?: string } = {}): Promise<ConnectionHog> {
  const args = [server.engine, server.host, String(server.port), server.admin.user, server.tls.caCert, String(MAX_SLOTS), endSessionsOf];
  const { held, release } = await startHolder(HOLDER, args, server.admin.password, /^HELD (\d+) (.*)$/, "fillConnections");
  return { count: Number(held[1]), refusal: held[2], release };
}

interface Holder {
  /** The holder's first line of output, matched. */
  readonly held: RegExpExecArray;
  /** Closes its stdin (it then closes its connections and exits) and waits for its exit. */
  release(): Promise<void>;
}

/** Starts a holder script with the admin's password on its stdin; resolves once its first line of output
 * matches `held`, else the holder is released and the line and its stderr are the error. */
async function startHolder(script: string, args: string[], password: string, held: RegExp, what: string): Promise<Holder> {
  const child = spawn("/usr/bin/python3", ["-c", script, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const release = async () => {
    child.stdin.end();
    await exited;
  };
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdin.write(`${password}\n`);
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.on("close", (code) => {
      if (!out.includes("\n")) reject(new Error(`${what}: the holder exited ${code}: ${err}`));
    });
  });
  const m = held.exec(line);
  if (!m) {
    await release();
    throw new Error(`${what}: ${line} ${err}`);
  }
  return { held: m, release };
}

const TABLE_HOLDER = `
import sys
password = sys.stdin.readline().rstrip("\\n")
engine, host, port, user, db, table = sys.argv[1:7]
if engine == "mariadb":
    import pymysql
    c = pymysql.connect(host=host, port=int(port), user=user, password=password, ssl={"check_hostname": False},
                        connect_timeout=10)
    cur = c.cursor()
    cur.execute("START TRANSACTION")
    cur.execute(f"SELECT 1 FROM \`{db}\`.\`{table}\` LIMIT 1")
    cur.execute("SELECT CONNECTION_ID()")
else:
    import psycopg2
    c = psycopg2.connect(host=host, port=int(port), user=user, password=password, dbname=db, sslmode="require",
                         connect_timeout=10)
    cur = c.cursor()
    cur.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
    cur.execute("SELECT pg_backend_pid()")
print(f"HELD {cur.fetchone()[0]}", flush=True)
sys.stdin.read()
`;

export interface TableHold {
  /** The holding session's id (MariaDB connection id / PostgreSQL backend pid). */
  readonly session: number;
  release(): Promise<void>;
}

/**
 * A session of the server's admin over TLS, idle inside a transaction that read `table` of `db`: it holds the
 * table's metadata lock (MariaDB) / its database open (PostgreSQL), as a session left behind by a client that
 * died without closing its connection does until the server notices.
 */
export async function holdTable(server: DbServer, db: string, table: string): Promise<TableHold> {
  const args = [server.engine, server.host, String(server.port), server.admin.user, db, table];
  const { held, release } = await startHolder(TABLE_HOLDER, args, server.admin.password, /^HELD (\d+)$/, "holdTable");
  return { session: Number(held[1]), release };
}
