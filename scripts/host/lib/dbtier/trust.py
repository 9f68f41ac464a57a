"""Who may have written what the datastore holds: OpenSSH ed25519 signatures (`ssh-keygen -Y`), the way the
toolkit has made and checked them since signing began: namespace "dbtier-backup", the signer known by its application prefix
(the principal), the private key in the secret file backup-signing-key, the public keys pinned in the env
file (BACKUP_SIGNING_PUBLIC_KEY for APP_NAME, APP_DB_SOURCE_SIGNING_PUBLIC_KEY for APP_DB_SOURCE_APP).

  sign(data, key_file=None, namespace=NAMESPACE) -> bytes      the armored signature (what FILE.sig holds)
  verify(data, sig, public_key, principal, namespace=NAMESPACE) -> Verdict(ok, reason)
  public_key_of(key_file) -> "ssh-ed25519 AAAA..."             (raises TrustError)
  check_signing_key(cfg)   the key on this host is the one BACKUP_SIGNING_PUBLIC_KEY pins (ConfigError if not)
  Signer(cfg)              .sign(data) (checks the key once), .verify(app, data, sig) -> Verdict with the
                           key cfg pins for app ("no signing key is pinned for <app>" otherwise)

Data and signatures go through stdin and private temp files (0600, removed at once); no secret reaches argv.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from typing import Optional

from . import config

NAMESPACE = "dbtier-backup"


class TrustError(RuntimeError):
    pass


@dataclasses.dataclass
class Verdict:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def _tmpdir() -> str:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="dbtier-trust.", dir=base)


def _last_line(b: bytes) -> str:
    lines = [ln for ln in b.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def sign(data: bytes, key_file: Optional[str] = None, namespace: str = NAMESPACE) -> bytes:
    key_file = key_file or config.secret_path("backup-signing-key")
    # ssh-keygen -Y sign with no file signs stdin and writes the signature to stdout.
    r = subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", key_file, "-n", namespace],
                       input=data, capture_output=True)
    if r.returncode != 0 or not r.stdout.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        raise TrustError(f"signing failed: {' '.join(r.stderr.decode(errors='replace').split())}")
    return r.stdout


def verify(data: bytes, sig: bytes, public_key: str, principal: str, namespace: str = NAMESPACE) -> Verdict:
    if not public_key:
        return Verdict(False, f"no signing key is pinned for {principal}")
    if not sig:
        return Verdict(False, "it carries no signature")
    key = " ".join(public_key.split(" ")[:2])
    d = _tmpdir()
    try:
        allowed = os.path.join(d, "allowed-signers")
        sigfile = os.path.join(d, "data.sig")
        with open(os.open(allowed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(f'{principal} namespaces="{namespace}" {key}\n')
        with open(os.open(sigfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(sig)
        r = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", principal, "-n", namespace,
                            "-s", sigfile], input=data, capture_output=True)
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    if r.returncode == 0:
        return Verdict(True)
    return Verdict(False, _last_line(r.stderr) or _last_line(r.stdout) or f"ssh-keygen exit {r.returncode}")


def public_key_of(key_file: str) -> str:
    r = subprocess.run(["ssh-keygen", "-y", "-f", key_file], stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        raise TrustError(f"signing: {key_file} is not an OpenSSH private key: {_last_line(r.stderr)}")
    return " ".join(r.stdout.decode().split()[:2])


def check_signing_key(cfg: config.Config) -> None:
    config.secret("backup-signing-key")  # exists, 0600
    file = config.secret_path("backup-signing-key")
    if public_key_of(file) != cfg.signing_key_of(cfg.app):
        raise config.ConfigError(f"signing: the key in {file} is not the one BACKUP_SIGNING_PUBLIC_KEY pins; "
                                 "loaders would refuse what it signs")


def require_signer(cfg: config.Config, app: str) -> None:
    if cfg.signing_key_of(app):
        return
    if app == cfg.app:
        raise config.ConfigError(f"BACKUP_SIGNING_PUBLIC_KEY is not set: backups under {app} cannot be authenticated")
    raise config.ConfigError(f"APP_DB_SOURCE_SIGNING_PUBLIC_KEY is not set: backups under {app} "
                             "(APP_DB_SOURCE_APP) cannot be authenticated")


class Signer:
    def __init__(self, cfg: config.Config) -> None:
        self.cfg = cfg
        self._checked = False

    def check(self) -> None:
        if not self._checked:
            check_signing_key(self.cfg)
            self._checked = True

    def sign(self, data: bytes) -> bytes:
        self.check()
        return sign(data)

    def verify(self, app: str, data: bytes, sig: bytes) -> Verdict:
        return verify(data, sig, self.cfg.signing_key_of(app) or "", app)
