#!/usr/bin/python3
"""The bench's boto3 twin of scripts/host/lib/s3stream.py: same CLI, environment and --report, so the two
can be measured side by side (scripts/bench/s3clients.py). Debian's python3-boto3, /usr/bin/python3.

  s3boto.py put BUCKET KEY [--report F]               < data   multipart upload of stdin, (concurrency + 2) parts
  s3boto.py get BUCKET KEY [--report F] [--expect F]  > data   streamed GET; --expect: each part checked first
  s3boto.py head BUCKET KEY                                    prints {"size": N, "etag": "..."}

--report and --expect documents as s3stream's. Same wire checks as s3stream: every part's SHA-256 in the
signed request (payload signing forced on, also over https, where botocore would send UNSIGNED-PAYLOAD),
every part's returned ETag compared with the MD5 of the bytes sent; and, as botocore does for every part,
Content-MD5. S3_CHECKSUM=sha256 instead sends each part's SHA-256 (the one the report needs anyway, so it
is computed once) as x-amz-checksum-sha256 with an unsigned payload: a flexible checksum, which AWS
verifies and keeps per part; stores without flexible checksums ignore the header (Content-MD5 remains).
boto3 itself retries with backoff on 5xx, SlowDown and dropped connections (S3_ATTEMPTS, default 5), but
not a body that breaks off mid-GET: that resumes here with a Range request. This script also aborts the
multipart upload on any failure and on SIGTERM/SIGINT. Not implemented: S3_BWLIMIT.

S3_BOTO_MODE=transfer uses boto3's managed transfer instead (upload_fileobj / download_fileobj, the
library's own stream handling: it aborts a failed multipart upload and retries a broken download body),
one request in flight, same part size, otherwise its defaults (up to 10 parts buffered). It has no hook
for per-part checks: no part ETags (partsVerified absent), no --expect.
Exit 0 ok, 1 failure, 2 usage.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import boto3
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, IncompleteReadError, ReadTimeoutError,
                                 ResponseStreamingError)

# The report and --expect documents, the secret files, the signals and the option parsing are s3stream's
# own (its directory: S3STREAM_DIR, default the toolkit's), so the twin cannot drift from what it mirrors.
sys.path.insert(0, os.environ.get("S3STREAM_DIR") or str(Path(__file__).resolve().parents[1] / "host/lib"))
from s3stream import Expected, Interrupted, Tally, on_signal, read_secret, take_option  # noqa: E402

MIN_PART = 5 << 20  # S3's smallest part (except the last)
READ_CHUNK = 1 << 20


def die(code: int, msg: str) -> None:
    print(f"s3boto: {msg}", file=sys.stderr)
    sys.exit(code)


def checksum_header() -> bool:
    return os.environ.get("S3_CHECKSUM") == "sha256"


def client():
    endpoint = os.environ.get("S3_ENDPOINT", "")
    if not endpoint.startswith(("http://", "https://")):
        die(2, f"S3_ENDPOINT='{endpoint}': expected http(s)://host[:port]")
    attempts = int(os.environ.get("S3_ATTEMPTS") or 5)
    cfg = Config(
        # botocore's "standard" retry mode: exponential backoff with jitter on 5xx, throttling codes
        # (SlowDown among them, botocore/retries/standard.py) and connection errors.
        retries={"mode": "standard", "max_attempts": attempts},
        s3={"addressing_style": "path", "payload_signing_enabled": not checksum_header()},
        signature_version="s3v4", connect_timeout=60, read_timeout=300,
        max_pool_connections=max(1, int(os.environ.get("S3_CONCURRENCY", "1"))) + 1,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=os.environ.get("S3_REGION") or "us-east-1",
        aws_access_key_id=read_secret("S3_ACCESS_KEY_FILE"), aws_secret_access_key=read_secret("S3_SECRET_KEY_FILE"),
        verify=os.environ.get("S3_CA_FILE") or True, config=cfg)


def part_sums(tally: Tally, data: bytes, n: int) -> Dict[str, str]:
    """Tallies part n and returns its checksum arguments for boto3, from the digests the tally made.
    botocore sends Content-MD5 with every part anyway (the store checks it: BadDigest); handing it the MD5
    computed for the ETag check keeps it from hashing the part a second time."""
    tally.add(data, part=n)
    b64 = lambda hexdigest: base64.b64encode(bytes.fromhex(hexdigest)).decode()  # noqa: E731
    sha = str(tally.parts[-1]["sha256"])
    return {"ContentMD5": b64(tally.part_md5[n]), **({"ChecksumSHA256": b64(sha)} if checksum_header() else {})}


def put(s3, bucket: str, key: str, report: Optional[str]) -> None:
    part_size = max(MIN_PART, int(os.environ.get("S3_PART_SIZE", str(MIN_PART))))
    concurrency = max(1, int(os.environ.get("S3_CONCURRENCY", "1")))
    stdin = sys.stdin.buffer
    tally = Tally(part_size)
    first = stdin.read(part_size)
    if len(first) < part_size:  # small object: one PUT
        etag = s3.put_object(Bucket=bucket, Key=key, Body=first, **part_sums(tally, first, 1))["ETag"]
        tally.write(report, etag.strip('"'), {1: etag})
        return
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, **({"ChecksumAlgorithm": "SHA256"} if checksum_header() else {}))["UploadId"]
    # Bounded hand-off as in s3stream: the reader blocks once one part waits.
    work: "queue.Queue[Optional[Tuple[int, bytes, Dict[str, str]]]]" = queue.Queue(maxsize=1)
    parts: Dict[int, Dict[str, object]] = {}
    errors: List[BaseException] = []

    def worker() -> None:
        while True:
            item = work.get()
            if item is None:
                return
            n, data, sums = item
            try:
                if not errors:
                    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data, **sums)
                    parts[n] = {"PartNumber": n, "ETag": r["ETag"],
                                **({"ChecksumSHA256": r["ChecksumSHA256"]} if r.get("ChecksumSHA256") else {})}
            except BaseException as e:  # noqa: BLE001 - reported after the join
                errors.append(e)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    try:
        n, data = 1, first
        try:
            while data and not errors:
                work.put((n, data, part_sums(tally, data, n)))
                n += 1
                data = stdin.read(part_size)
        finally:
            for _ in threads:
                work.put(None)
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": [parts[i] for i in sorted(parts)]})
    except BaseException as e:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not stop the abort half way
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Any failure (store, stdin, SIGTERM): abort, so its parts are not kept (and billed) until a lifecycle rule removes them.
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            aborted = "multipart upload aborted"
        except (BotoCoreError, ClientError, OSError) as abort_error:
            aborted = f"aborting the multipart upload failed too: {abort_error}"
        die(1, f"upload failed: {e.__class__.__name__}: {e} ({aborted})")
    tally.write(report, r["ETag"].strip('"'), {i: str(p["ETag"]) for i, p in parts.items()})


def read_exact(body, n: int) -> bytes:
    chunks = []
    while n > 0:
        c = body.read(min(n, READ_CHUNK))
        if not c:
            break
        chunks.append(c)
        n -= len(c)
    return b"".join(chunks)


def get(s3, bucket: str, key: str, report: Optional[str], expect: Optional[Expected]) -> None:
    out = sys.stdout.buffer
    tally = Tally()
    consumer_gone = False

    def emit(data: bytes) -> None:
        nonlocal consumer_gone
        if not consumer_gone:
            try:
                out.write(data)
            except BrokenPipeError:
                consumer_gone = True  # read and hash the rest anyway, as s3stream does

    if expect is None:
        resp = s3.get_object(Bucket=bucket, Key=key)
        etag = resp["ETag"].strip('"')
        body = resp["Body"]
        while True:
            chunk = body.read(READ_CHUNK)  # StreamingBody checks Content-Length at the end
            if not chunk:
                break
            tally.add(chunk)
            emit(chunk)
    else:
        attempts = int(os.environ.get("S3_ATTEMPTS") or 5)
        etag, offset, body = "", 0, None
        for number, (size, want) in enumerate(expect.parts, start=1):
            for attempt in range(1, attempts + 1):
                try:
                    if body is None:  # botocore retries up to the headers; a broken body resumes here
                        resp = s3.get_object(Bucket=bucket, Key=key, **({"Range": f"bytes={offset}-"} if offset else {}))
                        etag, body = etag or resp["ETag"].strip('"'), resp["Body"]
                    data = read_exact(body, size)
                    if len(data) == size:
                        break
                    raise ResponseStreamingError(error=f"object ends at {offset + len(data)} bytes, "
                                                       f"the manifest says {expect.size}")
                except (ResponseStreamingError, ReadTimeoutError, IncompleteReadError, OSError) as e:
                    body = None
                    if attempt == attempts:
                        die(1, f"GET {key}: part {number}: {e} (after {attempt} attempts)")
                    time.sleep(2 ** (attempt - 1))
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                die(1, f"{key}: part {number} has sha256 {got}, the signed manifest says {want}: refused before "
                       "it was passed on")
            tally.add(data)
            emit(data)
            offset += size
        if body is not None and body.read(1):
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def head(s3, bucket: str, key: str) -> None:
    r = s3.head_object(Bucket=bucket, Key=key)
    print(json.dumps({"size": r["ContentLength"], "etag": r["ETag"].strip('"')}))


class TallyReader:
    """stdin for upload_fileobj, hashed on the way through."""

    def __init__(self, raw, tally: Tally):
        self.raw, self.tally = raw, tally

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.tally.add(data)
        return data


class TallyWriter:
    """stdout for download_fileobj (no seek: s3transfer then writes the parts in order)."""

    def __init__(self, raw, tally: Tally):
        self.raw, self.tally = raw, tally

    def write(self, data: bytes) -> int:
        self.tally.add(data)
        return self.raw.write(data)


def transfer_config(part_size: int):
    from boto3.s3.transfer import TransferConfig
    return TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=1)


def transfer(s3, command: str, bucket: str, key: str, report: Optional[str]) -> None:
    part_size = max(MIN_PART, int(os.environ.get("S3_PART_SIZE", str(MIN_PART))))
    tally = Tally(part_size)
    extra = {"ChecksumAlgorithm": "SHA256"} if checksum_header() else None
    if command == "put":
        s3.upload_fileobj(TallyReader(sys.stdin.buffer, tally), bucket, key, ExtraArgs=extra,
                          Config=transfer_config(part_size))
    else:
        s3.download_fileobj(bucket, key, TallyWriter(sys.stdout.buffer, tally), Config=transfer_config(part_size))
        sys.stdout.buffer.flush()
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')  # upload_fileobj returns nothing
    tally.write(report, etag)


def main(argv: List[str]) -> None:
    args = argv[1:]
    report = take_option(args, "--report")
    expect_file = take_option(args, "--expect")
    if len(args) != 3 or args[0] not in ("put", "get", "head"):
        die(2, "usage: s3boto.py put|get|head BUCKET KEY [--report FILE] [--expect FILE]")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s3 = client()
    command, bucket, key = args
    try:
        if os.environ.get("S3_BOTO_MODE") == "transfer" and command != "head":
            if expect_file:
                die(2, "--expect: S3_BOTO_MODE=transfer has no per-part checks")
            transfer(s3, command, bucket, key, report)
        elif command == "put":
            put(s3, bucket, key, report)
        elif command == "get":
            get(s3, bucket, key, report, Expected(expect_file) if expect_file else None)
        else:
            head(s3, bucket, key)
    except (OSError, BotoCoreError, ClientError) as e:
        die(1, str(e))
    except Interrupted as e:
        die(1, f"stopped by {e}")


if __name__ == "__main__":
    main(sys.argv)
