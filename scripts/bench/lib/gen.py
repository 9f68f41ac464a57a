"""Deterministic, realistic data set for the bench (same seed + size => byte-identical files).

Shape of a web application's database: one large table of wide text (posts), a blob table
(attachments: mostly incompressible images, some compressible documents), two medium tables of
many narrow rows (comments, audit_log) and many small tables. Secondary indexes, a unique key,
a foreign key, a view, a trigger (which would corrupt counts if a restore fired it while loading)
and a stored function, so that every part of a dump must survive a restore.

Rows are written once as TSV per table (escaping valid for both MariaDB LOAD DATA and PostgreSQL
COPY text format) and loaded into either engine.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

FORMAT_VERSION = 4

# share of the data bytes per table family
SHARES = {"posts": 0.55, "attachments": 0.25, "comments": 0.12, "audit_log": 0.07}
SMALL_TABLES = [f"ref_{i:02d}" for i in range(1, 21)]
BASE_EPOCH = 1_600_000_000


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big"))


def _vocabulary(seed: int) -> Tuple[List[str], List[float]]:
    rng = _rng(seed, "vocab")
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "zo", "an", "er", "in", "ou", "st", "tr",
            "pl", "qu", "br", "ch", "sh", "th", "el", "or", "um", "ix"]
    common = ("the of and to a in is it that for was on are as with his they at be this from have or "
              "by one had not but what all were when we there can an your which their said if do will "
              "each about how up out them then she many some so these would other into has more her two "
              "like him see time could no make than first been its who now people my made over did down "
              "only way find use may water long little very after words called just where most know "
              "don't it's café naïve über straße 東京 données").split()
    words = list(common)
    seen = set(words)
    while len(words) < 6000:
        w = "".join(rng.choice(syll) for _ in range(rng.randint(1, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    vocab: List[str] = []
    for i, w in enumerate(words):  # punctuated variants make sentences
        vocab.append(w)
        if i % 7 == 0:
            vocab.append(w + ",")
        if i % 11 == 0:
            vocab.append(w + ".")
    weights = [1.0 / (i + 3) ** 1.05 for i in range(len(vocab))]  # Zipf-like
    return vocab, list(itertools.accumulate(weights))


class TextSource:
    def __init__(self, seed: int, rng: random.Random):
        self.vocab, self.cum = _vocabulary(seed)
        self.rng = rng

    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.cum, k=n))

    def paragraphs(self, n_words: int) -> str:
        """A post body as a block editor stores it: HTML paragraphs in block comments, some links
        and headings (newlines written as the COPY / LOAD DATA escape)."""
        parts = []
        left = n_words
        rng = self.rng
        while left > 0:
            k = min(left, rng.randint(40, 160))
            text = self.words(k)
            if rng.random() < 0.3:
                w = text.split(" ", 3)
                if len(w) == 4:
                    text = (f'{w[0]} {w[1]} <a href="https://www.example.com/{w[2].strip(",.")}/{rng.randint(1, 99999)}">'
                            f'{w[2]}</a> {w[3]}')
            if rng.random() < 0.15:
                parts.append(f'<!-- wp:heading -->\\n<h2 class="wp-block-heading">{self.words(rng.randint(2, 7))}</h2>'
                             '\\n<!-- /wp:heading -->')
            parts.append(f"<!-- wp:paragraph -->\\n<p>{text}</p>\\n<!-- /wp:paragraph -->")
            left -= k
        return "\\n\\n".join(parts)


def _ts(rng: random.Random, base_days: int = 1500) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BASE_EPOCH + rng.randrange(base_days * 86400)))


def _lognormal_int(rng: random.Random, mean: float, sigma: float, lo: int, hi: int) -> int:
    mu = math.log(mean) - sigma * sigma / 2
    return max(lo, min(hi, int(rng.lognormvariate(mu, sigma))))


# --- table writers: each yields TSV lines and counts the raw data bytes ---------------------------

def _posts(seed: int, budget: int, n_users: int) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, "posts")
    text = TextSource(seed, rng)
    statuses = ["publish"] * 8 + ["draft", "private"]
    used, pid = 0, 0
    while used < budget:
        pid += 1
        title = text.words(rng.randint(4, 12)).replace("\\", "")
        slug = "-".join(title.split()[:6]).lower().replace(",", "").replace(".", "") + f"-{pid}"
        body = text.paragraphs(_lognormal_int(rng, 650, 0.6, 40, 6000))
        excerpt = text.words(rng.randint(15, 40))
        created = _ts(rng)
        row = [str(pid), str(rng.randint(1, n_users)), rng.choice(statuses), created, created,
               title, slug, excerpt, body, str(rng.randint(0, 100000)), f"{rng.random() * 5:.2f}", "0"]
        line = "\t".join(row)
        used += len(line)
        yield line, len(line)


def _attachments(seed: int, budget: int, n_posts: int) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, "attachments")
    text = TextSource(seed, rng)
    used, aid = 0, 0
    while used < budget:
        aid += 1
        size = _lognormal_int(rng, 24000, 0.9, 512, 512 * 1024)
        if rng.random() < 0.7:  # images: already compressed, so random bytes
            mime, ext = "image/jpeg", "jpg"
            data = rng.randbytes(size)
        else:  # documents: compressible
            mime, ext = "application/json", "json"
            words = text.words(max(1, size // 6)).encode()
            data = (b'{"doc":"' + words + b'"}')[:size]
        row = [str(aid), str(rng.randint(1, n_posts)), f"file-{aid}.{ext}", mime, str(len(data)),
               "\\\\x" + data.hex(), _ts(rng)]
        line = "\t".join(row)
        used += len(line) - len(data)  # count blob as raw bytes, not hex
        yield line, len(line) - len(data)


def _comments(seed: int, budget: int, n_posts: int) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, "comments")
    text = TextSource(seed, rng)
    used, cid = 0, 0
    while used < budget:
        cid += 1
        name = text.words(2)
        email = name.replace(" ", ".").replace(",", "").replace("'", "") + f"{rng.randint(1, 999)}@example.com"
        row = [str(cid), str(rng.randint(1, n_posts)), name, email, _ts(rng), str(int(rng.random() < 0.9)),
               text.words(_lognormal_int(rng, 45, 0.7, 3, 400))]
        line = "\t".join(row)
        used += len(line)
        yield line, len(line)


ACTIONS = ["login", "logout", "view", "edit", "publish", "comment", "upload", "delete", "search", "export"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari/605.1.15",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
          "curl/8.5.0", "python-requests/2.31"]


def _audit_log(seed: int, budget: int, n_users: int) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, "audit_log")
    used, lid = 0, 0
    while used < budget:
        lid += 1
        payload = json.dumps({"path": f"/p/{rng.randint(1, 99999)}", "ms": rng.randint(1, 3000),
                              "ok": rng.random() < 0.97}, separators=(",", ":"))
        row = [str(lid), _ts(rng), str(rng.randint(1, n_users)), rng.choice(ACTIONS),
               f"198.51.100.{rng.randint(1, 254)}", rng.choice(AGENTS), payload]
        line = "\t".join(row)
        used += len(line)
        yield line, len(line)


def _users(seed: int, n: int) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, "users")
    text = TextSource(seed, rng)
    for uid in range(1, n + 1):
        name = text.words(2)
        row = [str(uid), f"user{uid}@example.com", name, hashlib.sha256(f"{seed}{uid}".encode()).hexdigest(),
               _ts(rng), text.words(rng.randint(5, 30))]
        line = "\t".join(row)
        yield line, len(line)


def _ref(seed: int, name: str) -> Iterator[Tuple[str, int]]:
    rng = _rng(seed, name)
    text = TextSource(seed, rng)
    for i in range(1, rng.randint(50, 800) + 1):
        row = [str(i), f"{name.upper()}-{i:05d}", text.words(rng.randint(1, 4)), text.words(rng.randint(5, 40)),
               str(rng.randint(0, 1000)), _ts(rng)]
        line = "\t".join(row)
        yield line, len(line)


def generate(size_bytes: int, outdir: Path, seed: int = 42) -> Dict:
    """Write <table>.tsv files totalling about size_bytes of row data; returns the manifest."""
    manifest_path = outdir / "manifest.json"
    if manifest_path.exists():
        m = json.loads(manifest_path.read_text())
        if m.get("format") == FORMAT_VERSION and m.get("seed") == seed and m.get("size") == size_bytes:
            return m
    outdir.mkdir(parents=True, exist_ok=True)
    n_users = max(200, size_bytes // 200_000)
    tables: Dict[str, Dict] = {}

    def write(name: str, rows: Iterator[Tuple[str, int]]) -> None:
        count, data = 0, 0
        tmp = outdir / f"{name}.tsv.tmp"
        with open(tmp, "w", encoding="utf-8", buffering=1 << 20) as f:
            for line, nbytes in rows:
                f.write(line)
                f.write("\n")
                count += 1
                data += nbytes
        os.replace(tmp, outdir / f"{name}.tsv")
        tables[name] = {"rows": count, "bytes": data}

    write("users", _users(seed, n_users))
    write("posts", _posts(seed, int(size_bytes * SHARES["posts"]), n_users))
    n_posts = tables["posts"]["rows"]
    write("attachments", _attachments(seed, int(size_bytes * SHARES["attachments"]), n_posts))
    write("comments", _comments(seed, int(size_bytes * SHARES["comments"]), n_posts))
    write("audit_log", _audit_log(seed, int(size_bytes * SHARES["audit_log"]), n_users))
    for name in SMALL_TABLES:
        write(name, _ref(seed, name))
    m = {"format": FORMAT_VERSION, "seed": seed, "size": size_bytes, "tables": tables,
         "data_bytes": sum(t["bytes"] for t in tables.values())}
    manifest_path.write_text(json.dumps(m, indent=1))
    return m


# --- schema ---------------------------------------------------------------------------------------

def schema(engine: str) -> Tuple[str, str]:
    """(tables DDL, objects DDL created after the data: view, trigger, function)."""
    if engine == "mariadb":
        t = """
CREATE TABLE users (id INT UNSIGNED NOT NULL PRIMARY KEY, email VARCHAR(190) NOT NULL, display_name VARCHAR(200) NOT NULL,
  password_hash CHAR(64) NOT NULL, created_at DATETIME NOT NULL, bio TEXT, UNIQUE KEY uq_users_email (email)) ENGINE=InnoDB;
CREATE TABLE posts (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, author_id INT UNSIGNED NOT NULL, status VARCHAR(20) NOT NULL,
  created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, title VARCHAR(300) NOT NULL, slug VARCHAR(190) NOT NULL,
  excerpt TEXT, body MEDIUMTEXT NOT NULL, view_count INT NOT NULL, score DECIMAL(4,2) NOT NULL, comment_count INT NOT NULL DEFAULT 0,
  KEY idx_posts_author_created (author_id, created_at), UNIQUE KEY uq_posts_slug (slug), KEY idx_posts_status_created (status, created_at)) ENGINE=InnoDB;
CREATE TABLE attachments (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, post_id BIGINT UNSIGNED NOT NULL, filename VARCHAR(255) NOT NULL,
  mime VARCHAR(100) NOT NULL, size INT NOT NULL, data MEDIUMBLOB NOT NULL, created_at DATETIME NOT NULL, KEY idx_att_post (post_id)) ENGINE=InnoDB;
CREATE TABLE comments (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, post_id BIGINT UNSIGNED NOT NULL, author_name VARCHAR(200) NOT NULL,
  author_email VARCHAR(190) NOT NULL, created_at DATETIME NOT NULL, approved TINYINT NOT NULL, body TEXT NOT NULL,
  KEY idx_comments_post (post_id), KEY idx_comments_email (author_email),
  CONSTRAINT fk_comments_post FOREIGN KEY (post_id) REFERENCES posts (id)) ENGINE=InnoDB;
CREATE TABLE audit_log (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, user_id INT UNSIGNED NOT NULL,
  action VARCHAR(32) NOT NULL, ip VARCHAR(45) NOT NULL, user_agent VARCHAR(255) NOT NULL, payload TEXT NOT NULL,
  KEY idx_audit_user_created (user_id, created_at), KEY idx_audit_action (action)) ENGINE=InnoDB;
"""
        for r in SMALL_TABLES:
            t += (f"CREATE TABLE {r} (id INT UNSIGNED NOT NULL PRIMARY KEY, code VARCHAR(32) NOT NULL, label VARCHAR(200) NOT NULL,"
                  f" description TEXT, sort_order INT NOT NULL, updated_at DATETIME NOT NULL, UNIQUE KEY uq_{r}_code (code)) ENGINE=InnoDB;\n")
        objects = """
CREATE VIEW published_posts AS SELECT id, author_id, title, created_at FROM posts WHERE status = 'publish';
CREATE TRIGGER trg_comments_count AFTER INSERT ON comments FOR EACH ROW
  UPDATE posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
CREATE FUNCTION post_rank(v INT, s DECIMAL(4,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN v * s;
"""
        return t, objects
    t = """
CREATE TABLE users (id integer PRIMARY KEY, email varchar(190) NOT NULL UNIQUE, display_name varchar(200) NOT NULL,
  password_hash char(64) NOT NULL, created_at timestamp NOT NULL, bio text);
CREATE TABLE posts (id bigserial PRIMARY KEY, author_id integer NOT NULL, status varchar(20) NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, title varchar(300) NOT NULL, slug varchar(190) NOT NULL UNIQUE,
  excerpt text, body text NOT NULL, view_count integer NOT NULL, score numeric(4,2) NOT NULL, comment_count integer NOT NULL DEFAULT 0);
CREATE INDEX idx_posts_author_created ON posts (author_id, created_at);
CREATE INDEX idx_posts_status_created ON posts (status, created_at);
CREATE TABLE attachments (id bigserial PRIMARY KEY, post_id bigint NOT NULL, filename varchar(255) NOT NULL,
  mime varchar(100) NOT NULL, size integer NOT NULL, data bytea NOT NULL, created_at timestamp NOT NULL);
CREATE INDEX idx_att_post ON attachments (post_id);
CREATE TABLE comments (id bigserial PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts (id), author_name varchar(200) NOT NULL,
  author_email varchar(190) NOT NULL, created_at timestamp NOT NULL, approved smallint NOT NULL, body text NOT NULL);
CREATE INDEX idx_comments_post ON comments (post_id);
CREATE INDEX idx_comments_email ON comments (author_email);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, created_at timestamp NOT NULL, user_id integer NOT NULL,
  action varchar(32) NOT NULL, ip inet NOT NULL, user_agent varchar(255) NOT NULL, payload jsonb NOT NULL);
CREATE INDEX idx_audit_user_created ON audit_log (user_id, created_at);
CREATE INDEX idx_audit_action ON audit_log (action);
"""
    for r in SMALL_TABLES:
        t += (f"CREATE TABLE {r} (id integer PRIMARY KEY, code varchar(32) NOT NULL UNIQUE, label varchar(200) NOT NULL,"
              f" description text, sort_order integer NOT NULL, updated_at timestamp NOT NULL);\n")
    objects = """
CREATE VIEW published_posts AS SELECT id, author_id, title, created_at FROM posts WHERE status = 'publish';
CREATE FUNCTION bump_comment_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id; RETURN NEW; END $$;
CREATE TRIGGER trg_comments_count AFTER INSERT ON comments FOR EACH ROW EXECUTE FUNCTION bump_comment_count();
CREATE FUNCTION post_rank(v integer, s numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT v * s';
SELECT setval(pg_get_serial_sequence(t, 'id'), m) FROM (VALUES ('posts', (SELECT max(id) FROM posts)),
  ('attachments', (SELECT max(id) FROM attachments)), ('comments', (SELECT max(id) FROM comments)),
  ('audit_log', (SELECT max(id) FROM audit_log))) AS x(t, m);
"""
    return t, objects


COLUMNS = {
    "users": "id, email, display_name, password_hash, created_at, bio",
    "posts": "id, author_id, status, created_at, updated_at, title, slug, excerpt, body, view_count, score, comment_count",
    "attachments": "id, post_id, filename, mime, size, data, created_at",
    "comments": "id, post_id, author_name, author_email, created_at, approved, body",
    "audit_log": "id, created_at, user_id, action, ip, user_agent, payload",
}
for _r in SMALL_TABLES:
    COLUMNS[_r] = "id, code, label, description, sort_order, updated_at"

LOAD_ORDER = ["users", "posts", "attachments", "comments", "audit_log"] + SMALL_TABLES


def load(server, datadir: Path) -> None:
    """Create the schema, bulk-load the TSV files as the superuser, then the view/trigger/function."""
    tables, objects = schema(server.engine)
    server.recreate_db()
    if server.engine == "mariadb":
        server.root_sql(tables, db=server.dbname)
        stmts = ["SET foreign_key_checks=0, unique_checks=0;"]
        for name in LOAD_ORDER:
            cols = COLUMNS[name]
            f = datadir / f"{name}.tsv"
            if name == "attachments":
                cols = cols.replace("data", "@hexdata")
                stmts.append(f"LOAD DATA LOCAL INFILE '{f}' INTO TABLE {name} CHARACTER SET utf8mb4 ({cols}) "
                             "SET data = UNHEX(SUBSTRING(@hexdata, 3));")
            else:
                stmts.append(f"LOAD DATA LOCAL INFILE '{f}' INTO TABLE {name} CHARACTER SET utf8mb4 ({cols});")
        cmd = server.root_cmd("mariadb") + ["--local-infile=1", server.dbname]
        subprocess.run(cmd, input="\n".join(stmts), text=True, check=True)
        subprocess.run(server.root_cmd("mariadb") + [server.dbname], input="DELIMITER //\n" +
                       objects.replace(";\n", "//\n"), text=True, check=True)
        server.root_sql(f"ANALYZE TABLE {', '.join(LOAD_ORDER)};", db=server.dbname)
    else:
        server.root_sql(tables, db=server.dbname)
        stmts = [f"\\copy {name} ({COLUMNS[name]}) FROM '{datadir / (name + '.tsv')}'" for name in LOAD_ORDER]
        subprocess.run(server.root_cmd("psql") + ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.dbname],
                       input="\n".join(stmts) + "\n", text=True, check=True)
        server.root_sql(objects, db=server.dbname)
        owner = "".join(f"ALTER TABLE {n} OWNER TO {server.app_user};" for n in LOAD_ORDER)
        owner += (f"ALTER VIEW published_posts OWNER TO {server.app_user};"
                  f"ALTER FUNCTION bump_comment_count() OWNER TO {server.app_user};"
                  f"ALTER FUNCTION post_rank(integer, numeric) OWNER TO {server.app_user};"
                  "VACUUM ANALYZE;")
        server.root_sql(owner, db=server.dbname)


def checksums(server) -> Dict[str, str]:
    """Per-table checksum of every row (order independent), plus the row count."""
    out: Dict[str, str] = {}
    if server.engine == "mariadb":
        res = server.root_sql(f"CHECKSUM TABLE {', '.join(LOAD_ORDER)} EXTENDED;", db=server.dbname)
        counts = server.root_sql(" UNION ALL ".join(f"SELECT '{n}', COUNT(*) FROM {n}" for n in LOAD_ORDER) + ";",
                                 db=server.dbname)
        n_rows = dict(line.split("\t") for line in counts.strip().splitlines())
        for line in res.strip().splitlines():
            name, csum = line.split("\t")
            short = name.split(".", 1)[1]
            out[short] = f"{n_rows[short]}:{csum}"
        extra = server.root_sql(
            "SELECT CONCAT_WS('|', (SELECT GROUP_CONCAT(TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=DATABASE()),"
            " (SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA=DATABASE()),"
            " (SELECT GROUP_CONCAT(ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=DATABASE()),"
            " (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=DATABASE()));", db=server.dbname)
        out["_objects"] = extra.strip()
    else:
        q = " UNION ALL ".join(
            f"SELECT '{n}', count(*)::text || ':' || coalesce(bit_xor(('x' || left(md5(t::text), 16))::bit(64)::bigint), 0)::text FROM {n} t"
            for n in LOAD_ORDER)
        for line in server.root_sql(q + ";", db=server.dbname).strip().splitlines():
            name, csum = line.split("|")
            out[name] = csum
        extra = server.root_sql(
            "SELECT concat_ws('|', (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal),"
            " (SELECT string_agg(viewname, ',') FROM pg_views WHERE schemaname='public'),"
            " (SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc WHERE pronamespace='public'::regnamespace),"
            " (SELECT count(*) FROM pg_indexes WHERE schemaname='public'),"
            " (SELECT count(*) FROM pg_constraint WHERE connamespace='public'::regnamespace));", db=server.dbname)
        out["_objects"] = extra.strip()
    return out


def parse_size(s: str) -> int:
    s = s.strip().upper().rstrip("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)
