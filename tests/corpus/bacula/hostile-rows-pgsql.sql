-- Ours (not from the package): catalog rows with hostile values.
INSERT INTO path (path) VALUES ('/home/ünï/😀/'), (E'/\x01\x7f/'), ('');
INSERT INTO job (job, name, type, level, jobstatus, schedtime, starttime, jobtdate, jobbytes, comment)
  VALUES ('Backup.2024-02-29_12.00.00_01', 'Bäckup 😀', 'B', 'F', 'T', '4713-01-01 00:00:00 BC', 'infinity', 9223372036854775807, -9223372036854775808, E'tab\there');
INSERT INTO file (fileindex, jobid, pathid, filenameid, lstat, md5) VALUES (-2147483648, 1, 2, 0, 'P0A CgRp IGk B Po Po A A A', 'ÿ'), (2147483647, 1, 1, 2147483647, '', '');
INSERT INTO restoreobject (objectname, restoreobject, pluginname, objectlength, objectfulllength, objectindex, objecttype, fileindex, jobid, objectcompression)
  VALUES ('obj ☃', '\x00ff00c328'::bytea, 'plügin', 5, 5, 1, 1, 1, 1, 0);
