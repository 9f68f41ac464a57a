// The binlog shipping timer (issue 13): self-managed MariaDB/MySQL database VMs run archive-binlogs every 30 s;
// PostgreSQL (archive_command) and managed stacks (the provider's PITR) do not get it.
import { parseConfig } from "../../components/config";
import { BINLOG_ARCHIVE_INTERVAL, renderSystemdUnits, timerUnitNames } from "../../components/hostFiles";
import { DbTierConfig } from "../../components/types";
import { validRaw } from "./fixtures";

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const result = parseConfig(validRaw(overrides), "dev");
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

const SERVICE = "/etc/systemd/system/dbtier-archive-binlogs.service";
const TIMER = "/etc/systemd/system/dbtier-archive-binlogs.timer";

describe("binlog shipping timer", () => {
  test.each(["mariadb", "mysql"])("self-managed %s: archive-binlogs every 30 s, enabled", (engine) => {
    const c = config(engine === "mysql" ? { engine, engineVersion: "8.4" } : { engine });
    const files = renderSystemdUnits(c, "database");
    const service = files.find((f) => f.path === SERVICE);
    const timer = files.find((f) => f.path === TIMER);
    expect(service?.content).toMatch(/^ExecStart=\S+dbtier-db archive-binlogs$/m);
    expect(service?.content).toMatch(/^Type=oneshot$/m);
    expect(BINLOG_ARCHIVE_INTERVAL).toBe("30s");
    expect(timer?.content).toMatch(/^OnUnitInactiveSec=30s$/m);
    expect(timer?.content).toMatch(/^AccuracySec=1s$/m);
    expect(timer?.content).toMatch(/^WantedBy=timers\.target$/m);
    expect(timerUnitNames(c)).toContain("dbtier-archive-binlogs.timer");
  });

  test("PostgreSQL and managed stacks have no binlog timer", () => {
    const pg = config({ engine: "postgres", engineVersion: "16" });
    const managed = config({ mode: "managed", engine: "mysql", engineVersion: "8" });
    for (const c of [pg, managed]) {
      expect(timerUnitNames(c)).not.toContain("dbtier-archive-binlogs.timer");
      for (const role of ["database", "proxy"] as const) {
        expect(renderSystemdUnits(c, role).map((f) => f.path)).not.toContain(TIMER);
      }
    }
  });
});
