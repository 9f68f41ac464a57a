"""The env file and the secret files, exactly as docs/host-contract.md (and lib/common.sh) define them.

  cfg = load(path=None, warn=...)   parses $DBTIER_ENV (default /etc/dbtier/dbtier.env): KEY=value lines,
                                    '#' comments, blank lines, one pair of surrounding quotes tolerated;
                                    never executed. Unknown keys: a warning; defaults filled in; every value
                                    validated (ConfigError naming the key, the value and what is allowed).
  cfg.get(key, default="")          the raw string ("" when unset)
  cfg.require(*keys)                ConfigError naming every missing key
  cfg.engine, cfg.family ("mysql"|"postgres"), cfg.role, cfg.db_port (int|None), cfg.periods (tuple),
  cfg.retain(period) -> int, cfg.state_dir, cfg.path, ...  (typed views of the same values)
  secret(name) -> str               /etc/dbtier/secrets/<name> ($DBTIER_SECRETS_DIR): content without its
                                    trailing newlines; a missing file or one others can read: ConfigError
  secret_path(name), has_secret(name)
  name_limit(engine, key), side_name(cfg, purpose)   identifier limits (components/engines.ts NAME_LIMITS)
  is_backup_id(s), new_backup_id(), PERIODS

ConfigError carries exit code 2 (usage/configuration), as every dbtier-db configuration failure.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets as _secrets
import stat
import sys
import time
from typing import Callable, Dict, Optional, Tuple

EXIT_FAIL = 1
EXIT_USAGE = 2

KNOWN_KEYS = frozenset("""
 DB_ROLE DB_ENGINE DB_ENGINE_VERSION DB_PACKAGE_SOURCE DB_HOST DB_PORT DB_LISTEN_ADDRESS
 DB_NAME DB_USER DB_ADMIN_USER DB_TLS_MODE DB_CA_FILE DB_WEBSERVER_SOURCES DB_DATA_DIR DB_SOCKET
 APP_DB_SOURCE APP_DB_SOURCE_APP APP_DB_BASELINE_REPO APP_DB_BASELINE_PATH APP_NAME BACKUP_PERIODS BACKUP_RETAIN_HOURLY
 BACKUP_RETAIN_DAILY BACKUP_RETAIN_WEEKLY BACKUP_RETAIN_MONTHLY BACKUP_RETAIN_SAFETY BACKUP_RECIPIENT
 BACKUP_SIGNING_PUBLIC_KEY APP_DB_SOURCE_SIGNING_PUBLIC_KEY DATASTORE_ENDPOINT DATASTORE_BUCKET DATASTORE_REGION
 DATASTORE_CA_FILE ALERT_EMAIL DBTIER_STATE_DIR
 PITR_WINDOW_DAYS
""".split())

# Keys other modules of this package register (PITR: PITR_WINDOW_DAYS ...); see register_keys().
_EXTRA_KEYS: set = set()

PERIODS: Tuple[str, ...] = ("hourly", "daily", "weekly", "monthly")
SSH_ED25519 = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/]{68}( [^\x00-\x1f\x7f]*)?$")
BACKUP_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
DEFAULTS = {
    "DB_PACKAGE_SOURCE": "vendor",
    "DB_TLS_MODE": "require",
    "DBTIER_STATE_DIR": "/var/lib/dbtier",
    "BACKUP_PERIODS": "hourly daily weekly monthly",
    "BACKUP_RETAIN_HOURLY": "24",
    "BACKUP_RETAIN_DAILY": "7",
    "BACKUP_RETAIN_WEEKLY": "4",
    "BACKUP_RETAIN_MONTHLY": "12",
    "BACKUP_RETAIN_SAFETY": "3",
    "APP_DB_BASELINE_PATH": "dbtier/baseline.sql",
    "DATASTORE_REGION": "us-east-1",
}
_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


class ConfigError(Exception):
    """A usage or configuration error: dbtier-db exits 2 with this message."""

    code = EXIT_USAGE


def register_keys(*keys: str) -> None:
    """Env keys a module adds to the contract (documented in docs/host-contract.md by its owner)."""
    _EXTRA_KEYS.update(keys)


def _warn_stderr(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} dbtier-db[config] warning: {msg}", file=sys.stderr)


def name_limit(engine: str, key: str) -> int:
    """MariaDB/MySQL: 64 for databases, 32 for users; PostgreSQL 63 bytes for both (NAMEDATALEN - 1)."""
    if engine == "postgres":
        return 63
    return 64 if key == "DB_NAME" else 32


class Config:
    def __init__(self, values: Dict[str, str], path: str) -> None:
        self.values = values
        self.path = path

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key) or default

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if not self.values.get(k)]
        if missing:
            raise ConfigError(f"missing required key(s) in {self.path}: {' '.join(missing)}")

    # typed views
    @property
    def engine(self) -> str:
        return self.get("DB_ENGINE")

    @property
    def family(self) -> str:
        return "postgres" if self.engine == "postgres" else "mysql"

    @property
    def role(self) -> str:
        return self.get("DB_ROLE", "database")

    @property
    def db_port(self) -> Optional[int]:
        p = self.get("DB_PORT")
        return int(p) if p else None

    @property
    def periods(self) -> Tuple[str, ...]:
        return tuple(self.get("BACKUP_PERIODS").split())

    def retain(self, period: str) -> int:
        return int(self.get(f"BACKUP_RETAIN_{period.upper()}"))

    @property
    def state_dir(self) -> str:
        return self.get("DBTIER_STATE_DIR")

    @property
    def app(self) -> str:
        return self.get("APP_NAME")

    @property
    def source_app(self) -> str:
        return self.get("APP_DB_SOURCE_APP") or self.get("APP_NAME")

    def signing_key_of(self, app: str) -> Optional[str]:
        """The public key pinned for APP ("ssh-ed25519 AAAA...", comment removed), or None."""
        key = ""
        if app and app == self.get("APP_NAME"):
            key = self.get("BACKUP_SIGNING_PUBLIC_KEY")
        if not key and app and app == self.get("APP_DB_SOURCE_APP"):
            key = self.get("APP_DB_SOURCE_SIGNING_PUBLIC_KEY")
        return " ".join(key.split(" ")[:2]) if key else None


def parse(text: str, path: str, warn: Callable[[str], None] = _warn_stderr) -> Dict[str, str]:
    values: Dict[str, str] = {}
    known = KNOWN_KEYS | _EXTRA_KEYS
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if re.match(r"^\s*(#|$)", line):
            continue
        m = _LINE.match(line)
        if not m:
            raise ConfigError(f"{path}:{n}: expected KEY=value")
        key, value = m.group(1), m.group(2).strip(" \t\n\r\f\v")
        q = re.match(r'^"(.*)"$', value) or re.match(r"^'(.*)'$", value)
        if q:
            value = q.group(1)
        if key in known:
            values[key] = value
        else:
            warn(f"{path}:{n}: unknown key {key} ignored")
    for k, v in DEFAULTS.items():
        if not values.get(k):
            values[k] = v
    return values


def validate(cfg: Config) -> None:
    """The checks of lib/common.sh validate_config: each message names the key, the value, what is allowed."""
    cfg.require("DB_ENGINE")
    engine = cfg.engine
    if engine not in ("mariadb", "mysql", "postgres"):
        raise ConfigError(f"DB_ENGINE='{engine}': allowed mariadb, mysql, postgres")
    if cfg.get("DB_TLS_MODE") not in ("require", "verify-ca", "verify-full"):
        raise ConfigError(f"DB_TLS_MODE='{cfg.get('DB_TLS_MODE')}': allowed require, verify-ca, verify-full")
    if cfg.get("DB_PACKAGE_SOURCE") not in ("vendor", "distro"):
        raise ConfigError(f"DB_PACKAGE_SOURCE='{cfg.get('DB_PACKAGE_SOURCE')}': allowed vendor, distro")
    role = cfg.values.get("DB_ROLE", "")
    if role and role not in ("database", "proxy"):
        raise ConfigError(f"DB_ROLE='{role}': allowed database, proxy")
    port = cfg.values.get("DB_PORT", "")
    if port and not re.fullmatch(r"[0-9]{1,5}", port):
        raise ConfigError(f"DB_PORT='{port}': must be a port number")
    for key in ("DB_NAME", "DB_USER", "DB_ADMIN_USER"):
        v = cfg.values.get(key, "")
        limit = name_limit(engine, key)
        if v and not (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) and len(v) <= limit):
            raise ConfigError(f"{key}='{v}': allowed letters, digits and _ (starting with a letter or _), "
                              f"at most {limit} for {engine}")
    for key in ("BACKUP_SIGNING_PUBLIC_KEY", "APP_DB_SOURCE_SIGNING_PUBLIC_KEY"):
        v = cfg.values.get(key, "")
        if v and not SSH_ED25519.match(v):
            raise ConfigError(f"{key}: expected an OpenSSH ed25519 public key line (ssh-ed25519 AAAA...)")
    for key in ("APP_NAME", "APP_DB_SOURCE_APP"):
        v = cfg.values.get(key, "")
        if v and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ConfigError(f"{key}='{v}': allowed letters, digits, '.', '_' and '-'")
    for p in cfg.periods:
        if p not in PERIODS:
            raise ConfigError(f"BACKUP_PERIODS contains '{p}': allowed {' '.join(PERIODS)}")
    for p in ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "SAFETY"):
        v = cfg.get(f"BACKUP_RETAIN_{p}")
        if not re.fullmatch(r"[1-9][0-9]*", v):
            raise ConfigError(f"BACKUP_RETAIN_{p}='{v}': must be a whole number >= 1")


def env_path() -> str:
    return os.environ.get("DBTIER_ENV") or "/etc/dbtier/dbtier.env"


def load(path: Optional[str] = None, warn: Callable[[str], None] = _warn_stderr, check: bool = True) -> Config:
    path = path or env_path()
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError:
        raise ConfigError(f"env file {path} is missing or unreadable (set DBTIER_ENV to its path)") from None
    cfg = Config(parse(text, path, warn), path)
    if check:
        validate(cfg)
    return cfg


# ---- secrets ----

def secrets_dir() -> str:
    return os.environ.get("DBTIER_SECRETS_DIR") or "/etc/dbtier/secrets"


def secret_path(name: str) -> str:
    return os.path.join(secrets_dir(), name)


def has_secret(name: str) -> bool:
    try:
        return os.path.getsize(secret_path(name)) > 0
    except OSError:
        return False


def age_identity(given: str = "") -> str:
    """The age identity file that reads backups and archives: the one given (--identity), else
    DBTIER_AGE_IDENTITY_FILE, else the age-identity secret; it comes with the run, never kept on the host.
    ConfigError when there is none or it holds no AGE-SECRET-KEY line."""
    path = given or os.environ.get("DBTIER_AGE_IDENTITY_FILE") or ""
    if not path:
        path = secret_path("age-identity")
        if not os.path.isfile(path):
            raise ConfigError("no age identity: pass --identity FILE or set DBTIER_AGE_IDENTITY_FILE "
                              "(the private key is never kept on the host)")
    try:
        with open(path, errors="replace") as f:
            holds_key = any(line.startswith("AGE-SECRET-KEY-") for line in f)
    except OSError:
        raise ConfigError(f"age identity file {path} is missing or unreadable") from None
    if not holds_key:
        raise ConfigError(f"age identity file {path} holds no AGE-SECRET-KEY line")
    return path


def secret(name: str) -> str:
    """A secret file's content without its trailing newlines; refuses a file others can read."""
    path = secret_path(name)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        raise ConfigError(f"secret file {path} is missing or unreadable") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"secret file {path} is missing or unreadable")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(f"secret file {path} has mode {mode:o}; it must be 0600")
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape").rstrip("\n")


# ---- names ----

def is_backup_id(s: str) -> bool:
    return bool(BACKUP_ID.match(s))


def new_backup_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{_secrets.token_hex(3)}"


def side_name(cfg: Config, purpose: str) -> str:
    """"<DB_NAME>_dbtier_<purpose>", shortened with a hash where it would pass the engine's limit; never
    equal to DB_NAME (the same rule as lib/common.sh side_name)."""
    db = cfg.get("DB_NAME")
    limit = name_limit(cfg.engine, "DB_NAME")
    suffix = f"_dbtier_{purpose}"
    name = db + suffix
    if len(name) > limit:
        h = hashlib.sha256(db.encode()).hexdigest()[:8]
        name = f"{db[:limit - len(suffix) - 9]}_{h}{suffix}"
    if name == db:
        raise RuntimeError(f"internal error: side database name {name} equals the live one")
    return name
