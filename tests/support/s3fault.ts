/**
 * A fault-injecting HTTP proxy in front of an s3rver (loopback only, Node's http module): every request is
 * forwarded as it came (the Host header too, so SigV4 signatures still match), except the ones a rule picks.
 *
 *   startFaultProxy(s3): Promise<FaultProxy>   endpoint "http://127.0.0.1:<free port>" for DATASTORE_ENDPOINT
 *   FaultProxy.rules(list)                     replaces the rules; rules([]) forwards everything again
 *   FaultProxy.seen                            every request: method, key, query, the fault it got, the status
 *   FaultProxy.aborted                         upload ids of the AbortMultipartUpload requests received
 *   inProgressUploads(s3)                      multipart uploads s3rver still holds (initiated, not finished)
 *
 * Faults: "slowdown" (503 SlowDown, as S3 throttles), "internal" (500 InternalError), { cutAfter: N } (the
 * upstream response is passed on with its full Content-Length but the connection is closed after N body
 * bytes), "stall" (the request is held, unanswered, until the client goes away or 30 s pass).
 *
 * s3rver 3.7 has no AbortMultipartUpload (lib/routes.js: a DELETE with ?uploadId falls through to
 * "method not allowed"), so the proxy answers it as S3 does (204; "AbortMultipartUpload", S3 API reference)
 * and removes the upload's parts where s3rver keeps them (lib/stores/filesystem.js: initiateUpload and
 * putPart write <dir>/<bucket>/._S3rver_uploads/<uploadId>/; completing it removes that directory).
 */
import { existsSync, readdirSync, rmSync } from "fs";
import * as http from "http";
import * as path from "path";
import { freePort } from "./proc";
import type { S3Server } from "./s3";

export type Fault = "slowdown" | "internal" | "stall" | { readonly cutAfter: number };

export interface SeenRequest {
  readonly method: string;
  /** The object key inside the bucket ("" for bucket-level requests). */
  readonly key: string;
  readonly query: URLSearchParams;
  fault?: Fault;
  status?: number;
}

export interface FaultRule {
  readonly method: string;
  /** Matches the object key. */
  readonly key: RegExp;
  /** Only requests with this query parameter (e.g. partNumber), optionally with this value. */
  readonly query?: { readonly name: string; readonly value?: string };
  /** How many matching requests get the fault, the first ones (default: every one). */
  readonly times?: number;
  readonly fault: Fault;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly seen: SeenRequest[];
  readonly aborted: string[];
  rules(list: readonly FaultRule[]): void;
  /** Requests matching method, key and (optionally) a query parameter. */
  requests(method: string, key: RegExp, queryName?: string, queryValue?: string): SeenRequest[];
  stop(): Promise<void>;
}

const STALL_LIMIT_MS = 30_000;

function uploadsDir(s3: S3Server): string {
  return path.join(s3.dir, s3.bucket, "._S3rver_uploads");
}

/** Upload ids of the multipart uploads s3rver holds that were neither completed nor aborted. */
export function inProgressUploads(s3: S3Server): string[] {
  const dir = uploadsDir(s3);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function errorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

export async function startFaultProxy(s3: S3Server): Promise<FaultProxy> {
  const port = await freePort();
  const upstream = new URL(s3.endpoint);
  if (upstream.protocol !== "http:") throw new Error("startFaultProxy: plain-HTTP s3rver only");
  const seen: SeenRequest[] = [];
  const aborted: string[] = [];
  let rules: { rule: FaultRule; used: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const upstreamRequests = new Set<http.ClientRequest>();

  const matches = (rule: FaultRule, r: SeenRequest): boolean =>
    rule.method === r.method && rule.key.test(r.key) &&
    (!rule.query || (r.query.has(rule.query.name) && (rule.query.value === undefined || r.query.get(rule.query.name) === rule.query.value)));

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, seenReq: SeenRequest, cutAfter?: number): void => {
    const up = http.request({ host: upstream.hostname, port: Number(upstream.port), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      seenReq.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (cutAfter === undefined) {
        upRes.pipe(res);
        return;
      }
      let passed = 0;
      upRes.on("data", (chunk: Buffer) => {
        if (passed >= cutAfter) return;
        const room = cutAfter - passed;
        res.write(room >= chunk.length ? chunk : chunk.subarray(0, room));
        passed += Math.min(room, chunk.length);
        if (passed >= cutAfter) {
          upRes.destroy();
          res.socket?.destroy();
        }
      });
      upRes.on("end", () => res.end());
    });
    upstreamRequests.add(up);
    up.on("close", () => upstreamRequests.delete(up));
    up.on("error", () => res.socket?.destroy());
    // A client that goes away mid-body (a killed uploader) would leave s3rver waiting for the rest of the body
    // on a connection its close() then waits for: end the upstream request with it.
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const answer = (req: http.IncomingMessage, res: http.ServerResponse, seenReq: SeenRequest, status: number, body: string): void => {
    // The body is read first: the client sends it whole before it reads the response.
    req.resume();
    req.on("end", () => {
      seenReq.status = status;
      res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const prefix = `/${s3.bucket}/`;
    const key = url.pathname.startsWith(prefix) ? decodeURIComponent(url.pathname.slice(prefix.length)) : "";
    const seenReq: SeenRequest = { method: req.method ?? "", key, query: url.searchParams };
    seen.push(seenReq);
    if (req.method === "DELETE" && url.searchParams.has("uploadId")) {
      const id = url.searchParams.get("uploadId") ?? "";
      aborted.push(id);
      if (/^[0-9a-f]+$/.test(id)) rmSync(path.join(uploadsDir(s3), id), { recursive: true, force: true });
      req.resume();
      req.on("end", () => {
        seenReq.status = 204;
        res.writeHead(204);
        res.end();
      });
      return;
    }
    const hit = rules.find((r) => (r.rule.times === undefined || r.used < r.rule.times) && matches(r.rule, seenReq));
    if (!hit) return forward(req, res, seenReq);
    hit.used++;
    const fault = hit.rule.fault;
    seenReq.fault = fault;
    if (fault === "slowdown") return answer(req, res, seenReq, 503, errorBody("SlowDown", "Please reduce your request rate."));
    if (fault === "internal") return answer(req, res, seenReq, 500, errorBody("InternalError", "We encountered an internal error. Please try again."));
    if (fault === "stall") {
      req.pause();
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!req.socket.destroyed) forward(req, res, seenReq);
      }, STALL_LIMIT_MS);
      timers.add(timer);
      req.socket.on("close", () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
      return;
    }
    forward(req, res, seenReq, fault.cutAfter);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    aborted,
    rules: (list) => {
      rules = list.map((rule) => ({ rule, used: 0 }));
    },
    requests: (method, key, queryName, queryValue) =>
      seen.filter((r) => r.method === method && key.test(r.key) && (queryName === undefined ||
        (r.query.has(queryName) && (queryValue === undefined || r.query.get(queryName) === queryValue)))),
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      for (const up of upstreamRequests) up.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
