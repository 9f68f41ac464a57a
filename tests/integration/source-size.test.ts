// The manifest's sourceBytes is what restore and verify check free space against. On MariaDB the server's
// figure comes from InnoDB's statistics, which lag a load: a table just filled can still read as one empty page,
// and a copy of a fresh database was taken for a few KiB (a disk-full refusal that did not happen). The backup
// now records at least the bytes of rows it dumped.
import { completeIds, expectOk, makeRig, manifest, Rig } from "./fixture";

jest.setTimeout(180_000);

describe("mariadb: the size a copy needs", () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await makeRig("mariadb", { seed: { rows: 10, largeRowBytes: 1024 } });
  });
  afterAll(async () => {
    await rig?.cleanup();
  });

  test("a table its statistics still describe as empty counts with the rows the dump wrote", async () => {
    // statistics sampled while empty and never again (STATS_AUTO_RECALC=0), then 4 MiB of rows
    await rig.server.rootSql("CREATE TABLE lagging (id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB STATS_AUTO_RECALC=0; " +
      "ANALYZE TABLE lagging; INSERT INTO lagging SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_4096;", "app");
    const stats = Number((await rig.server.rootSql("SELECT SUM(data_length + index_length) FROM information_schema.tables " +
      "WHERE table_schema = 'app';")).trim());
    expect(stats).toBeLessThan(1 << 20);
    expectOk(await rig.host.run(["backup", "daily"]));
    const [id] = completeIds(rig, "daily");
    const m = manifest(rig, "daily", id) as { sourceBytes: number };
    expect(m.sourceBytes).toBeGreaterThanOrEqual(4096 * 1000);
  });
});
