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

// The MariaDB/MySQL point-in-time planner (scripts/host/lib/dbtier/pitr/mariadb.py) on a synthetic catalog:
// chains follow one timeline, a gap or a restore's new history splits the window, a time is served by the
// newest base that reaches it, and the binlog header walk finds the first transaction and the last event.
// (The same code against a real server and S3: tests/integration/pitr-mariadb.test.ts.)
describe("binlog archive planning", () => {
  const { execFileSync } = require("child_process") as typeof import("child_process");
  const path = require("path") as typeof import("path");
  const LIB = path.resolve(__dirname, "..", "..", "scripts", "host", "lib");
  const py = (body: string): any =>
    JSON.parse(execFileSync("python3", ["-I", "-B", "-c", `
import json, os, struct, sys, tempfile
sys.path.insert(0, ${JSON.stringify(LIB)})
from dbtier import config
from dbtier.pitr import common, mariadb as m
def log(seq, timeline, last): return common.Item("binlog", f"1/mysql-bin.{seq:06d}", {"meta": {"seq": seq, "file": f"mysql-bin.{seq:06d}", "timeline": timeline, "lastTime": last}}, b"")
def base(name, timeline, at, seq): return common.Item("base", name, {"meta": {"serverId": 1, "timeline": timeline, "consistentAt": at, "binlogFile": f"mysql-bin.{seq:06d}", "binlogPosition": 4}}, b"")
def cat(bases, logs): return m.Catalog(bases, {lg.name: lg for lg in logs})
def outcome(c, flags):
    try:
        t = m._choose(c, flags)
        return {"base": t.base.name, "logs": [lg.meta["seq"] for lg in t.logs], "stop": t.stop}
    except config.ConfigError as e:
        return {"refused": str(e)}
${body}
`], { encoding: "utf8" }));

  // history a: base A at 100 from file 2, files 2..4; a restore then starts history b at file 5 (base B at 380)
  const SETUP = `
A, B = base("A", "a", 100, 2), base("B", "b", 380, 5)
logs = [log(2, "a", 150), log(3, "a", 200), log(4, "a", 250), log(5, "b", 400), log(6, "b", 450)]
`;

  test("the window runs along each base's own history; a time between them is refused naming it", () => {
    const r = py(`${SETUP}
c = cat([A, B], logs)
print(json.dumps({"window": m.window(c).intervals, "chainA": [i.meta["seq"] for i in m._chain(c, A)],
  "chainB": [i.meta["seq"] for i in m._chain(c, B)], "between": outcome(c, {"--to-time": common.fmt_time(300)}),
  "inA": outcome(c, {"--to-time": common.fmt_time(180)}), "latest": outcome(c, {"--to-latest": ""}),
  "gaps": m.gaps(list(c.logs))}))`);
    expect(r.window).toEqual([[100, 250], [380, 450]]);
    expect(r.chainA).toEqual([2, 3, 4]);
    expect(r.chainB).toEqual([5, 6]);
    expect(r.between.refused).toBe("1970-01-01 00:05:00Z is outside the recoverable window: " +
      "1970-01-01 00:01:40Z .. 1970-01-01 00:04:10Z, 1970-01-01 00:06:20Z .. 1970-01-01 00:07:30Z");
    // only the files that can hold an event before the time are fetched
    expect(r.inA).toEqual({ base: "A", logs: [2, 3], stop: 180 });
    expect(r.latest).toEqual({ base: "B", logs: [5, 6], stop: null });
    expect(r.gaps).toEqual([]);
  });

  test("a missing file is a gap: named, and the window ends before it", () => {
    const r = py(`${SETUP}
c = cat([A], [lg for lg in logs if lg.meta["seq"] != 3])
print(json.dumps({"window": m.window(c).intervals, "gaps": m.gaps(list(c.logs)), "after": outcome(c, {"--to-time": common.fmt_time(220)})}))`);
    expect(r.gaps).toEqual(["1/mysql-bin.000003"]);
    expect(r.window).toEqual([[100, 150]]);
    expect(r.after.refused).toMatch(/outside the recoverable window: 1970-01-01 00:01:40Z \.\. 1970-01-01 00:02:30Z$/);
  });

  test("the binlog header walk: first transaction, last event, an unfinished tail ignored", () => {
    const r = py(`
def ev(ts, etype, size=40): return struct.pack("<IBIIIH", ts, etype, 1, size, 0, 0) + b"x" * (size - 19)
body = b"\\xfebin" + ev(10, 15) + ev(11, 163) + ev(20, 162) + ev(21, 30) + ev(22, 16) + ev(30, 4)
d = tempfile.mkdtemp()
f = os.path.join(d, "mysql-bin.000007")
open(f, "wb").write(body + ev(99, 162)[:25])
whole, head = m.scan_binlog(f), m.scan_binlog(f, stop=4 + 80)
open(f + ".closed", "wb").write(body)
closed = m.scan_binlog(f + ".closed")
print(json.dumps({"whole": [whole.first_transaction, whole.last_time, whole.end, whole.last_type, whole.torn],
  "closed": [closed.last_type, closed.torn], "head": [head.first_transaction, head.last_time], "seq": m.seq_of("mysql-bin.000007")}))`);
    // a crash cut the last event: the file is torn, its last complete event a rotate
    expect(r.whole).toEqual([20, 30, 4 + 6 * 40, 4, true]);
    expect(r.closed).toEqual([4, false]);
    expect(r.head).toEqual([null, 11]);
    expect(r.seq).toBe(7);
  });
});
