-- dbtier exactness corpus: edge values and objects for MariaDB 10.11 (loaded by the server's root over
-- its socket into an empty utf8mb4 database). Every value here must come back bit for bit.
SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
CREATE TABLE `num☃ "edge"` (
  id INT NOT NULL PRIMARY KEY COMMENT 'ünïcode comment ☃ 😀',
  f FLOAT NULL, f2 FLOAT(10,3) NULL, d DOUBLE NULL, dec1 DECIMAL(65,30) NULL, dec2 DECIMAL(5,0) UNSIGNED NULL,
  big BIGINT UNSIGNED NULL, sbig BIGINT NULL, ti TINYINT NULL, bt BIT(1) NULL, b64 BIT(64) NULL, y YEAR NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='table comment ☃';
INSERT INTO `num☃ "edge"` VALUES
 (1, 1234567.125, 1.5, 0.1e0 + 0.2e0, '12345678901234567890123456789012345.123456789012345678901234567890', 99999,
  18446744073709551615, -9223372036854775808, -128, b'1', b'1111111111111111111111111111111111111111111111111111111111111111', 2155),
 (2, 3.4028234e38, 0.001, 1.7976931348623157e308, -0.000000000000000000000000000001, 0, 0, 9223372036854775807, 127, b'0', b'0', 1901),
 (3, 1.401298464e-45, -1.5, 5e-324, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0),
 (4, -0.1, 123456.789, -2.2250738585072014e-308, 1, 1, 1, 1, 0, NULL, b'101', NULL),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE temporal (
  id INT NOT NULL PRIMARY KEY,
  d DATE NULL, dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, t TIME(6) NULL, dz DATETIME NULL
) ENGINE=InnoDB;
INSERT INTO temporal VALUES
 (1, '0000-00-00', '0000-00-00 00:00:00', '1970-01-01 00:00:01.000000', '-838:59:59.000000', '2024-00-00 00:00:00'),
 (2, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', '2024-02-00 10:00:00'),
 (3, '1000-01-01', '1000-01-01 00:00:00.000001', '2024-03-31 01:30:00.5', '00:00:00.000001', NULL);
CREATE TABLE bytes (
  id INT NOT NULL PRIMARY KEY,
  bin BINARY(8) NULL, vb VARBINARY(64) NULL, bl BLOB NULL, lb LONGBLOB NULL
) ENGINE=InnoDB;
INSERT INTO bytes VALUES
 (1, X'61', X'00', X'FFFEFD00C328E282', X'C0AF0A0D5C27225C305A1A'),
 (2, X'0000000000000000', X'', X'', X''),
 (3, 'ab', 'trailing  ', X'0A0A0D0D', NULL);
CREATE TABLE `text ünï` (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `col ☃` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  l1 VARCHAR(100) CHARACTER SET latin1 NULL,
  c CHAR(10) NULL,
  e ENUM('a', 'b c', 'd''e', 'ü', 'why?') NULL, s SET('x', 'y', 'ζ') NULL,
  j JSON NULL, u UUID NULL, ip INET6 NULL,
  g POINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=1000;
INSERT INTO `text ünï` (id, `col ☃`, l1, c, e, s, j, u, ip, g) VALUES
 (1, 'emoji 😀🎉 𝄞 and \0 nul', 'café ß ÿ', 'pad  ', 'd''e', 'x,ζ', '{"a": [1, "ü"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '::ffff:1.2.3.4', POINT(1.5, -2.25)),
 (2, 'line\nbreak\r\n\ttab \\ back '' quote " dq ),( sep ; -- not a comment', '', '', 'ü', '', '[]', NULL, '2001:db8::1', NULL),
 (3, '', NULL, NULL, 'why?', NULL, NULL, NULL, NULL, NULL);
-- Types that read a binary string as their stored bytes, in a table with no character column (the loader
-- sends such tables' rows as binary literals); an IPv6 address whose text is 16 bytes, INET6's stored size
CREATE TABLE addrs (id INT NOT NULL PRIMARY KEY, v4 INET4 NULL, v6 INET6 NULL, u UUID NULL) ENGINE=InnoDB;
INSERT INTO addrs VALUES (1, '0.0.0.0', '1:2:3:4:5:6:7:88', '00000000-0000-0000-0000-000000000000'),
 (2, '255.255.255.255', '::ffff:1.2.3.4', 'ffffffff-ffff-ffff-ffff-ffffffffffff'), (3, NULL, NULL, NULL);
-- Tables whose names differ in case alone (two tables on Linux), with different keys
CREATE TABLE `Case` (id INT NOT NULL PRIMARY KEY, v INT, KEY kv (v)) ENGINE=InnoDB;
CREATE TABLE `case` (id INT NOT NULL, v INT NOT NULL, PRIMARY KEY (v, id)) ENGINE=InnoDB;
INSERT INTO `Case` VALUES (1, 10); INSERT INTO `case` VALUES (1, 10), (2, 20);
-- No key at all, duplicate rows, MyISAM with FULLTEXT, Aria, a partitioned table
CREATE TABLE nokey (a INT NULL, b VARCHAR(20) NULL) ENGINE=InnoDB;
INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (NULL, NULL), (NULL, NULL), (2, 'x');
CREATE TABLE docs (id INT NOT NULL PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4;
INSERT INTO docs VALUES (2, 'second doc'), (1, 'first ☃ doc');
CREATE TABLE aria_log (n INT, msg TEXT) ENGINE=Aria;
INSERT INTO aria_log VALUES (3, 'c'), (1, 'a'), (2, 'b'), (1, 'a');
CREATE TABLE parts (id INT NOT NULL, at DATE NOT NULL, v INT, PRIMARY KEY (id, at))
  PARTITION BY RANGE (YEAR(at)) (PARTITION p2023 VALUES LESS THAN (2024), PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO parts VALUES (1, '2023-05-01', 1), (2, '2024-05-01', 2);
-- Generated and invisible columns
CREATE TABLE gen (id INT NOT NULL PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, st VARCHAR(20) AS (CONCAT('s', a)) STORED,
  hidden INT INVISIBLE DEFAULT 7) ENGINE=InnoDB;
INSERT INTO gen (id, a, hidden) VALUES (1, 10, 1), (2, NULL, NULL);
-- A sequence with state, views, a trigger, routines, an event
CREATE SEQUENCE seq_orders START WITH 100 INCREMENT BY 5;
SELECT NEXTVAL(seq_orders), NEXTVAL(seq_orders);
-- A sequence as a column default: MariaDB stores it qualified with this database's name
CREATE TABLE ordered (id INT NOT NULL DEFAULT NEXTVAL(seq_orders) PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO ordered (note) VALUES ('first'), ('second');
CREATE TABLE counter (id INT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 0);
INSERT INTO counter VALUES (1, 5);
CREATE TRIGGER gen_ai AFTER INSERT ON gen FOR EACH ROW UPDATE counter SET n = n + 1 WHERE id = 1;
CREATE SQL SECURITY INVOKER VIEW v_invoker AS SELECT id, a FROM gen WHERE a > 0;
CREATE VIEW `v ☃` AS SELECT COUNT(*) AS n FROM nokey;
DELIMITER ;;
CREATE PROCEDURE bump(IN k INT) COMMENT 'proc ☃; with ; inside'
BEGIN
  DECLARE x INT DEFAULT 0;
  -- a comment; with ; semicolons
  SET x = k + 1; UPDATE counter SET n = n + x WHERE id = 1;
END;;
CREATE FUNCTION pick(s VARCHAR(10)) RETURNS VARCHAR(20) CHARSET utf8mb4 DETERMINISTIC
BEGIN
  RETURN CONCAT(s, ';', 'DEFINER=`x`@`y`');
END;;
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO UPDATE counter SET n = 0;
-- (loaded DISABLED into the side database, given its status again in the live one)
CREATE EVENT `weekly ☃` ON SCHEDULE EVERY 1 WEEK STARTS '2031-01-01 00:00:00' ON COMPLETION PRESERVE ENABLE
  COMMENT 'ON COMPLETION NOT PRESERVE DISABLE DO' DO UPDATE counter SET n = 0;
-- System-versioned tables: every row version with its period comes back (history inserted with
-- system_versioning_insert_history): implicit period columns, declared ones (one INVISIBLE), a column
-- WITHOUT SYSTEM VERSIONING, history partitions. An application-time period with WITHOUT OVERLAPS.
CREATE TABLE hist (id INT NOT NULL PRIMARY KEY, v VARCHAR(20)) WITH SYSTEM VERSIONING;
INSERT INTO hist VALUES (1, 'first'), (2, 'two ☃');
UPDATE hist SET v = 'second' WHERE id = 1;
DELETE FROM hist WHERE id = 2;
CREATE TABLE hist_declared (id INT NOT NULL PRIMARY KEY, a INT, b INT WITHOUT SYSTEM VERSIONING,
  vs TIMESTAMP(6) GENERATED ALWAYS AS ROW START INVISIBLE, ve TIMESTAMP(6) GENERATED ALWAYS AS ROW END,
  PERIOD FOR SYSTEM_TIME(vs, ve)) WITH SYSTEM VERSIONING;
INSERT INTO hist_declared (id, a, b) VALUES (1, 1, 1), (2, 2, 2);
UPDATE hist_declared SET a = 10 WHERE id = 1;
UPDATE hist_declared SET b = 20 WHERE id = 2;
CREATE TABLE hist_parts (id INT NOT NULL, v INT) WITH SYSTEM VERSIONING
  PARTITION BY SYSTEM_TIME (PARTITION p_hist HISTORY, PARTITION p_cur CURRENT);
INSERT INTO hist_parts VALUES (1, 1), (1, 1);
UPDATE hist_parts SET v = 2;
CREATE TABLE booking (id INT NOT NULL, room INT NOT NULL, s DATE NOT NULL, e DATE NOT NULL, PERIOD FOR stay(s, e),
  PRIMARY KEY (id), UNIQUE KEY room_stay (room, stay WITHOUT OVERLAPS)) ENGINE=InnoDB;
INSERT INTO booking VALUES (1, 10, '2024-01-01', '2024-01-05'), (2, 10, '2024-01-05', '2024-01-09');
-- Tables without rows of their own: a MERGE table's are its MyISAM tables' (dumped as themselves: loading them
-- again through the MERGE table would duplicate them, or fail with INSERT_METHOD=NO), BLACKHOLE keeps none.
-- ARCHIVE keeps its rows (insert-only).
INSTALL PLUGIN IF NOT EXISTS BLACKHOLE SONAME 'ha_blackhole';
INSTALL PLUGIN IF NOT EXISTS ARCHIVE SONAME 'ha_archive';
CREATE TABLE merged_a (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE=MyISAM;
CREATE TABLE merged_b (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE=MyISAM;
INSERT INTO merged_a VALUES (1, 'a'), (2, 'b');
INSERT INTO merged_b VALUES (3, 'c');
CREATE TABLE merged_all (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE=MERGE UNION=(merged_a, merged_b) INSERT_METHOD=LAST;
CREATE TABLE merged_ro (id INT NOT NULL, v VARCHAR(10), KEY (id)) ENGINE=MERGE UNION=(merged_a) INSERT_METHOD=NO;
CREATE TABLE sink (id INT) ENGINE=BLACKHOLE;
INSERT INTO sink VALUES (1);
CREATE TABLE archived (id INT, msg VARCHAR(50)) ENGINE=ARCHIVE;
INSERT INTO archived VALUES (1, 'kept ☃'), (1, 'kept ☃'), (2, NULL);
-- Rows the application stored under its own rules: invalid dates (ALLOW_INVALID_DATES), a row taken with the
-- CHECK constraints off; names holding a newline, a tab, quotes and a backslash.
SET SESSION sql_mode = 'ALLOW_INVALID_DATES';
CREATE TABLE lax_dates (id INT NOT NULL PRIMARY KEY, d DATE, dt DATETIME(3));
INSERT INTO lax_dates VALUES (1, '2024-02-30', '2023-04-31 10:00:00.125'), (2, '2024-02-31', NULL);
SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
CREATE TABLE checked (id INT NOT NULL PRIMARY KEY, n INT, CONSTRAINT positive CHECK (n > 0));
SET SESSION check_constraint_checks = 0;
INSERT INTO checked VALUES (1, -5), (2, 5);
SET SESSION check_constraint_checks = 1;
CREATE TABLE `new
line "name" \ back` (`tab	col` INT NOT NULL PRIMARY KEY, `q'uote` VARCHAR(10), KEY `key
name` (`q'uote`));
INSERT INTO `new
line "name" \ back` VALUES (1, 'x'), (2, NULL);
-- Routines and a trigger created under sql_mode ORACLE and ANSI_QUOTES: the dump prints their definer and names
-- in double quotes. Bodies with the dump's own delimiter (;;) in strings and comments.
CREATE TABLE oralog (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
SET SESSION sql_mode = 'ORACLE';
DELIMITER //
CREATE PROCEDURE ora_log(p IN INT) AS
  v VARCHAR2(100);
BEGIN
  v := 'ora;;' || p; -- a comment with ;; in it
  INSERT INTO oralog (msg) VALUES (v);
END;
//
CREATE FUNCTION ora_fn(p INT) RETURN VARCHAR2 AS
BEGIN
  RETURN 'x' || p || ';;';
END;
//
CREATE TRIGGER "ora trg" BEFORE INSERT ON oralog FOR EACH ROW BEGIN :NEW.msg := :NEW.msg || '+'; END;
//
DELIMITER ;
SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT';
CREATE VIEW "ansi view" AS SELECT "id", "msg" || '!' AS "m" FROM "oralog";
DELIMITER //
CREATE PROCEDURE "ansi proc"() BEGIN SELECT "msg" FROM "oralog" WHERE "msg" = 'a";;b'; END //
DELIMITER ;
SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
CALL ora_log(1);
