// health and alerts: a failing check mails once per state change (not on every run), recovery mails once,
// and a failed backup mails why. Against a real server, s3rver and an SMTP sink on loopback.
import { writeFileSync } from "fs";
import * as path from "path";
import { freePort } from "../support/proc";
import { SmtpSink, startSmtpSink } from "../support/smtp";
import { ENGINES, expectOk, makeRig, Rig, runWatched } from "./fixture";

jest.setTimeout(240_000);

describe.each(ENGINES)("%s: health and alerts", (engine) => {
  let rig: Rig;
  let smtp: SmtpSink;
  const subjects = () => smtp.messages.map((m) => /^Subject: (.*)$/m.exec(m.data)?.[1] ?? "");

  beforeAll(async () => {
    smtp = await startSmtpSink();
    rig = await makeRig(engine, {
      seed: { rows: 50, largeRowBytes: 1024 },
      host: { env: { BACKUP_PERIODS: "daily" }, secrets: { "smtp-url": "", "alert-email": "ops@example.invalid" } },
    });
    writeFileSync(path.join(rig.host.secretsDir, "smtp-url"), smtp.url, { mode: 0o600 });
  });
  afterAll(async () => {
    await rig?.cleanup();
    await smtp?.stop();
  });

  test("no backup yet: health fails and alerts once", async () => {
    const r = await runWatched(rig, ["health"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^database\s+ok\s/m);
    expect(r.stdout).toMatch(/^connections\s+ok\s+\d+ of 50 connections/m);
    expect(r.stdout).toMatch(/^tls\s+ok\s+server certificate valid beyond 14 days/m);
    expect(r.stdout).toMatch(/^datastore\s+ok/m);
    expect(r.stdout).toMatch(/^backup-daily\s+fail\s+no complete daily backup/m);
    expect(subjects()).toEqual(["[dbtier] FAILING: backup-daily"]);
    expect(smtp.messages[0].to).toEqual(["<ops@example.invalid>"]);
    const again = await runWatched(rig, ["health"]);
    expect(again.code).toBe(1);
    expect(subjects()).toHaveLength(1); // same state: no new mail
  });

  test("after a backup: health passes and mails the recovery once", async () => {
    expectOk(await runWatched(rig, ["backup", "daily"]));
    const r = await runWatched(rig, ["health"]);
    expectOk(r);
    expect(r.stdout).toMatch(/^backup-daily\s+ok\s+newest \S+ is \d+ min old/m);
    expect(subjects()).toEqual(["[dbtier] FAILING: backup-daily", "[dbtier] recovered: backup-daily"]);
    expectOk(await runWatched(rig, ["health"]));
    expect(subjects()).toHaveLength(2);
  });

  test("a certificate close to expiry fails the tls check", async () => {
    const r = await runWatched(rig, ["health"], { env: { DBTIER_HEALTH_CERT_DAYS: "45" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^tls\s+fail\s+server certificate of 127\.0\.0\.1 expires within 45 days/m);
    expect(subjects().slice(-1)).toEqual(["[dbtier] FAILING: tls"]);
  });

  test("a failed backup mails why", async () => {
    rig.host.writeEnv({ DATASTORE_ENDPOINT: `http://127.0.0.1:${await freePort()}` });
    try {
      const r = await runWatched(rig, ["backup", "daily"]);
      expect(r.code).toBe(1);
    } finally {
      rig.host.writeEnv({});
    }
    const last = smtp.messages[smtp.messages.length - 1];
    expect(last.data).toMatch(/^Subject: \[dbtier\] dbtier-db backup failed on /m);
    expect(last.data).toContain("is unreachable");
  });
});
