// The base backup timer (issue 13): self-managed database VMs (PostgreSQL and MariaDB/MySQL alike) run
// `dbtier-db basebackup` daily, enabled with the other timers; managed stacks (the provider's PITR) do not.
import { parseConfig } from "../../components/config";
import { BACKUP_SCHEDULE, BASEBACKUP_SCHEDULE, renderSystemdUnits, timerUnitNames } from "../../components/hostFiles";
import { DbTierConfig } from "../../components/types";
import { validRaw } from "./fixtures";

function config(overrides: Record<string, unknown> = {}): DbTierConfig {
  const result = parseConfig(validRaw(overrides), "dev");
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

const SERVICE = "/etc/systemd/system/dbtier-basebackup.service";
const TIMER = "/etc/systemd/system/dbtier-basebackup.timer";

describe("base backup timer", () => {
  test.each([
    ["postgres", "16"],
    ["mariadb", undefined],
    ["mysql", "8.4"],
  ])("self-managed %s: basebackup daily, persistent, enabled", (engine, engineVersion) => {
    const c = config(engineVersion ? { engine, engineVersion } : { engine });
    const files = renderSystemdUnits(c, "database");
    const service = files.find((f) => f.path === SERVICE);
    const timer = files.find((f) => f.path === TIMER);
    expect(service?.content).toMatch(/^ExecStart=\S+dbtier-db basebackup$/m);
    expect(service?.content).toMatch(/^Type=oneshot$/m);
    expect(service?.content).toMatch(/^Environment=DBTIER_ENV=\S+$/m);
    expect(timer?.content).toContain(`OnCalendar=${BASEBACKUP_SCHEDULE.onCalendar}\n`);
    expect(timer?.content).toMatch(/^Persistent=true$/m);
    expect(timer?.content).toMatch(/^WantedBy=timers\.target$/m);
    expect(service?.permissions).toBe("0644");
    expect(timerUnitNames(c)).toContain("dbtier-basebackup.timer");
  });

  test("the base backup and the daily dump start an hour apart (they share the toolkit's lock)", () => {
    const hour = (onCalendar: string): number => Number(onCalendar.match(/ (\d\d):/)?.[1]);
    expect(hour(BACKUP_SCHEDULE.daily.onCalendar) - hour(BASEBACKUP_SCHEDULE.onCalendar)).toBe(1);
    // the randomized delay cannot make the base backup start after the dump's earliest start
    expect(BASEBACKUP_SCHEDULE.randomizedDelaySec).toBeLessThan(3600);
  });

  test("managed stacks have no base backup timer (the provider's PITR)", () => {
    for (const engine of ["postgres", "mysql"]) {
      const c = config({ mode: "managed", engine, engineVersion: engine === "postgres" ? "16" : "8" });
      expect(timerUnitNames(c)).not.toContain("dbtier-basebackup.timer");
      for (const role of ["database", "proxy"] as const) {
        expect(renderSystemdUnits(c, role).map((f) => f.path)).not.toContain(TIMER);
      }
    }
  });
});
