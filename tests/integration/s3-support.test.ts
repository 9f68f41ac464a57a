// The test rigs' S3 server and fault proxy must stop in bounded time whatever their clients did: a client killed
// mid-upload (the restore-faults SIGTERM cases) once left s3rver waiting for the rest of a body, its close()
// never returned, the suite's afterAll timed out and Jest never exited.
import * as http from "http";
import { startS3 } from "../support/s3";
import { startFaultProxy } from "../support/s3fault";

/** Starts a PUT of 10 MB to `endpoint` and sends 100 kB of it. */
async function halfPut(endpoint: string, bucket: string): Promise<http.ClientRequest> {
  const u = new URL(endpoint);
  const req = http.request({ host: u.hostname, port: Number(u.port), method: "PUT", path: `/${bucket}/half-sent`, headers: { "content-length": "10000000" } });
  req.on("error", () => undefined);
  req.write(Buffer.alloc(100_000));
  await new Promise((r) => setTimeout(r, 500));
  return req;
}

test("a client dead mid-body through the fault proxy: proxy and s3rver both stop within 5 s", async () => {
  const s3 = await startS3();
  const proxy = await startFaultProxy(s3);
  (await halfPut(proxy.endpoint, s3.bucket)).destroy();
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  await proxy.stop();
  await s3.stop();
  expect(Date.now() - started).toBeLessThan(5000);
}, 30_000);

test("a client still mid-body straight to s3rver: it stops within 5 s", async () => {
  const s3 = await startS3();
  const req = await halfPut(s3.endpoint, s3.bucket);
  const started = Date.now();
  await s3.stop();
  expect(Date.now() - started).toBeLessThan(5000);
  req.destroy();
}, 30_000);
