#!/usr/bin/env python3
"""Streaming S3 upload/download in bounded memory (python3 standard library only).

  s3stream.py put BUCKET KEY [--report F]               < data   multipart upload of stdin
  s3stream.py get BUCKET KEY [--report F] [--expect F]  > data   streamed GET
  s3stream.py head BUCKET KEY                                    prints {"size": N, "etag": "..."}

--report writes {"sha256", "size", "etag", "partSize", "parts": [{"size", "sha256"}, ...]} of the bytes
streamed, so no separate checksum process reads the stream again. put also reports "partsVerified": every
part's ETag, as the store returned it, was the MD5 of the bytes sent (true on stores whose ETags are MD5s;
SSE-KMS ones are not), i.e. the store holds exactly these parts.

get --expect F takes the object's description from a SIGNED manifest ({"size", "sha256", "partSize",
"parts": [{"size", "sha256"}]}): each part is read whole, hashed and compared before one byte of it is
written to stdout, so a forged or altered object is refused before anything downstream (age) sees it.

Configuration from the environment: S3_ENDPOINT (http[s]://host[:port]), S3_REGION (default us-east-1),
S3_ACCESS_KEY_FILE and S3_SECRET_KEY_FILE (paths of files holding the keys: never argv, never env values),
S3_CA_FILE (optional: a private CA for an https endpoint), S3_PART_SIZE (bytes, default 5 MiB, min 5 MiB),
S3_CONCURRENCY (default 1), S3_BWLIMIT (bytes per second, default unlimited: keeps a backup from filling
the host's uplink), S3_ATTEMPTS (tries per request on 5xx, SlowDown and dropped connections, default 5,
the delay doubling from S3_RETRY_DELAY seconds, default 1). Every part is sent with its SHA-256 in the
signed request, so the store itself rejects a part that arrives damaged.
Exit 0 ok, 1 failure (a multipart upload is aborted, also on SIGTERM/SIGINT, so no partial object ever
appears), 2 usage.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import os
import ssl
import queue
import signal
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class S3:
    def __init__(self) -> None:
        endpoint = os.environ.get("S3_ENDPOINT", "")
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            die(2, f"S3_ENDPOINT='{endpoint}': expected http(s)://host[:port]")
        self.scheme, self.host = u.scheme, u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.netloc = u.netloc
        self.region = os.environ.get("S3_REGION") or "us-east-1"  # empty when the env file leaves it out
        self.access = read_secret("S3_ACCESS_KEY_FILE")
        self.secret = read_secret("S3_SECRET_KEY_FILE")
        self.attempts = max(1, int(os.environ.get("S3_ATTEMPTS") or 5))
        self.retry_delay = float(os.environ.get("S3_RETRY_DELAY") or 1)
        self.tls: Optional[ssl.SSLContext] = None
        if self.scheme == "https":
            self.tls = ssl.create_default_context(cafile=os.environ.get("S3_CA_FILE") or None)

    def new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=300, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=300)

    def conn(self) -> "Conn":
        return Conn(self)


    def sign(self, method: str, path: str, query: Dict[str, str], payload_sha: str) -> Dict[str, str]:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        canon_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                               for k, v in sorted(query.items()))
        headers = {"host": self.netloc, "x-amz-content-sha256": payload_sha, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
        canon = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"), canon_query, canon_headers, signed, payload_sha])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canon.encode()).hexdigest()])
        k = hmac.new(("AWS4" + self.secret).encode(), day.encode(), hashlib.sha256).digest()
        for part in (self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={sig}")
        return headers

    def request(self, conn: "Conn", method: str, path: str, query: Dict[str, str],
                body=b"", stream: bool = False, headers: Optional[Dict[str, str]] = None) -> http.client.HTTPResponse:
        """One request, retried with a doubling delay on what is transient: a dropped connection (servers
        close idle keep-alive connections: s3rver after 5 s), 5xx and SlowDown. Every request here is
        idempotent (part uploads, initiate/complete/abort, GET, HEAD), so a retry is safe."""
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return self._request(conn.get() if attempt == 1 else conn.reset(), method, path, query, body,
                                     stream, headers or {})
            except Transient as e:
                if attempt == self.attempts:
                    raise RuntimeError(f"{e} (after {attempt} attempts)") from None
                print(f"s3stream: {e}; attempt {attempt}/{self.attempts}, retrying in {delay:g}s", file=sys.stderr)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _request(self, conn: http.client.HTTPConnection, method: str, path: str, query: Dict[str, str],
                 body, stream: bool, extra: Dict[str, str]) -> http.client.HTTPResponse:
        sha = hashlib.sha256(body).hexdigest() if len(body) else EMPTY_SHA
        headers = self.sign(method, path, query, sha)
        headers["content-length"] = str(len(body))
        headers.update(extra)
        url = urllib.parse.quote(path, safe="/-_.~")
        if query:
            url += "?" + "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                                  if v != "" else urllib.parse.quote(k, safe='-_.~') for k, v in query.items())
        try:
            conn.request(method, url, body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            raise Transient(f"{method} {path}: {e.__class__.__name__}: {e}") from None
        if resp.status >= 300:
            detail = resp.read()[:500].decode(errors="replace")
            if resp.status >= 500 or "SlowDown" in detail:
                raise Transient(f"{method} {path}: HTTP {resp.status} {detail}")
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {detail}")
        if not stream:
            try:
                resp.body = resp.read()  # type: ignore[attr-defined]
            except (OSError, http.client.HTTPException) as e:
                raise Transient(f"{method} {path}: reading the response: {e}") from None
        return resp


class Transient(Exception):
    """A failure worth retrying: dropped connection, 5xx, SlowDown."""


class Conn:
    """A keep-alive connection that can be replaced when the server has closed it."""

    def __init__(self, s3: S3):
        self.s3 = s3
        self.c = s3.new_connection()

    def get(self) -> http.client.HTTPConnection:
        return self.c

    def reset(self) -> http.client.HTTPConnection:
        self.c.close()
        self.c = self.s3.new_connection()
        return self.c


def die(code: int, msg: str) -> None:
    print(f"s3stream: {msg}", file=sys.stderr)
    sys.exit(code)


def read_secret(var: str) -> str:
    path = os.environ.get(var, "")
    if not path:
        die(2, f"{var} is not set (path of a 0600 file)")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        die(2, f"{var}: cannot read {path}: {e.strerror}")
    return ""


def read_full(stream, n: int, throttle: "Throttle") -> memoryview:
    """Up to n bytes read straight into one buffer (no concatenation copy), at most at S3_BWLIMIT."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:min(n, got + (1 << 20))])
        if not k:
            break
        got += k
        throttle.passed(k)
    return view[:got]


class Throttle:
    """Sleeps so that the bytes passed on average at most S3_BWLIMIT per second."""

    def __init__(self) -> None:
        self.limit = float(os.environ.get("S3_BWLIMIT") or 0)
        self.start = time.monotonic()
        self.sent = 0

    def passed(self, n: int) -> None:
        if self.limit <= 0:
            return
        self.sent += n
        ahead = self.sent / self.limit - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


class Tally:
    """SHA-256 and size of the whole stream and of each part, plus part MD5s (the --report)."""

    def __init__(self, part_size: int = 0) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.part_size = part_size
        self.parts: List[Dict[str, object]] = []
        self.part_md5: Dict[int, str] = {}

    def add(self, data, part: int = 0) -> None:
        self.sha.update(data)
        self.size += len(data)
        if part:
            self.part_md5[part] = hashlib.md5(data).hexdigest()
            self.parts.append({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def write(self, path: Optional[str], etag: str = "", part_etags: Optional[Dict[int, str]] = None) -> None:
        if not path:
            return
        doc: Dict[str, object] = {"sha256": self.sha.hexdigest(), "size": self.size, "etag": etag}
        if part_etags is not None:
            doc["partSize"] = self.part_size
            doc["parts"] = self.parts
            doc["partsVerified"] = bool(self.part_md5) and all(
                part_etags.get(n, "").strip('"') == md5 for n, md5 in self.part_md5.items())
        with open(path, "w") as f:
            json.dump(doc, f)
            f.write("\n")


class Interrupted(BaseException):
    """SIGTERM or SIGINT: the upload is aborted before the process ends."""


def on_signal(signum, _frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def put(s3: S3, bucket: str, key: str, report: Optional[str]) -> None:
    part_size = max(5 << 20, int(os.environ.get("S3_PART_SIZE", str(5 << 20))))
    concurrency = max(1, int(os.environ.get("S3_CONCURRENCY", "1")))
    path = f"/{bucket}/{key}"
    stdin = sys.stdin.buffer
    tally = Tally(part_size)
    throttle = Throttle()
    first = read_full(stdin, part_size, throttle)
    main = s3.conn()
    if len(first) < part_size:  # small object: one PUT
        tally.add(first, part=1)
        r = s3.request(main, "PUT", path, {}, first)
        etag = r.getheader("ETag") or ""
        tally.write(report, etag.strip('"'), {1: etag})
        return
    resp = s3.request(main, "POST", path, {"uploads": ""})
    upload_id = ET.fromstring(resp.body).findtext("{*}UploadId")  # type: ignore[attr-defined]
    if not upload_id:
        die(1, "no UploadId in CreateMultipartUpload response")
    # Bounded hand-off: the reader blocks once one part waits, so memory stays flat at
    # (concurrency + 2) parts.
    work: "queue.Queue[Optional[Tuple[int, memoryview]]]" = queue.Queue(maxsize=1)
    etags: Dict[int, str] = {}
    errors: List[BaseException] = []

    def worker() -> None:
        conn = s3.conn()
        while True:
            item = work.get()
            if item is None:
                return
            n, data = item
            try:
                if not errors:
                    r = s3.request(conn, "PUT", path, {"partNumber": str(n), "uploadId": upload_id}, data)
                    etags[n] = r.getheader("ETag") or ""
            except BaseException as e:  # noqa: BLE001 - reported after the join
                errors.append(e)
                conn = s3.conn()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    n = 1
    data = first
    try:
        try:
            while data and not errors:
                tally.add(data, part=n)
                work.put((n, data))
                data = None  # type: ignore[assignment]
                n += 1
                data = read_full(stdin, part_size, throttle)
        finally:
            for _ in threads:
                work.put(None)
            for t in threads:
                t.join()
    except Interrupted as e:
        errors.append(e)
    if errors:
        # Signals are ignored from here on, so a second TERM cannot stop the abort half way.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            s3.request(s3.conn(), "DELETE", path, {"uploadId": upload_id})
            aborted = "multipart upload aborted"
        except (RuntimeError, OSError) as abort_error:
            aborted = f"aborting the multipart upload failed too: {abort_error}"
        die(1, f"upload failed: {errors[0].__class__.__name__ if isinstance(errors[0], Interrupted) else ''}"
               f"{errors[0]} ({aborted})")
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{i}</PartNumber><ETag>{etags[i]}</ETag></Part>" for i in sorted(etags)
    ) + "</CompleteMultipartUpload>"
    r = s3.request(main, "POST", path, {"uploadId": upload_id}, body.encode())
    # CompleteMultipartUpload can fail after a 200 status line: the error is then in the body.
    if b"<Error>" in r.body:  # type: ignore[attr-defined]
        die(1, f"completing the upload failed: {r.body[:300].decode(errors='replace')}")  # type: ignore[attr-defined]
    etag = ET.fromstring(r.body).findtext("{*}ETag") or ""  # type: ignore[attr-defined]
    tally.write(report, etag.strip('"'), etags)


class Expected:
    """What a signed manifest says the object is: total size and sha256, and each part's size and sha256."""

    def __init__(self, path: str) -> None:
        try:
            with open(path) as f:
                doc = json.load(f)
            self.size = int(doc["size"])
            self.sha256 = str(doc["sha256"])
            self.parts = [(int(p["size"]), str(p["sha256"])) for p in doc["parts"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            die(2, f"--expect {path}: not an object description ({e})")
        if not self.parts or sum(size for size, _ in self.parts) != self.size:
            die(2, f"--expect {path}: the parts do not add up to the object's size")


def get(s3: S3, bucket: str, key: str, report: Optional[str], expect: Optional[Expected] = None) -> None:
    path = f"/{bucket}/{key}"
    out = sys.stdout.buffer
    tally = Tally()
    throttle = Throttle()
    conn = s3.conn()
    consumer_gone = False

    def emit(data) -> None:
        nonlocal consumer_gone
        if consumer_gone:
            return
        try:
            out.write(data)
        except BrokenPipeError:
            # The consumer stopped early (a failed load): read the rest anyway, so the report says
            # whether the stored object itself is intact.
            consumer_gone = True

    if expect is None:
        resp = s3.request(conn, "GET", path, {}, stream=True)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            k = resp.readinto(buf)
            if not k:
                break
            tally.add(view[:k])
            throttle.passed(k)
            emit(view[:k])
        etag = (resp.getheader("ETag") or "").strip('"')
    else:
        etag = ""
        offset = 0
        resp = None
        for number, (size, want) in enumerate(expect.parts, start=1):
            data = None
            for attempt in range(1, s3.attempts + 1):
                try:
                    if resp is None:
                        # A dropped download resumes at the start of the part it was reading.
                        resp = s3.request(conn, "GET", path, {}, stream=True,
                                          headers={"range": f"bytes={offset}-"} if offset else None)
                        etag = etag or (resp.getheader("ETag") or "").strip('"')
                    data = read_full(resp, size, throttle)
                    if len(data) == size:
                        break
                    raise Transient(f"object ends at {offset + len(data)} bytes, the manifest says {expect.size}")
                except (Transient, OSError, http.client.HTTPException) as e:
                    resp = None
                    conn.reset()
                    if attempt == s3.attempts:
                        die(1, f"GET {path}: part {number}: {e} (after {attempt} attempts)")
                    time.sleep(s3.retry_delay * 2 ** (attempt - 1))
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                die(1, f"{key}: part {number} (bytes {offset}-{offset + size - 1}) has sha256 {got}, the signed "
                       f"manifest says {want}: refused before it was passed on")
            tally.add(data)
            emit(data)
            offset += size
        if resp is not None and resp.read(1):
            die(1, f"{key}: the stored object is longer than the {expect.size} bytes the signed manifest says")
    if not consumer_gone:
        try:
            out.flush()
        except BrokenPipeError:
            consumer_gone = True
    tally.write(report, etag)
    if expect is not None and (tally.size != expect.size or tally.sha.hexdigest() != expect.sha256):
        die(1, f"{key}: {tally.size} bytes with sha256 {tally.sha.hexdigest()}, the signed manifest says "
               f"{expect.size} bytes with sha256 {expect.sha256}")
    if consumer_gone:
        # stdout is a dead pipe: keep the interpreter from complaining about it at exit. The download
        # itself succeeded; the consumer's own exit status tells why it stopped.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def head(s3: S3, bucket: str, key: str) -> None:
    r = s3.request(s3.conn(), "HEAD", f"/{bucket}/{key}", {})
    doc = {"size": int(r.getheader("Content-Length") or -1), "etag": (r.getheader("ETag") or "").strip('"')}
    print(json.dumps(doc))


def take_option(args: List[str], name: str) -> Optional[str]:
    if name not in args:
        return None
    i = args.index(name)
    if i + 1 >= len(args):
        die(2, f"{name} needs a file")
    value = args[i + 1]
    del args[i:i + 2]
    return value


def main(argv: List[str]) -> None:
    args = argv[1:]
    report = take_option(args, "--report")
    expect_file = take_option(args, "--expect")
    if len(args) != 3 or args[0] not in ("put", "get", "head"):
        die(2, "usage: s3stream.py put|get|head BUCKET KEY [--report FILE] [--expect FILE]")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s3 = S3()
    command, bucket, key = args
    try:
        if command == "put":
            put(s3, bucket, key, report)
        elif command == "get":
            get(s3, bucket, key, report, Expected(expect_file) if expect_file else None)
        else:
            head(s3, bucket, key)
    except (OSError, RuntimeError, http.client.HTTPException, ET.ParseError) as e:
        die(1, str(e))
    except Interrupted as e:
        die(1, f"stopped by {e}")


if __name__ == "__main__":
    main(sys.argv)
