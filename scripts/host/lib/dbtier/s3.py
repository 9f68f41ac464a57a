"""THE S3 client of the host toolkit (standard library only): SigV4, bounded retries, multipart upload in
bounded memory, downloads checked part by part against a signed manifest and resumed where they broke.

API (a Client is bound to one bucket):

  c = Client(endpoint, bucket, access_key, secret_key, region="us-east-1", ca_file=None, attempts=5,
             retry_delay=1.0, part_size=5 MiB, concurrency=1, bwlimit=0, log=print-to-stderr)
  c = from_env(bucket)          S3_* environment, as the CLI reads it (below)
  c = from_config(cfg, small=False)   the env file's DATASTORE_* keys and the datastore-* secret files
                                (small: DBTIER_S3_LOW_LEVEL_RETRIES attempts, for metadata requests)
  c.put_stream(key, reader) -> PutReport    multipart upload of a binary stream (one PUT when small);
                                            any failure, OSError on the reader, a signal (Interrupted) or
                                            a failed CompleteMultipartUpload aborts the upload, then raises
  c.put_bytes(key, data) -> PutReport
  c.get_stream(key, writer, expect=None) -> GetReport
                                            streams the object into writer; with expect (an Expected from
                                            a signed manifest) each part is hashed and compared before one
                                            byte of it is written; a dropped connection resumes by range
                                            (If-Match the first ETag) in both modes; a writer that goes away
                                            (BrokenPipeError) stops the writing, the object is read to its
                                            end anyway so the report says whether it is intact
  c.get_bytes(key, missing_ok=False) -> bytes | None
  c.list(prefix, delimiter=None) -> list[Entry]       ListObjectsV2, every page; Entry(key, size, etag,
                                            last_modified) and, with a delimiter, Entry(prefix=...) rows
  c.head(key) -> Head | None                None when the key does not exist
  c.delete(key); c.delete_prefix(prefix) -> int       (a missing key is not an error)
  Errors: S3Error (status, code, message); NotFound (404); IntegrityError (bytes not what was expected);
  Interrupted (a BaseException raised by the CLI's SIGTERM/SIGINT handler).

CLI (what scripts/host/lib/s3stream.py runs, so the bash callers keep working):
  put BUCKET KEY [--report F] < data      get BUCKET KEY [--report F] [--expect F] > data
  head BUCKET KEY                         ls BUCKET PREFIX [--delimiter D]  (JSON lines {key,size,etag})
  cat BUCKET KEY  (exit 3 when missing)   put-file BUCKET KEY FILE          rm BUCKET KEY|PREFIX/ [--prefix]
Environment: S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_FILE, S3_SECRET_KEY_FILE (paths of files: keys never in
argv or env values), S3_CA_FILE, S3_PART_SIZE (>= 5 MiB), S3_CONCURRENCY, S3_BWLIMIT (bytes/s),
S3_ATTEMPTS (default 5), S3_RETRY_DELAY (seconds, default 1, doubling). Exit 0 ok, 1 failure, 2 usage.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import http.client
import json
import os
import queue
import signal
import ssl
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional, Tuple

EMPTY_SHA = hashlib.sha256(b"").hexdigest()
MIN_PART = 5 << 20
PROG = "s3stream"


class S3Error(RuntimeError):
    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NotFound(S3Error):
    pass


class IntegrityError(RuntimeError):
    """The stored bytes are not what a signed manifest (or the upload) says."""


class Transient(Exception):
    """A failure worth retrying: dropped connection, 5xx, SlowDown."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT: an upload in flight is aborted before the process ends."""


def on_signal(signum, _frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _stderr(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)


def _quote(v: str) -> str:
    return urllib.parse.quote(v, safe="-_.~")


@dataclasses.dataclass
class PutReport:
    sha256: str
    size: int
    etag: str
    part_size: int
    parts: List[Dict[str, object]]
    parts_verified: bool

    def as_json(self) -> Dict[str, object]:
        return {"sha256": self.sha256, "size": self.size, "etag": self.etag, "partSize": self.part_size,
                "parts": self.parts, "partsVerified": self.parts_verified}


@dataclasses.dataclass
class GetReport:
    sha256: str
    size: int
    etag: str
    consumer_gone: bool = False

    def as_json(self) -> Dict[str, object]:
        return {"sha256": self.sha256, "size": self.size, "etag": self.etag}


@dataclasses.dataclass
class Entry:
    key: str = ""
    size: int = 0
    etag: str = ""
    last_modified: str = ""
    prefix: str = ""  # a common prefix (listing with a delimiter)


@dataclasses.dataclass
class Head:
    size: int
    etag: str


class Expected:
    """What a signed manifest says the object is: total size and sha256, and each part's size and sha256."""

    def __init__(self, size: int, sha256: str, parts: List[Tuple[int, str]]) -> None:
        if not parts or sum(s for s, _ in parts) != size:
            raise ValueError("the parts do not add up to the object's size")
        self.size, self.sha256, self.parts = size, sha256, parts

    @classmethod
    def from_doc(cls, doc: Dict) -> "Expected":
        try:
            return cls(int(doc["size"]), str(doc["sha256"]), [(int(p["size"]), str(p["sha256"])) for p in doc["parts"]])
        except (KeyError, TypeError) as e:
            raise ValueError(f"not an object description ({e})") from None

    @classmethod
    def from_file(cls, path: str) -> "Expected":
        with open(path) as f:
            return cls.from_doc(json.load(f))


class Throttle:
    """Sleeps so that the bytes passed average at most `limit` per second (0: unlimited)."""

    def __init__(self, limit: float = 0) -> None:
        self.limit = limit
        self.start = time.monotonic()
        self.sent = 0

    def passed(self, n: int) -> None:
        if self.limit <= 0:
            return
        self.sent += n
        ahead = self.sent / self.limit - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def read_full(stream, n: int, throttle: Throttle) -> memoryview:
    """Up to n bytes read straight into one buffer (no concatenation copy)."""
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


class _Conn:
    """A keep-alive connection that can be replaced when the server has closed it."""

    def __init__(self, client: "Client"):
        self.client = client
        self.c = client._new_connection()

    def get(self) -> http.client.HTTPConnection:
        return self.c

    def reset(self) -> http.client.HTTPConnection:
        self.c.close()
        self.c = self.client._new_connection()
        return self.c


class Client:
    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, region: str = "",
                 ca_file: Optional[str] = None, attempts: int = 5, retry_delay: float = 1.0,
                 part_size: int = MIN_PART, concurrency: int = 1, bwlimit: float = 0,
                 log: Callable[[str], None] = _stderr) -> None:
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"S3 endpoint '{endpoint}': expected http(s)://host[:port]")
        if not bucket or "/" in bucket:
            raise ValueError(f"S3 bucket '{bucket}': expected a bucket name")
        self.scheme, self.host = u.scheme, u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.netloc = u.netloc
        self.bucket = bucket
        self.region = region or "us-east-1"
        self.access, self.secret = access_key, secret_key
        self.attempts = max(1, attempts)
        self.retry_delay = retry_delay
        self.part_size = max(MIN_PART, part_size)
        self.concurrency = max(1, concurrency)
        self.bwlimit = bwlimit
        self.log = log
        self.tls: Optional[ssl.SSLContext] = None
        if self.scheme == "https":
            self.tls = ssl.create_default_context(cafile=ca_file or None)

    # ---- transport ----

    def _new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=300, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=300)

    def _path(self, key: str) -> str:
        return f"/{self.bucket}/{key}" if key else f"/{self.bucket}"

    def _sign(self, method: str, path: str, query: Dict[str, str], payload_sha: str) -> Dict[str, str]:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        canon_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
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

    def _request(self, conn: _Conn, method: str, path: str, query: Optional[Dict[str, str]] = None, body=b"",
                 stream: bool = False, headers: Optional[Dict[str, str]] = None,
                 payload_sha: Optional[str] = None) -> http.client.HTTPResponse:
        """One request, retried with a doubling delay on what is transient: a dropped connection (servers
        close idle keep-alive connections: s3rver after 5 s), 5xx and SlowDown. Every request here is
        idempotent (part uploads, initiate/complete/abort, GET, HEAD, DELETE), so a retry is safe."""
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(conn.get() if attempt == 1 else conn.reset(), method, path, query or {}, body,
                                  stream, headers or {}, payload_sha)
            except Transient as e:
                if attempt == self.attempts:
                    raise S3Error(f"{e} (after {attempt} attempts)") from None
                self.log(f"{e}; attempt {attempt}/{self.attempts}, retrying in {delay:g}s")
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _once(self, conn: http.client.HTTPConnection, method: str, path: str, query: Dict[str, str], body,
              stream: bool, extra: Dict[str, str], payload_sha: Optional[str]) -> http.client.HTTPResponse:
        sha = payload_sha or (hashlib.sha256(body).hexdigest() if len(body) else EMPTY_SHA)
        headers = self._sign(method, path, query, sha)
        headers["content-length"] = str(len(body))
        headers.update(extra)
        url = urllib.parse.quote(path, safe="/-_.~")
        if query:
            url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" if v != "" else _quote(k) for k, v in query.items())
        try:
            conn.request(method, url, body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            raise Transient(f"{method} {path}: {e.__class__.__name__}: {e}") from None
        if resp.status >= 300:
            try:
                detail = resp.read()[:500].decode(errors="replace")
            except (OSError, http.client.HTTPException) as e:
                raise Transient(f"{method} {path}: HTTP {resp.status}, reading the error: {e}") from None
            if resp.status >= 500 or "SlowDown" in detail:
                raise Transient(f"{method} {path}: HTTP {resp.status} {detail}")
            code = ""
            if detail.startswith("<"):
                try:
                    code = ET.fromstring(detail).findtext("Code") or ""
                except ET.ParseError:
                    pass
            cls = NotFound if resp.status == 404 else S3Error
            raise cls(f"{method} {path}: HTTP {resp.status} {detail}", resp.status, code)
        if not stream:
            try:
                resp.body = resp.read()  # type: ignore[attr-defined]
            except (OSError, http.client.HTTPException) as e:
                raise Transient(f"{method} {path}: reading the response: {e}") from None
        return resp

    # ---- upload ----

    def put_bytes(self, key: str, data: bytes) -> PutReport:
        sha = hashlib.sha256(data).hexdigest()
        r = self._request(_Conn(self), "PUT", self._path(key), {}, data, payload_sha=sha)
        etag = (r.getheader("ETag") or "").strip('"')
        md5 = hashlib.md5(data).hexdigest()
        return PutReport(sha, len(data), etag, self.part_size, [{"size": len(data), "sha256": sha}], etag == md5)

    def put_stream(self, key: str, reader) -> PutReport:
        """Multipart upload of a binary stream: memory stays at (concurrency + 1) parts (the next part is read
        while the others go up; one more only waited in the queue: WHY.md). Each part's sha256 is computed
        once, for the report and as the signed payload hash (the store refuses a damaged part)."""
        part_size = self.part_size
        throttle = Throttle(self.bwlimit)
        whole = hashlib.sha256()
        parts: List[Dict[str, object]] = []
        part_md5: Dict[int, str] = {}
        slots = threading.Semaphore(self.concurrency + 1)  # a part's memory, from its read to its upload's end
        slots.acquire()
        first = read_full(reader, part_size, throttle)
        if len(first) < part_size:  # small object: one PUT
            sha = hashlib.sha256(first).hexdigest()
            r = self._request(_Conn(self), "PUT", self._path(key), {}, first, payload_sha=sha)
            etag = (r.getheader("ETag") or "").strip('"')
            return PutReport(sha, len(first), etag, part_size, [{"size": len(first), "sha256": sha}],
                             etag == hashlib.md5(first).hexdigest())
        path = self._path(key)
        main = _Conn(self)
        resp = self._request(main, "POST", path, {"uploads": ""})
        upload_id = ET.fromstring(resp.body).findtext("{*}UploadId")  # type: ignore[attr-defined]
        if not upload_id:
            raise S3Error("no UploadId in CreateMultipartUpload response")
        work: "queue.Queue[Optional[Tuple[int, memoryview, str]]]" = queue.Queue(maxsize=1)
        etags: Dict[int, str] = {}
        errors: List[BaseException] = []

        def worker() -> None:
            conn = _Conn(self)
            while True:
                item = work.get()
                if item is None:
                    return
                n, data, sha = item
                try:
                    if not errors:
                        r = self._request(conn, "PUT", path, {"partNumber": str(n), "uploadId": upload_id}, data,
                                          payload_sha=sha)
                        etags[n] = r.getheader("ETag") or ""
                except BaseException as e:  # noqa: BLE001 - reported after the join
                    errors.append(e)
                    conn = _Conn(self)
                finally:
                    del data, item
                    slots.release()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        size = 0
        try:
            n, data = 1, first
            while data and not errors:
                sha = hashlib.sha256(data).hexdigest()
                whole.update(data)
                size += len(data)
                part_md5[n] = hashlib.md5(data).hexdigest()
                parts.append({"size": len(data), "sha256": sha})
                work.put((n, data, sha))
                data = None  # type: ignore[assignment]
                n += 1
                slots.acquire()
                data = read_full(reader, part_size, throttle)
            # The stream ended (or a part failed): the workers finish what they hold. Only here: on a signal or
            # a failed read the upload is aborted at once (below). Waiting here then would hang behind a part
            # still in flight, with the queue full (the stop marks never got in): one SIGTERM never ended it.
            for _ in threads:
                work.put(None)
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            body = "<CompleteMultipartUpload>" + "".join(
                f"<Part><PartNumber>{i}</PartNumber><ETag>{etags[i]}</ETag></Part>" for i in sorted(etags)
            ) + "</CompleteMultipartUpload>"
            r = self._request(main, "POST", path, {"uploadId": upload_id}, body.encode())
            # CompleteMultipartUpload can fail after a 200 status line: the error is then in the body.
            if b"<Error>" in r.body:  # type: ignore[attr-defined]
                raise S3Error(f"completing the upload failed: {r.body[:300].decode(errors='replace')}")  # type: ignore[attr-defined]
            etag = ET.fromstring(r.body).findtext("{*}ETag") or ""  # type: ignore[attr-defined]
        except BaseException as e:  # noqa: BLE001 - every failure (OSError on the reader, a signal) aborts
            self._abort(path, upload_id, e)
        verified = bool(part_md5) and all(etags.get(i, "").strip('"') == md5 for i, md5 in part_md5.items())
        return PutReport(whole.hexdigest(), size, etag.strip('"'), part_size, parts, verified)

    def _abort(self, path: str, upload_id: str, cause: BaseException) -> None:
        """Aborts the multipart upload (no partial object ever appears), then raises what caused it."""
        restore = []
        if threading.current_thread() is threading.main_thread():
            # A second TERM must not stop the abort half way.
            for s in (signal.SIGTERM, signal.SIGINT):
                restore.append((s, signal.signal(s, signal.SIG_IGN)))
        try:
            self._request(_Conn(self), "DELETE", path, {"uploadId": upload_id})
            aborted = "multipart upload aborted"
        except (S3Error, OSError) as abort_error:
            aborted = f"aborting the multipart upload failed too: {abort_error}"
        finally:
            for s, h in restore:
                signal.signal(s, h)
        what = f"{cause.__class__.__name__} {cause}" if isinstance(cause, (Interrupted, OSError)) else str(cause)
        raise UploadFailed(f"upload failed: {what} ({aborted})", cause) from None

    # ---- download ----

    def get_stream(self, key: str, writer, expect: Optional[Expected] = None) -> GetReport:
        path = self._path(key)
        throttle = Throttle(self.bwlimit)
        conn = _Conn(self)
        whole = hashlib.sha256()
        state = {"gone": False}

        def emit(data) -> None:
            if state["gone"]:
                return
            try:
                writer.write(data)
            except BrokenPipeError:
                # The consumer stopped early (a failed load): read the rest anyway, so the report says
                # whether the stored object itself is intact.
                state["gone"] = True

        etag = ""
        offset = 0
        resp: Optional[http.client.HTTPResponse] = None

        def open_at(at: int) -> http.client.HTTPResponse:
            nonlocal etag
            headers: Dict[str, str] = {}
            if at:
                headers["range"] = f"bytes={at}-"
                if etag:
                    headers["if-match"] = f'"{etag}"'  # the same object, not one written since
            r = self._request(conn, "GET", path, {}, stream=True, headers=headers)
            etag = etag or (r.getheader("ETag") or "").strip('"')
            return r

        if expect is None:
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            failures = 0
            while True:
                try:
                    if resp is None:
                        resp = open_at(offset)
                    k = resp.readinto(buf)
                    if not k and resp.length:
                        # http.client returns 0, not IncompleteRead, when the connection closes before the
                        # Content-Length: a cut-off download would otherwise pass as complete.
                        raise Transient(f"the connection closed {resp.length} bytes before the end")
                except (OSError, http.client.HTTPException, Transient) as e:
                    # A dropped download resumes at the byte it stopped at.
                    resp = None
                    conn.reset()
                    failures += 1
                    if failures >= self.attempts:
                        raise S3Error(f"GET {path}: at byte {offset}: {e} (after {failures} attempts)") from None
                    self.log(f"GET {path}: at byte {offset}: {e}; resuming ({failures}/{self.attempts})")
                    time.sleep(self.retry_delay * 2 ** (failures - 1))
                    continue
                if not k:
                    break
                whole.update(view[:k])
                offset += k
                throttle.passed(k)
                emit(view[:k])
        else:
            for number, (size, want) in enumerate(expect.parts, start=1):
                data = None
                for attempt in range(1, self.attempts + 1):
                    try:
                        if resp is None:
                            # A dropped download resumes at the start of the part it was reading.
                            resp = open_at(offset)
                        data = read_full(resp, size, throttle)
                        if len(data) == size:
                            break
                        raise Transient(f"object ends at {offset + len(data)} bytes, the manifest says {expect.size}")
                    except (Transient, OSError, http.client.HTTPException) as e:
                        resp = None
                        conn.reset()
                        if attempt == self.attempts:
                            raise S3Error(f"GET {path}: part {number}: {e} (after {attempt} attempts)") from None
                        time.sleep(self.retry_delay * 2 ** (attempt - 1))
                got = hashlib.sha256(data).hexdigest()
                if got != want:
                    raise IntegrityError(f"{key}: part {number} (bytes {offset}-{offset + size - 1}) has sha256 {got}, "
                                         f"the signed manifest says {want}: refused before it was passed on")
                whole.update(data)
                emit(data)
                offset += size
            if resp is not None and resp.read(1):
                raise IntegrityError(f"{key}: the stored object is longer than the {expect.size} bytes the signed manifest says")
        if not state["gone"]:
            try:
                writer.flush()
            except BrokenPipeError:
                state["gone"] = True
        report = GetReport(whole.hexdigest(), offset, etag, state["gone"])
        if expect is not None and (report.size != expect.size or report.sha256 != expect.sha256):
            raise IntegrityError(f"{key}: {report.size} bytes with sha256 {report.sha256}, the signed manifest says "
                                 f"{expect.size} bytes with sha256 {expect.sha256}")
        return report

    def get_bytes(self, key: str, missing_ok: bool = False) -> Optional[bytes]:
        try:
            r = self._request(_Conn(self), "GET", self._path(key))
        except NotFound:
            if missing_ok:
                return None
            raise
        return r.body  # type: ignore[attr-defined]

    def head(self, key: str) -> Optional[Head]:
        try:
            r = self._request(_Conn(self), "HEAD", self._path(key))
        except NotFound:
            return None
        return Head(int(r.getheader("Content-Length") or -1), (r.getheader("ETag") or "").strip('"'))

    # ---- listing, deleting ----

    def list(self, prefix: str = "", delimiter: Optional[str] = None) -> List[Entry]:
        out: List[Entry] = []
        token = ""
        conn = _Conn(self)
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if delimiter:
                q["delimiter"] = delimiter
            if token:
                q["continuation-token"] = token
            r = self._request(conn, "GET", self._path(""), q)
            try:
                root = ET.fromstring(r.body)  # type: ignore[attr-defined]
            except ET.ParseError as e:
                raise S3Error(f"listing {prefix}: not XML: {e}") from None
            for c in root.findall("{*}Contents"):
                out.append(Entry(key=c.findtext("{*}Key") or "", size=int(c.findtext("{*}Size") or 0),
                                 etag=(c.findtext("{*}ETag") or "").strip('"'),
                                 last_modified=c.findtext("{*}LastModified") or ""))
            for p in root.findall("{*}CommonPrefixes"):
                out.append(Entry(prefix=p.findtext("{*}Prefix") or ""))
            if (root.findtext("{*}IsTruncated") or "false").lower() != "true":
                return out
            token = root.findtext("{*}NextContinuationToken") or ""
            if not token:
                raise S3Error(f"listing {prefix}: truncated without a continuation token")

    def delete(self, key: str) -> None:
        try:
            self._request(_Conn(self), "DELETE", self._path(key))
        except NotFound:
            pass

    def delete_prefix(self, prefix: str) -> int:
        """Deletes every object under prefix (which must end in '/'); returns how many."""
        if not prefix.endswith("/") or prefix == "/":
            raise ValueError(f"delete_prefix '{prefix}': a prefix must be a non-empty directory ending in '/'")
        entries = [e for e in self.list(prefix) if e.key]
        for e in entries:
            self.delete(e.key)
        return len(entries)

    def reachable(self, prefix: str = "") -> None:
        """Raises S3Error unless the bucket can be listed (wrong endpoint, keys or bucket): one level under
        prefix. (Not max-keys=1: s3rver answers a truncated ListObjectsV2 with a 500.)"""
        self._request(_Conn(self), "GET", self._path(""), {"list-type": "2", "prefix": prefix, "delimiter": "/"})


class UploadFailed(S3Error):
    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause


def _read_key_file(path: str, what: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise ValueError(f"{what}: cannot read {path}: {e.strerror}") from None


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name) or ""
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}='{raw}': must be a whole number") from None


def _tuning_from_env() -> Dict[str, object]:
    return {"attempts": _int_env("S3_ATTEMPTS", 5), "retry_delay": float(os.environ.get("S3_RETRY_DELAY") or 1),
            "part_size": _int_env("S3_PART_SIZE", MIN_PART), "concurrency": _int_env("S3_CONCURRENCY", 1),
            "bwlimit": float(os.environ.get("S3_BWLIMIT") or 0)}


def from_env(bucket: str, log: Callable[[str], None] = _stderr) -> Client:
    for var in ("S3_ACCESS_KEY_FILE", "S3_SECRET_KEY_FILE"):
        if not os.environ.get(var):
            raise ValueError(f"{var} is not set (path of a 0600 file)")
    endpoint = os.environ.get("S3_ENDPOINT", "")
    if "://" not in endpoint:
        raise ValueError(f"S3_ENDPOINT='{endpoint}': expected http(s)://host[:port]")
    return Client(endpoint, bucket, _read_key_file(os.environ["S3_ACCESS_KEY_FILE"], "S3_ACCESS_KEY_FILE"),
                  _read_key_file(os.environ["S3_SECRET_KEY_FILE"], "S3_SECRET_KEY_FILE"),
                  region=os.environ.get("S3_REGION") or "", ca_file=os.environ.get("S3_CA_FILE") or None,
                  log=log, **_tuning_from_env())  # type: ignore[arg-type]


def from_config(cfg, log: Callable[[str], None] = _stderr, small: bool = False) -> Client:
    """The datastore of the env file (DATASTORE_ENDPOINT/BUCKET/REGION/CA_FILE) with the datastore-* secret
    files; tuning from the process environment (DBTIER_S3_* as the toolkit documents, S3_* as the CLI).
    small: a client for listings, manifests, records and deletes, DBTIER_S3_LOW_LEVEL_RETRIES [3] attempts."""
    from . import config as _config
    cfg.require("DATASTORE_ENDPOINT", "DATASTORE_BUCKET")
    env = os.environ
    tuning = _tuning_from_env()
    if env.get("DBTIER_S3_PART_SIZE"):
        tuning["part_size"] = _int_env("DBTIER_S3_PART_SIZE", MIN_PART)
    if env.get("DBTIER_S3_CONCURRENCY"):
        tuning["concurrency"] = _int_env("DBTIER_S3_CONCURRENCY", 1)
    if env.get("DBTIER_S3_BWLIMIT"):
        tuning["bwlimit"] = float(_int_env("DBTIER_S3_BWLIMIT", 0))
    if small:
        tuning["attempts"] = max(1, _int_env("DBTIER_S3_LOW_LEVEL_RETRIES", 3))
    return Client(cfg.get("DATASTORE_ENDPOINT"), cfg.get("DATASTORE_BUCKET"),
                  _config.secret("datastore-access-key-id"), _config.secret("datastore-secret-access-key"),
                  region=cfg.get("DATASTORE_REGION"), ca_file=cfg.get("DATASTORE_CA_FILE") or None, log=log,
                  **tuning)  # type: ignore[arg-type]


# ---- CLI ----

def _die(code: int, msg: str) -> None:
    _stderr(msg)
    sys.exit(code)


def _take_option(args: List[str], name: str, flag: bool = False) -> Optional[str]:
    if name not in args:
        return None
    i = args.index(name)
    if flag:
        del args[i]
        return "1"
    if i + 1 >= len(args):
        _die(2, f"{name} needs a value")
    value = args[i + 1]
    del args[i:i + 2]
    return value


def _write_report(path: Optional[str], doc: Dict[str, object]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(doc, f)
            f.write("\n")


USAGE = ("usage: s3stream.py put|get|head|cat|ls|put-file|rm BUCKET KEY [FILE] [--report FILE] [--expect FILE] "
         "[--delimiter D] [--prefix]")
ARITY = {"put": 3, "get": 3, "head": 3, "cat": 3, "ls": 3, "put-file": 4, "rm": 3}


def main(argv: List[str]) -> None:
    args = argv[1:]
    report = _take_option(args, "--report")
    expect_file = _take_option(args, "--expect")
    delimiter = _take_option(args, "--delimiter")
    as_prefix = _take_option(args, "--prefix", flag=True)
    if not args or args[0] not in ARITY or len(args) != ARITY[args[0]]:
        _die(2, USAGE)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    command, bucket, key = args[:3]
    try:
        expect = None
        if expect_file:
            try:
                expect = Expected.from_file(expect_file)
            except (OSError, ValueError) as e:
                _die(2, f"--expect {expect_file}: {e}")
        client = from_env(bucket)
    except ValueError as e:
        _die(2, str(e))
        return
    try:
        if command == "put":
            _write_report(report, client.put_stream(key, sys.stdin.buffer).as_json())
        elif command == "get":
            got = client.get_stream(key, sys.stdout.buffer, expect)
            _write_report(report, got.as_json())
            if got.consumer_gone:
                # stdout is a dead pipe: keep the interpreter from complaining about it at exit. The
                # download itself succeeded; the consumer's own exit status tells why it stopped.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        elif command == "head":
            h = client.head(key)
            if h is None:
                _die(3, f"{key}: no such object")
            print(json.dumps({"size": h.size, "etag": h.etag}))  # type: ignore[union-attr]
        elif command == "cat":
            data = client.get_bytes(key, missing_ok=True)
            if data is None:
                _die(3, f"{key}: no such object")
            sys.stdout.buffer.write(data)  # type: ignore[arg-type]
        elif command == "put-file":
            with open(args[3], "rb") as f:
                _write_report(report, client.put_bytes(key, f.read()).as_json())
        elif command == "ls":
            for e in client.list(key, delimiter):
                print(json.dumps({"prefix": e.prefix} if e.prefix else {"key": e.key, "size": e.size, "etag": e.etag}))
        elif command == "rm":
            if as_prefix:
                client.delete_prefix(key)
            else:
                client.delete(key)
    except (OSError, S3Error, IntegrityError, http.client.HTTPException, ET.ParseError) as e:
        _die(1, str(e))
    except Interrupted as e:
        _die(1, f"stopped by {e}")


if __name__ == "__main__":
    main(sys.argv)
