// Static checks of the on-host toolkit: shellcheck (style level) over scripts/host, following every
// sourced library, plus the secret installer the components ship; python3 byte-compiles dumpkit.py.
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { secretInstallScript } from "../../components/hostFiles";
import { run } from "../support/proc";

const HOST = path.resolve(__dirname, "..", "..", "scripts", "host");

test("shellcheck -S style passes on dbtier-db and every library it sources", async () => {
  const r = await run("shellcheck", ["-S", "style", "-x", "dbtier-db"], { cwd: HOST });
  expect(r.stdout + r.stderr).toBe("");
  expect(r.code).toBe(0);
});

test("every lib/*.sh is sourced by dbtier-db (so shellcheck covers it)", () => {
  const entry = readFileSync(path.join(HOST, "dbtier-db"), "utf8");
  for (const lib of readdirSync(path.join(HOST, "lib")).filter((f) => f.endsWith(".sh"))) {
    expect(entry).toContain(`source "$DBTIER_LIB/${lib}"`);
  }
});

test("shellcheck passes on the rendered secret install script", async () => {
  const r = await run("shellcheck", ["-S", "style", "-s", "bash", "-"], { input: secretInstallScript() });
  expect(r.stdout + r.stderr).toBe("");
  expect(r.code).toBe(0);
});

test("dumpkit.py compiles with python3", async () => {
  const r = await run("python3", ["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", path.join(HOST, "lib", "dumpkit.py")]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});
