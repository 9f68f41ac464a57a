// `npm run promote`: its decisions as pure functions, its order of operations and each refusal with the
// Automation API, SSH and the terminal faked (promoteFakes.ts), and the real binary here, where no Pulumi
// CLI is installed, stopping with the install hint.
import { spawnSync } from "child_process";
import * as path from "path";
import {
  EXIT,
  baselineConfigChanges,
  blockingChanges,
  dataDecision,
  databaseVmNames,
  describePreview,
  interpretProbe,
  pairProblems,
  pairWarnings,
  parseArgs,
  parseBackupRef,
  parseLoadedRef,
  sshTarget,
  validateStackConfig,
} from "../../scripts/promote/decisions";
import { PreviewResult, PreviewStep } from "../../scripts/promote/ports";
import { promote } from "../../scripts/promote/run";
import { DbTierConfig } from "../../components/types";
import { BACKUP_ID, DEV_HOST_KEY, DEV_KEY, IDENTITY, PROD_HOST_KEY, ROOT, SAFETY_ID, hostsOutput, ok, previewFromPlans, stackConfig, world } from "./promoteFakes";

const ARGS = ["--from", "dev", "--to", "prod", "--identity", "/keys/age-identity"];
const CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster";
const urn = (type: string, name: string) => `urn:pulumi:prod::dbtier::dbtier:index:DatabaseTier$${type}::${name}`;
const step = (op: string, type: string, name: string, extra: Partial<PreviewStep> = {}): PreviewStep => ({
  op, urn: urn(type, name), type, protect: false, replaceKeys: [], diffKeys: [], ...extra,
});
const config = (stack: "dev" | "prod", extra: Record<string, string> = {}): DbTierConfig => {
  const result = validateStackConfig(stack, stackConfig(stack, extra));
  if (!result.ok) throw new Error(result.lines.join("\n"));
  return result.config;
};
/** Journal entries that change something anywhere: config writes, updates, remote commands other than the probe. */
const changes = (journal: readonly string[]) => journal.filter((e) => / set | remove | up \[|ssh .* (backup|verify|load)/.test(e));

describe("arguments", () => {
  it("reads the flags and the identity from the environment", () => {
    expect(parseArgs(["--from", "dev", "--to=prod", "--yes", "--overwrite", "--ssh-key", "k"], { DBTIER_AGE_IDENTITY_FILE: "/id" })).toEqual({
      ok: true,
      options: { from: "dev", to: "prod", yes: true, overwrite: true, newStack: false, identityFile: "/id", sshKeyFile: "k" },
    });
    expect(parseArgs(["--from", "dev", "--to", "prod"])).toEqual({ ok: true, options: { from: "dev", to: "prod", yes: false, overwrite: false, newStack: false } });
    expect(parseArgs(["--from", "prod", "--to", "prod-next", "--new-stack"])).toMatchObject({ ok: true, options: { newStack: true } });
  });

  it.each([
    [["--to", "prod"], /--from is required/],
    [["--from", "dev", "--to"], /--to needs a value/],
    [["--from", "dev", "--to", "prod", "--force"], /unknown argument "--force"/],
    [["--from", "acme/prod", "--to", "prod"], /same stack/],
    [["--from", "dev", "--to", "prod", "--yes=1"], /takes no value/],
    [["--from", "dev", "--to", "prod", "--new-stack=yes"], /takes no value/],
  ])("refuses %j", (argv, message) => {
    const result = parseArgs(argv as string[]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });
});

describe("pairing the stacks", () => {
  it("accepts the example dev and prod stacks, warning that the dump crosses engines", () => {
    expect(pairProblems(config("dev"), config("prod"))).toEqual([]);
    expect(pairWarnings(config("dev"), config("prod"))).toEqual([expect.stringMatching(/mariadb 11\.4 .* mysql 8: the dump crosses engines/)]);
  });

  it("refuses another engine family, another datastore and a missing admin key, all at once", () => {
    const prod = config("prod", {
      "dbtier:engine": "postgres",
      "dbtier:engineVersion": "16",
      "dbtier:backups": JSON.stringify({ datastore: { endpoint: "https://ams3.digitaloceanspaces.com", bucket: "other-bucket", region: "ams3" }, encryptionRecipient: "age197uj3uc67ms8twv7q33934gtwa9l7vgfxk0ech2jjs2txngefppqcrc9st" }),
    });
    const dev = { ...config("dev"), adminSshPublicKey: undefined };
    const problems = pairProblems(dev, prod);
    expect(problems).toEqual([
      expect.stringMatching(/^dbtier:engine: dev runs mariadb and prod runs postgres/),
      expect.stringMatching(/^dbtier:backups\.datastore: prod's proxy loads the baseline .* other-bucket/),
      expect.stringMatching(/^dbtier:adminSshPublicKey is not set on dev/),
    ]);
  });

  it("marks the baseline with the appDb fields (the source's prefix and signing key), checked by the config parser", () => {
    const marking = baselineConfigChanges("prod", stackConfig("prod"), "daily", "shop-dev", DEV_KEY);
    expect(marking).toEqual({
      changes: [
        { key: "dbtier:appDb.source", value: "daily", previous: "virgin" },
        { key: "dbtier:appDb.sourceApplication", value: "shop-dev", previous: undefined },
        { key: "dbtier:appDb.sourceSigningPublicKey", value: DEV_KEY, previous: undefined },
      ],
    });
    const marked = stackConfig("prod", { "dbtier:appDb": JSON.stringify({ source: "daily", sourceApplication: "shop-dev", sourceSigningPublicKey: DEV_KEY }) });
    expect(baselineConfigChanges("prod", marked, "daily", "shop-dev", DEV_KEY)).toEqual({ changes: [] });
    // Not a signing key: refused by the config parser, nothing marked.
    expect(baselineConfigChanges("prod", stackConfig("prod"), "daily", "shop-dev", "ssh-rsa AAAA")).toEqual({ error: [expect.stringMatching(/dbtier:appDb\.sourceSigningPublicKey: .* is not an OpenSSH ed25519 public key line/)] });
    // A target that does not keep daily backups cannot load one.
    const weeklyOnly = stackConfig("prod", { "dbtier:backups": JSON.stringify({ ...JSON.parse(stackConfig("prod")["dbtier:backups"].value), periods: ["weekly"] }) });
    expect(baselineConfigChanges("prod", weeklyOnly, "daily", "shop-dev", DEV_KEY)).toEqual({ error: [expect.stringMatching(/dbtier:appDb\.source: "daily" is not among dbtier:backups\.periods/)] });
  });
});

describe("reading the preview", () => {
  it("blocks a protected resource that would be replaced or deleted", () => {
    const preview: PreviewResult = {
      steps: [
        step("replace", CLUSTER, "prod-db", { protect: true, replaceKeys: ["engine"] }),
        step("create-replacement", CLUSTER, "prod-db", { protect: true }),
        step("delete", "digitalocean:index/databaseUser:DatabaseUser", "prod-user", { protect: true }),
        step("update", "digitalocean:index/droplet:Droplet", "prod-proxy", { protect: true, diffKeys: ["size"] }),
        step("replace", "command:remote:Command", "prod-proxy-host-files", { replaceKeys: ["stdin"] }),
      ],
      diagnostics: [],
    };
    expect(blockingChanges(preview)).toEqual([
      {
        urn: urn(CLUSTER, "prod-db"), type: CLUSTER, op: "replace",
        why: "protected, the managed database and its data; replace because of engine (DigitalOcean DatabaseCluster forces a new resource when engine changes [do database/resource_database_cluster.go])",
      },
      { urn: urn("digitalocean:index/databaseUser:DatabaseUser", "prod-user"), type: "digitalocean:index/databaseUser:DatabaseUser", op: "delete", why: "protected; delete" },
    ]);
  });

  it("blocks a managed database even when it is not protected, and the engine's own protect error", () => {
    expect(blockingChanges({ steps: [step("delete-replaced", "aws:rds/instance:Instance", "prod-db")], diagnostics: [] })).toHaveLength(1);
    const engineRefusal: PreviewResult = { steps: [], diagnostics: [], error: "error: unable to replace resource \"urn:...prod-db\"\nas it is currently marked for protection." };
    expect(blockingChanges(engineRefusal)).toEqual([expect.objectContaining({ why: expect.stringMatching(/the engine refused: .*marked for protection/) })]);
    expect(blockingChanges({ steps: [step("update", CLUSTER, "prod-db", { protect: true })], diagnostics: [] })).toEqual([]);
  });

  it("blocks the other stateful resources: the application database, a volume, the database VM (not the proxy)", () => {
    const vms = databaseVmNames(hostsOutput("database", "203.0.113.20", DEV_HOST_KEY));
    expect(vms).toEqual(["database-vm-vm"]);
    const preview: PreviewResult = {
      steps: [
        step("delete", "digitalocean:index/databaseDb:DatabaseDb", "prod-app-db"),
        step("replace", "linode:index/volume:Volume", "data", { replaceKeys: ["region"] }),
        step("replace", "digitalocean:index/droplet:Droplet", "database-vm-vm", { replaceKeys: ["userData"] }),
        step("replace", "digitalocean:index/droplet:Droplet", "proxy-vm-vm", { replaceKeys: ["userData"] }),
      ],
      diagnostics: [],
    };
    const blocked = blockingChanges(preview, vms);
    expect(blocked.map((b) => `${b.op} ${b.urn.split("::").pop()}`)).toEqual(["delete prod-app-db", "replace data", "replace database-vm-vm"]);
    expect(blocked[2].why).toMatch(/^the self-managed database VM; replace because of userData \(DigitalOcean Droplet forces a new resource when userData changes/);
    expect(blockingChanges(preview)).toHaveLength(2);
  });

  it("says whether an engine version change upgrades in place or replaces", () => {
    const inPlace = describePreview({ steps: [step("update", CLUSTER, "prod-db", { protect: true, diffKeys: ["version"] })], diagnostics: [] });
    expect(inPlace.join("\n")).toMatch(/update  prod-db .*\[version\]\n.*the provider upgrades prod-db in place \(version\)/);
    const replaced = describePreview({
      steps: [step("replace", "linode:index/databaseMysqlV2:DatabaseMysqlV2", "prod-db", { replaceKeys: ["engineId"] }), step("create-replacement", CLUSTER, "prod-db"), step("same", CLUSTER, "x")],
      diagnostics: [],
    });
    expect(replaced).toEqual([expect.stringMatching(/replace prod-db .*\[engineId\]/), expect.stringMatching(/REPLACES prod-db with a new, empty cluster; follow the safe path in docs\/delivery\.md/)]);
    expect(describePreview({ steps: [], diagnostics: [] })).toEqual(["  no infrastructure changes"]);
  });
});

describe("hosts and remote answers", () => {
  it("finds the VM that runs dbtier-db: the database VM on dev, the proxy on prod, with its pinned key", () => {
    expect(sshTarget("dev", config("dev"), hostsOutput("database", "203.0.113.20", DEV_HOST_KEY))).toEqual({
      stack: "dev", role: "database", host: "203.0.113.20", user: "dbtier-admin", hostPublicKey: DEV_HOST_KEY, label: "dev database database-vm",
    });
    expect(sshTarget("prod", config("prod"), hostsOutput("database", "203.0.113.30", PROD_HOST_KEY))).toBeUndefined();
    expect(sshTarget("prod", config("prod"), {})).toBeUndefined();
    expect(sshTarget("prod", config("prod"), hostsOutput("proxy", "203.0.113.30", "ssh-rsa AAAA"))).toBeUndefined();
  });

  it("parses the marker lines and nothing else", () => {
    expect(parseBackupRef(`noise\nDBTIER_BACKUP=daily/${BACKUP_ID}\n`)).toEqual({ period: "daily", id: BACKUP_ID });
    expect(parseBackupRef("DBTIER_BACKUP=daily/latest\n")).toBeUndefined();
    expect(parseLoadedRef(`DBTIER_LOADED=daily/${BACKUP_ID}\n`)).toEqual({ period: "daily", id: BACKUP_ID });
    expect(interpretProbe(ok("DBTIER_OBJECTS=0\n"))).toEqual({ kind: "empty" });
    expect(interpretProbe(ok("DBTIER_OBJECTS=12\n"))).toEqual({ kind: "has-data", objects: 12 });
    expect(interpretProbe({ code: 255, stdout: "", stderr: "Host key verification failed.\n" })).toEqual({ kind: "unknown", why: "Host key verification failed." });
  });

  it("never replaces data without --overwrite", () => {
    expect(dataDecision("prod", { kind: "has-data", objects: 3 }, false)).toEqual({ proceed: false, message: expect.stringMatching(/holds data \(3 tables.*--overwrite/) });
    expect(dataDecision("prod", { kind: "unknown", why: "timeout" }, false).proceed).toBe(false);
    expect(dataDecision("prod", { kind: "has-data", objects: 3 }, true).proceed).toBe(true);
    expect(dataDecision("prod", { kind: "empty" }, false).proceed).toBe(true);
    expect(dataDecision("prod", { kind: "absent", why: "not deployed yet" }, false).proceed).toBe(true);
  });
});

describe("promote, with the Automation API, SSH and the terminal faked", () => {
  it("happy path: validate, preview, probe, plan, backup, verify, mark, preview again, up, load, in that order", async () => {
    const w = world();
    const code = await promote([...ARGS, "--yes"], w.deps());
    expect(w.err).toEqual([]);
    expect(code).toBe(EXIT.ok);
    expect(w.journal).toEqual([
      "cli",
      "read identity /keys/age-identity",
      "select dev",
      "select prod",
      "dev: config",
      "prod: config",
      "prod: preview [policy]",
      "ssh dbtier-admin@203.0.113.30 probe",
      "ssh dbtier-admin@203.0.113.20 backup daily",
      "ssh dbtier-admin@203.0.113.20 verify " + BACKUP_ID + " <identity",
      "prod: set dbtier:appDb.source=daily (path)",
      "prod: set dbtier:appDb.sourceApplication=shop-dev (path)",
      `prod: set dbtier:appDb.sourceSigningPublicKey=${DEV_KEY} (path)`,
      "prod: preview [policy]",
      `prod: up [policy] "dbtier promote dev -> prod: baseline daily/${BACKUP_ID}"`,
      "ssh dbtier-admin@203.0.113.30 load " + BACKUP_ID + " <identity",
    ]);
    // The identity went to the hosts on stdin only when decrypting, never otherwise.
    expect(w.stdins).toEqual([undefined, undefined, IDENTITY, IDENTITY]);
    expect(w.out.join("\n")).toMatch(/Promotion plan: dev -> prod/);
    expect(w.out.join("\n")).toMatch(/prod's database is empty/);
    expect(w.out[w.out.length - 1]).toMatch(new RegExp(`done\\. prod now holds dev's data as of daily/${BACKUP_ID}`));
    expect(JSON.parse(w.prod.config["dbtier:appDb"].value)).toEqual({ source: "daily", sourceApplication: "shop-dev", sourceSigningPublicKey: DEV_KEY });
  });

  it("creates a prod that does not exist yet with its current config before marking the baseline", async () => {
    const w = world();
    w.prod.outputsBefore = {};
    const code = await promote([...ARGS, "--yes"], w.deps());
    expect(code).toBe(EXIT.ok);
    const tail = w.journal.slice(w.journal.indexOf("prod: preview [policy]") + 1);
    expect(tail).toEqual([
      "ssh dbtier-admin@203.0.113.20 backup daily",
      `ssh dbtier-admin@203.0.113.20 verify ${BACKUP_ID} <identity`,
      `prod: up [policy] "dbtier promote dev -> prod: baseline daily/${BACKUP_ID} (create)"`,
      "prod: set dbtier:appDb.source=daily (path)",
      "prod: set dbtier:appDb.sourceApplication=shop-dev (path)",
      `prod: set dbtier:appDb.sourceSigningPublicKey=${DEV_KEY} (path)`,
      "prod: preview [policy]",
      `prod: up [policy] "dbtier promote dev -> prod: baseline daily/${BACKUP_ID}"`,
      `ssh dbtier-admin@203.0.113.30 load ${BACKUP_ID} <identity`,
    ]);
  });

  it("refuses a protected replacement in prod's preview, before anything changes", async () => {
    const w = world();
    w.prod.previews = [{ steps: [step("replace", CLUSTER, "prod-db", { protect: true, replaceKeys: ["engine"] })], diagnostics: [] }];
    const code = await promote([...ARGS, "--yes"], w.deps());
    expect(code).toBe(EXIT.refused);
    expect(w.err.join("\n")).toMatch(/refused: the update of prod would destroy stateful resources:\n  replace urn:.*prod-db: protected, the managed database and its data; replace because of engine/);
    expect(w.err.join("\n")).toMatch(/safe path in docs\/delivery\.md/);
    expect(changes(w.journal)).toEqual([]);
    expect(w.journal).not.toContain("ssh dbtier-admin@203.0.113.30 probe");
  });

  it("refuses, and puts the config back, when marking the baseline would replace a protected resource", async () => {
    const w = world();
    const before = JSON.parse(JSON.stringify(w.prod.config));
    w.prod.previews = [{ steps: [], diagnostics: [] }, { steps: [step("delete", CLUSTER, "prod-db", { protect: true })], diagnostics: [] }];
    const code = await promote([...ARGS, "--yes"], w.deps());
    expect(code).toBe(EXIT.refused);
    expect(w.err[0]).toMatch(/with the baseline marked, the update of prod would destroy/);
    expect(w.journal.filter((e) => e.startsWith("prod: remove"))).toEqual(["prod: remove dbtier:appDb.sourceApplication (path)", "prod: remove dbtier:appDb.sourceSigningPublicKey (path)"]);
    expect(w.journal).toContain("prod: set dbtier:appDb.source=virgin (path)");
    expect(JSON.parse(w.prod.config["dbtier:appDb"].value)).toEqual(JSON.parse(before["dbtier:appDb"].value));
    expect(w.journal.some((e) => e.includes(": up ["))).toBe(false);
  });

  it("refuses to overwrite a prod database that has data, unless --overwrite", async () => {
    const w = world();
    w.remoteScript = (_t, args) => (args[0] === "probe" ? ok("DBTIER_OBJECTS=42\n") : undefined);
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    expect(w.err[0]).toMatch(/refused: prod's database holds data \(42 tables\/views\/routines\); re-run with --overwrite/);
    expect(changes(w.journal)).toEqual([]);
  });

  it("with --overwrite, takes a safety backup of prod before loading with --force", async () => {
    const w = world();
    w.remoteScript = (_t, args) => (args[0] === "probe" ? ok("DBTIER_OBJECTS=42\n") : undefined);
    expect(await promote([...ARGS, "--yes", "--overwrite"], w.deps())).toBe(EXIT.ok);
    expect(w.journal.slice(-2)).toEqual(["ssh dbtier-admin@203.0.113.30 backup daily", `ssh dbtier-admin@203.0.113.30 load ${BACKUP_ID} --force <identity`]);
    expect(w.out.join("\n")).toMatch(new RegExp(`previous data is in daily/${SAFETY_ID}`));
  });

  it("refuses when it cannot tell whether prod has data", async () => {
    const w = world();
    w.remoteScript = (_t, args) => (args[0] === "probe" ? { code: 255, stdout: "", stderr: "ssh: connect to host 203.0.113.30 port 22: Connection timed out\n" } : undefined);
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    expect(w.err[0]).toMatch(/could not tell whether prod's database holds data \(ssh: connect .* timed out\)/);
    expect(changes(w.journal)).toEqual([]);
  });

  it.each([
    ["dev", { "dbtier:engineVersion": "9.9" }, /dev: dbtier:engineVersion: /],
    ["prod", { "dbtier:adminCidrs": JSON.stringify(["0.0.0.0/0"]) }, /prod: dbtier:adminCidrs\[0\]: /],
    ["prod", { "dbtier:engin": "mysql" }, /prod: dbtier:engin: is not a known key; did you mean "engine"/],
  ] as const)("refuses invalid %s config, naming the key", async (stack, extra, message) => {
    const w = world();
    (stack === "dev" ? w.dev : w.prod).config = stackConfig(stack, extra);
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.usage);
    expect(w.err[0]).toBe("promote: invalid config, nothing was changed:");
    expect(w.err.join("\n")).toMatch(message);
    expect(w.journal.some((e) => e.includes("preview"))).toBe(false);
    expect(changes(w.journal)).toEqual([]);
  });

  it("refuses a pair that cannot share a backup", async () => {
    const w = world();
    w.prod.config = stackConfig("prod", { "dbtier:engine": "postgres", "dbtier:engineVersion": "16" });
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.usage);
    expect(w.err.join("\n")).toMatch(/dev cannot be promoted to prod.*\n  dbtier:engine: dev runs mariadb and prod runs postgres/);
  });

  it("stops without the Pulumi CLI, saying how to install it, before touching any stack", async () => {
    const w = world();
    w.cli = { ok: false, reason: "`pulumi` is not on PATH" };
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.noCli);
    expect(w.err.join("\n")).toMatch(/Pulumi CLI \(`pulumi`\) is required[\s\S]*not on PATH[\s\S]*Install Pulumi CLI 3\.248\.0[\s\S]*releases\/tag\/v3\.248\.0/);
    expect(w.journal).toEqual(["cli"]);
  });

  it("refuses without a terminal to confirm on and without --yes", async () => {
    const w = world();
    expect(await promote(ARGS, w.deps())).toBe(EXIT.refused);
    expect(w.out.join("\n")).toMatch(/Promotion plan/); // the plan is shown first
    expect(w.err[0]).toMatch(/no terminal to confirm on; re-run with --yes/);
    expect(changes(w.journal)).toEqual([]);
  });

  it("asks on a terminal and stops on anything but yes", async () => {
    const no = world();
    no.interactive = true;
    no.answer = false;
    expect(await promote(ARGS, no.deps())).toBe(EXIT.refused);
    expect(no.journal).toContain("confirm: Promote dev to prod as planned?");
    expect(changes(no.journal)).toEqual([]);
    const yes = world();
    yes.interactive = true;
    yes.answer = true;
    expect(await promote(ARGS, yes.deps())).toBe(EXIT.ok);
  });

  it("needs the age identity before it reads any stack", async () => {
    const w = world();
    expect(await promote(["--from", "dev", "--to", "prod", "--yes"], w.deps())).toBe(EXIT.usage);
    expect(w.err[0]).toMatch(/no age identity: pass --identity FILE or set DBTIER_AGE_IDENTITY_FILE/);
    const bad = world();
    bad.identity = "ssh-ed25519 AAAA not an age key\n";
    expect(await promote([...ARGS, "--yes"], bad.deps())).toBe(EXIT.usage);
    expect(bad.journal.some((e) => e.startsWith("select"))).toBe(false);
  });

  it("refuses a source without a backup signing key output: the target could not authenticate its backups", async () => {
    const w = world();
    const { backupSigningPublicKey: _dropped, ...rest } = w.dev.outputsBefore;
    w.dev.outputsBefore = rest;
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    expect(w.err[0]).toMatch(/dev has no backupSigningPublicKey output/);
    expect(w.journal.some((e) => e.startsWith("prod: set"))).toBe(false);
  });

  it("refuses a source that is not deployed", async () => {
    const w = world();
    w.dev.outputsBefore = {};
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    expect(w.err[0]).toMatch(/dev is not deployed/);
  });

  it("stops when the backup or its verification fails, before prod is touched", async () => {
    const failedBackup = world();
    failedBackup.remoteScript = (_t, args) => (args[0] === "backup" ? { code: 1, stdout: "", stderr: "dbtier-db: backup daily/x failed in stage(s): upload\n" } : undefined);
    expect(await promote([...ARGS, "--yes"], failedBackup.deps())).toBe(EXIT.failed);
    expect(failedBackup.err[0]).toMatch(/the backup of dev failed: .*stage\(s\): upload/);
    const failedVerify = world();
    failedVerify.remoteScript = (_t, args) => (args[0] === "verify" ? { code: 1, stdout: "", stderr: "verify daily/x FAILED: checksum mismatch\n" } : undefined);
    expect(await promote([...ARGS, "--yes"], failedVerify.deps())).toBe(EXIT.failed);
    expect(failedVerify.err[0]).toMatch(/verification of daily\/.* failed: verify daily\/x FAILED: checksum mismatch/);
    for (const w of [failedBackup, failedVerify]) expect(w.journal.filter((e) => e.startsWith("prod: set") || e.startsWith("prod: up"))).toEqual([]);
  });

  it("fails loudly when prod loaded another backup than the baseline", async () => {
    const w = world();
    w.remoteScript = (_t, args) => (args[0] === "load" ? { code: 1, stdout: "DBTIER_LOADED=daily/20250102T040000Z-000000\n", stderr: "dbtier-promote: loaded daily/20250102T040000Z-000000, not the expected\n" } : undefined);
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.failed);
    expect(w.err.join("\n")).toMatch(/prod loaded daily\/20250102T040000Z-000000, a newer verified backup of dev than the baseline/);
  });
});

describe("replacement safety: the target's preview made from the offline plans of its configs", () => {
  const AWS = { "dbtier:cloud": "aws", "dbtier:region": "eu-central-1", "dbtier:engineVersion": "8.4" };
  const NEXT = ["--from", "prod", "--to", "prod-next", "--identity", "/keys/age-identity", "--yes", "--new-stack"];

  it("changing prod's webservers replaces nothing stateful: the promotion goes ahead", async () => {
    const w = world();
    const changed = stackConfig("prod", { "dbtier:webservers": JSON.stringify([{ name: "web1", ip: "203.0.113.10" }, { name: "web4", ip: "203.0.113.14" }]) });
    const preview = await previewFromPlans("prod", stackConfig("prod"), changed);
    expect(preview.steps.filter((s) => s.op === "update").map((s) => s.type)).toContain("digitalocean:index/databaseFirewall:DatabaseFirewall");
    w.prod.config = changed;
    w.prod.previews = [preview];
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.ok);
    expect(w.err).toEqual([]);
  }, 60000);

  it("a region change on prod replaces its cluster: refused before anything changes, pointing at the safe path", async () => {
    const w = world();
    const changed = stackConfig("prod", { "dbtier:region": "ams3" });
    w.prod.config = changed;
    w.prod.previews = [await previewFromPlans("prod", stackConfig("prod"), changed)];
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    const text = w.err.join("\n");
    expect(text).toMatch(/replace urn:\S+::dbtier-managed-cluster: protected, the managed database and its data; replace because of [^\n]*privateNetworkUuid[^\n]*DigitalOcean DatabaseCluster forces a new resource/);
    expect(text).toMatch(/npm run promote -- --from prod --to prod-next --new-stack/);
    expect(changes(w.journal)).toEqual([]);
  }, 60000);

  it("an engine change on an AWS prod (MySQL -> MariaDB) replaces the RDS instance: refused", async () => {
    const w = world();
    const before = stackConfig("prod", AWS);
    const changed = stackConfig("prod", { ...AWS, "dbtier:engine": "mariadb", "dbtier:engineVersion": "11.8" });
    w.prod.config = changed;
    w.prod.previews = [await previewFromPlans("prod", before, changed)];
    expect(await promote([...ARGS, "--yes"], w.deps())).toBe(EXIT.refused);
    expect(w.err.join("\n")).toMatch(/replace urn:\S+::dbtier-managed-instance: protected, the managed database and its data; replace because of engine[^\n]*AWS Instance forces a new resource when engine changes/);
    expect(changes(w.journal)).toEqual([]);
  }, 60000);

  it("the safe path: the same region change into a new stack prod-next with --new-stack is promoted", async () => {
    const w = world();
    const next = w.addStack("prod-next", stackConfig("prod", { "dbtier:region": "ams3" }));
    next.previews = [await previewFromPlans("prod-next", undefined, next.config)];
    expect(next.previews[0].steps.every((s) => s.op === "create")).toBe(true);
    next.outputsAfterUp = hostsOutput("proxy", "203.0.113.40", PROD_HOST_KEY);
    expect(await promote(NEXT, w.deps())).toBe(EXIT.ok);
    expect(w.err).toEqual([]);
    expect(w.journal.filter((e) => e.includes(": up [") || e.includes(" load "))).toEqual([
      `prod-next: up [policy] "dbtier promote prod -> prod-next: baseline daily/${SAFETY_ID} (create)"`,
      `prod-next: up [policy] "dbtier promote prod -> prod-next: baseline daily/${SAFETY_ID}"`,
      `ssh dbtier-admin@203.0.113.40 load ${SAFETY_ID} <identity`,
    ]);
    // The old stack is only read and backed up.
    expect(w.journal.filter((e) => e.startsWith("prod: ") && !e.endsWith(": config"))).toEqual([]);
  }, 60000);

  it("--new-stack refuses a deployed target, a shared backup prefix and a preview that changes existing resources", async () => {
    const deployed = world();
    expect(await promote([...ARGS, "--yes", "--new-stack"], deployed.deps())).toBe(EXIT.refused);
    expect(deployed.err[0]).toMatch(/--new-stack: prod is deployed already \(prod proxy proxy-vm at 203\.0\.113\.30\)/);
    expect(deployed.journal.some((e) => e.includes("preview"))).toBe(false);

    const shared = world();
    shared.addStack("prod-next", stackConfig("prod", { "dbtier:appDb": JSON.stringify({ source: "virgin", application: "shop-prod" }) }));
    expect(await promote(NEXT, shared.deps())).toBe(EXIT.usage);
    expect(shared.err.join("\n")).toMatch(/dbtier:appDb\.application: --new-stack: prod-next must back up under its own prefix, not prod's "shop-prod"/);

    const updating = world();
    const next = updating.addStack("prod-next", stackConfig("prod", { "dbtier:region": "ams3" }));
    next.previews = [{ steps: [step("update", "digitalocean:index/firewall:Firewall", "fw", { diffKeys: ["inboundRules"] })], diagnostics: [] }];
    expect(await promote(NEXT, updating.deps())).toBe(EXIT.refused);
    expect(updating.err.join("\n")).toMatch(/--new-stack: the preview of prod-next would change existing resources; a new stack only creates:\n  update fw/);
    expect(changes(updating.journal)).toEqual([]);
  });
});

describe("the real npm run promote", () => {
  it("stops here, where no Pulumi CLI is installed, with exit 4 and how to install it", () => {
    const nodeDir = path.dirname(process.execPath);
    const result = spawnSync("npm", ["run", "--silent", "promote", "--", "--from", "dev", "--to", "prod", "--yes"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      // Only node's directory and the system's: no pulumi anywhere on this PATH.
      env: { ...process.env, PATH: `${nodeDir}:/usr/bin:/bin`, DBTIER_AGE_IDENTITY_FILE: "" },
    });
    const which = spawnSync("sh", ["-c", "command -v pulumi"], { env: { PATH: `${nodeDir}:/usr/bin:/bin` } });
    expect(which.status).not.toBe(0);
    expect(result.status).toBe(EXIT.noCli);
    expect(result.stderr).toMatch(/the Pulumi CLI \(`pulumi`\) is required and was not found/);
    expect(result.stderr).toMatch(/`pulumi` is not on PATH/);
    expect(result.stderr).toMatch(/Install Pulumi CLI \d+\.\d+\.\d+/);
  }, 60_000);
});
