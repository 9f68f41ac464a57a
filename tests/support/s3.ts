/**
 * An S3 datastore on loopback: the npm `s3rver` package, in-process, files in a temp dir.
 *
 *   startS3({ bucket, tls }): Promise<S3Server>
 *     endpoint "http://127.0.0.1:<free port>" (or https:// when `tls` gives PEM cert/key, e.g. from
 *     makeTls in ./tls, whose CA then goes into DATASTORE_CA_FILE), bucket created, credentials S3RVER/S3RVER (s3rver's fixed
 *     pair, checked on signed requests). dir: where objects live on disk (tests may corrupt one there:
 *     objectFile(key) gives the path of an object's content).
 *   S3Server.stop(): close the server and remove its files.
 */
import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";
import { freePort, removeDir, tempDir } from "./proc";

// s3rver has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const S3rver = require("s3rver");

export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly dir: string;
  /** Path of the stored bytes of `key` (s3rver keeps `<key>._S3rver_object` under the bucket dir). */
  objectFile(key: string): string;
  /** Every complete object key under `prefix` (s3rver writes an object's metadata file after its bytes, and
   * lists only objects that have one: a key whose bytes are still being written is not listed). */
  keys(prefix?: string): string[];
  /** Whether `key` is a complete object (as in keys()). */
  has(key: string): boolean;
  stop(): Promise<void>;
}

export async function startS3({ bucket = "dbtier-test", tls }: { bucket?: string; tls?: { certFile: string; keyFile: string } } = {}): Promise<S3Server> {
  const dir = tempDir("dbtier-s3-");
  const port = await freePort();
  const server = new S3rver({
    address: "127.0.0.1", port, silent: true, directory: dir, configureBuckets: [{ name: bucket }],
    ...(tls ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
  });
  await server.run();
  const bucketDir = path.join(dir, bucket);
  const suffix = "._S3rver_object";
  const complete = (objectPath: string): boolean => existsSync(`${objectPath.slice(0, -"object".length)}metadata.json`);
  const walk = (d: string, rel: string): string[] =>
    !existsSync(d)
      ? []
      : readdirSync(d, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(path.join(d, e.name), rel ? `${rel}/${e.name}` : e.name)
            : e.name.endsWith(suffix) && complete(path.join(d, e.name)) ? [rel ? `${rel}/${e.name.slice(0, -suffix.length)}` : e.name.slice(0, -suffix.length)] : [],
        );
  return {
    endpoint: `${tls ? "https" : "http"}://127.0.0.1:${port}`, port, bucket, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", dir,
    objectFile: (key: string) => path.join(bucketDir, `${key}${suffix}`),
    keys: (prefix = "") => walk(bucketDir, "").filter((k) => k.startsWith(prefix)).sort(),
    has: (key: string) => complete(path.join(bucketDir, `${key}${suffix}`)),
    stop: async () => {
      // close() waits for every open connection; a client killed mid-request must not hold it forever.
      server.httpServer?.closeAllConnections();
      await server.close();
      removeDir(dir);
    },
  };
}
