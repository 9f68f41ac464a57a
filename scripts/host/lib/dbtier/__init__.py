"""dbtier: the on-host toolkit's data path (issue 11), one package, Python 3.11 standard library only
(plus Debian's python3-pymysql / python3-psycopg2 / python3-mysqldb where a module talks to a database).

  config    the env file (docs/host-contract.md) and the secret files: load() -> Config, secret(name)
  s3        THE S3 client: SigV4, retries, multipart upload, checked and resumable download, listings
  trust     signing and checking manifests/records with ssh-keygen -Y (namespace dbtier-backup)
  pipeline  external tools (dump clients, zstd, age) and Python functions as stages of one pipeline;
            a failure names the stage that really failed, with its own stderr

Hosts get this directory byte-identical under /usr/local/lib/dbtier/lib/dbtier/; dbtier-db puts
/usr/local/lib/dbtier/lib on sys.path (never an operator's site-packages first).
"""

VERSION = "0.1.0"
