"""The datastore layout and what may be believed of it (the rules the toolkit has kept since signing began).

  s3://$DATASTORE_BUCKET/<app>/<period>/<backup-id>/  dump.sql.zst.age, manifest.json(.sig), verification.json(.sig)

  st = Store(cfg, client=None, app=None)     app: cfg.app by default (a promotion reads APP_DB_SOURCE_APP's)
  st.key(period, id, obj="")                  "<app>/<period>/<id>/<obj>"
  st.backups(period=None) -> list[Backup]     every backup-id directory (Backup: period, id, names, data_size)
  st.manifest(period, id) -> Manifest         fetched and believed only when signed by the key pinned for the
                                              prefix's stack and naming this very backup (Refused otherwise;
                                              S3 errors pass through as s3.S3Error)
  st.verification_state(period, id, manifest) -> "ok" | "failed: <reason>" | "none" | "untrusted: <why>"
  check_manifest(doc, app, period, id) -> "" | what does not fit
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Dict, List, Optional

from . import config, s3, trust

DATA_OBJECT = "dump.sql.zst.age"
MANIFEST_OBJECT = "manifest.json"
VERIFICATION_OBJECT = "verification.json"
MANIFEST_FORMAT = 3
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Refused(Exception):
    """What the datastore holds is not to be believed (unsigned, altered, another stack's, a replay)."""


@dataclasses.dataclass
class Backup:
    period: str
    id: str
    names: List[str]
    data_size: int

    @property
    def has_manifest(self) -> bool:
        return MANIFEST_OBJECT in self.names


@dataclasses.dataclass
class Manifest:
    doc: Dict
    raw: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_manifest(doc, app: str, period: str, backup_id: str) -> str:
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("format") != MANIFEST_FORMAT:
        return f"format {json.dumps(doc.get('format'))} (this tool reads {MANIFEST_FORMAT})"
    if doc.get("app") != app:
        return f"it is a backup of {doc.get('app')}, not of {app}"
    if doc.get("period") != period or doc.get("backupId") != backup_id:
        return f"it describes {doc.get('period')}/{doc.get('backupId')}, not {period}/{backup_id} (a replay)"
    obj = doc.get("object")
    if not isinstance(obj, dict) or obj.get("key") != DATA_OBJECT:
        return f"object {obj.get('key') if isinstance(obj, dict) else obj}"
    if not (isinstance(obj.get("sha256"), str) and HEX64.match(obj["sha256"])) or not _is_num(obj.get("size")):
        return "no object checksum"
    parts = obj.get("parts")
    if (not isinstance(parts, list) or not parts
            or any(not isinstance(p, dict) or not (isinstance(p.get("sha256"), str) and HEX64.match(p["sha256"]))
                   or not _is_num(p.get("size")) for p in parts)
            or sum(p["size"] for p in parts) != obj["size"]):
        return "no valid part checksums"
    return ""


class Store:
    def __init__(self, cfg: config.Config, client: Optional[s3.Client] = None, app: Optional[str] = None) -> None:
        self.cfg = cfg
        self.client = client or s3.from_config(cfg)
        self.app = app or cfg.app

    def key(self, period: str, backup_id: str, obj: str = "") -> str:
        return f"{self.app}/{period}/{backup_id}/{obj}"

    def backups(self, period: Optional[str] = None) -> List[Backup]:
        root = f"{self.app}/"
        found: Dict[tuple, Backup] = {}
        for e in self.client.list(root + (f"{period}/" if period else "")):
            parts = e.key[len(root):].split("/", 2)
            if len(parts) != 3 or not config.is_backup_id(parts[1]):
                continue
            b = found.setdefault((parts[0], parts[1]), Backup(parts[0], parts[1], [], 0))
            b.names.append(parts[2])
            if parts[2] == DATA_OBJECT:
                b.data_size = e.size
        return sorted(found.values(), key=lambda b: b.id, reverse=True)

    def manifest(self, period: str, backup_id: str) -> Manifest:
        raw = self.client.get_bytes(self.key(period, backup_id, MANIFEST_OBJECT), missing_ok=True)
        if not raw:
            raise Refused(f"backup {period}/{backup_id} has no manifest (incomplete or missing)")
        sig = self.client.get_bytes(self.key(period, backup_id, MANIFEST_OBJECT + ".sig"), missing_ok=True) or b""
        verdict = trust.verify(raw, sig, self.cfg.signing_key_of(self.app) or "", self.app)
        if not verdict:
            raise Refused(f"backup {period}/{backup_id} refused: its manifest is not signed by the key pinned for "
                          f"{self.app}: {verdict.reason}")
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        problem = check_manifest(doc, self.app, period, backup_id) if doc is not None else "not JSON"
        if problem:
            raise Refused(f"backup {period}/{backup_id} refused: its signed manifest does not fit: {problem}")
        return Manifest(doc, raw)

    def verification_state(self, period: str, backup_id: str, manifest: Manifest) -> str:
        record = self.client.get_bytes(self.key(period, backup_id, VERIFICATION_OBJECT), missing_ok=True)
        if not record:
            return "none"
        sig = self.client.get_bytes(self.key(period, backup_id, VERIFICATION_OBJECT + ".sig"), missing_ok=True) or b""
        try:
            doc = json.loads(record)
        except ValueError:
            doc = {}
        by = doc.get("verifiedBy") if isinstance(doc, dict) else None
        verdict = trust.verify(record, sig, self.cfg.signing_key_of(by) or "", by) if isinstance(by, str) and by \
            else trust.Verdict(False, "")
        if not verdict:
            return f"untrusted: the record is not signed by a pinned key ({verdict.reason})"
        if doc.get("manifestSha256") != manifest.sha256 or doc.get("period") != period or doc.get("backupId") != backup_id:
            return "untrusted: the record is for another manifest"
        if doc.get("result") == "ok":
            return "ok"
        return f"failed: {doc.get('reason') or 'no reason recorded'}"
