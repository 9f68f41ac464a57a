// scripts/host/lib/parallel-load.py against real MariaDB and PostgreSQL servers: awkward data
// (quotes, backslashes, newlines, ';' and '--' in strings, unicode, NULLs, blobs), a table without a
// primary key, a trigger that would corrupt counts if fired during the load, a view and routines.
// The dump is reloaded through the command-line clients and the in-process drivers, with 1 and 3
// connections, over plain TCP and TLS, and must re-dump to the same content.
import { execFileSync } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");

type JobResult = { rc: number; jobs: number; identical_redump: boolean; same_lines: boolean; checksums_match: boolean; stderr: string; diff_hint: string };

function loadcheck(): Record<string, Record<string, JobResult>> {
  const out = execFileSync("python3", [path.join(ROOT, "scripts/bench/lib/loadcheck.py")], {
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 16 << 20,
  });
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

describe("parallel-load round trip", () => {
  let results: Record<string, Record<string, JobResult>>;
  beforeAll(() => {
    results = loadcheck();
  }, 150_000);

  const variants = ["cli-1-disable", "cli-3-disable", "driver-1-disable", "driver-3-require", "driver-3-verify-ca", "driver-3-defer"];
  for (const engine of ["mariadb", "postgres"]) {
    for (const variant of variants.filter((v) => engine === "mariadb" || !v.endsWith("-defer"))) {
      test(`${engine} through ${variant.replace(/-(\d)-/, " with $1 connection(s), ").replace(/(disable|require|verify-ca)$/, "TLS $1").replace(/defer$/, "indexes built after the data")} reproduces every row and object exactly`, () => {
        const r = results[engine][variant];
        expect(r.stderr).toBe("");
        expect(r.rc).toBe(0);
        expect(r.checksums_match).toBe(true);
        // Same schema, routines, triggers, views and rows. PostgreSQL's heap order is not the insertion
        // order (parallel COPY; and TOAST LZ4 changes tuple sizes, so the free space map places rows
        // elsewhere), so there the dump's lines are compared as a multiset.
        if (engine === "postgres") expect(r.same_lines).toBe(true);
        else expect({ identical: r.identical_redump, firstDiff: r.diff_hint }).toEqual({ identical: true, firstDiff: "" });
      });
    }
  }

  test("mariadb over the local socket (DB_SOCKET), no TLS needed, reproduces every row and object exactly", () => {
    const r = results.mariadb["driver-2-socket"];
    expect(r.stderr).toBe("");
    expect(r.rc).toBe(0);
    expect(r.checksums_match).toBe(true);
    expect({ identical: r.identical_redump, firstDiff: r.diff_hint }).toEqual({ identical: true, firstDiff: "" });
  });

  test("mariadb: an admin on an auth plugin PyMySQL lacks (ed25519) is loaded through the mariadb client instead", () => {
    const r = results.mariadb["auto-2-ed25519"];
    expect(r.stderr).toMatch(/connection-1: cannot connect: .*ed25519.*; using the command-line client instead/);
    expect(r.rc).toBe(0);
    expect(r.checksums_match).toBe(true);
    expect({ identical: r.identical_redump, firstDiff: r.diff_hint }).toEqual({ identical: true, firstDiff: "" });
  });
});
