// fingerprint.py's reading of a MariaDB/MySQL dump stream with each row's hash as its last field
// (mysql-row-sha256): the hashes are summed and taken off the lines before they become INSERT statements,
// and a line whose hash is missing or NULL stops the dump instead of leaving a row undigested.
import * as path from "path";
import { run } from "../support/proc";

const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");

/** Splits the chunks (Python bytes literals, the client's lines) and feeds them to one RowHashSum; prints its
 * result and the lines given back. */
async function rowHashSum(chunks: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(LIB)})`,
    "import fingerprint",
    "d = fingerprint.RowHashSum('t')",
    "lines = []",
    "try:",
    `    for c in [${chunks.join(", ")}]:`,
    "        rows, hashes = fingerprint.split_row_hashes('t', c)",
    "        d.add(rows, hashes)",
    "        lines.append(rows)",
    "except fingerprint.Failure as e:",
    "    print(e, file=sys.stderr); sys.exit(1)",
    "print(json.dumps({'result': d.result(), 'lines': [l.decode() for l in lines]}))",
  ].join("\n");
  return run("python3", ["-c", script]);
}

describe("mysql-row-sha256 hashes in the dump stream", () => {
  test("summed mod 2^64 over chunks, and the lines come back without them", async () => {
    const r = await rowHashSum([
      String.raw`b"(1,'a\\tb')\tffffffffffffffff\n(2,NULL)\t0000000000000002\n"`,
      String.raw`b"(3,'x')\t0000000000000001\n"`,
    ]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      result: { rows: 3, digest: "0000000000000002" },
      lines: [String.raw`(1,'a\tb')` + "\n(2,NULL)\n", "(3,'x')\n"],
    });
  });

  test.each([
    ["a NULL hash (the server could not hash the row)", String.raw`b"(1)\t0000000000000001\n(2)\tNULL\n"`, /could not hash a row/],
    ["a line without its hash", String.raw`b"(1)\t0000000000000001\n(2)\n"`, /a row line without its hash field/],
    ["a short hash", String.raw`b"(1)\t000000000000001\n"`, /a row line without its hash field/],
  ])("%s stops the dump", async (_what, chunk, message) => {
    const r = await rowHashSum([chunk]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });
});
