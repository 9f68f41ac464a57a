"""Point-in-time recovery for self-managed servers (issue 13): common.py (the shared layer and the object
layout under <APP_NAME>/base, wal, binlog), pg.py (PostgreSQL), mariadb.py (MariaDB/MySQL).

dbtier-db's command table (dbtier/cli.py) dispatches by DB_ENGINE to dbtier.pitr.pg or dbtier.pitr.mariadb
and calls the function named like the command, with the loaded config and the arguments after the command:
  archive_wal(cfg, args), fetch_wal(cfg, args), archive_binlogs(cfg, args), basebackup(cfg, args),
  verify_base(cfg, args), restore(cfg, args)  (restore --to-time/--to-backup/--to-latest ...),
  pitr_window(cfg, args)
returning an exit code (or None for 0); raise dbtier.log.Failure (exit 1) or dbtier.config.ConfigError
(exit 2). The table has already checked: DB_ROLE is not proxy, its required keys and tools, and its lock
(archive-wal, fetch-wal, pitr-window: none; archive-binlogs: its own "archive" lock; the others the main
dbtier lock). A function a module lacks is reported "not available".
health: a module's optional health_check(ctx) is called by dbtier/health.py on a self-managed server;
it reports with ctx.record(check, ok: bool, detail) (alerts on a change of state are sent for it).
"""
