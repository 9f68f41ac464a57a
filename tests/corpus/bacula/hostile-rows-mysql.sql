-- Ours (not from the package): catalog rows with hostile values (paths are raw bytes on a POSIX file system).
INSERT INTO Path (PathId, Path) VALUES (1, '/home/ünï/😀/'), (2, X'2F00FF2FC3282F'), (3, '');
INSERT INTO Job (JobId, Job, Name, Type, Level, JobStatus, SchedTime, StartTime, JobTDate, JobBytes, Comment)
  VALUES (1, 'Backup.2024-02-29_12.00.00_01', 'Bäckup 😀', 'B', 'F', 'T', '0000-00-00 00:00:00', '9999-12-31 23:59:59', 18446744073709551615, 18446744073709551615, X'000102');
INSERT INTO File (FileIndex, JobId, PathId, FilenameId, LStat, MD5) VALUES (-2147483648, 1, 2, 0, 'P0A CgRp IGk B Po Po A A A', X'FF00'), (2147483647, 1, 1, 4294967295, '', NULL);
