-- MariaDB keeps ENUM/SET labels in utf8mb3 metadata: a 4-byte character in a label cannot be printed by
-- SHOW CREATE TABLE (it shows '?'), so no SQL dump can recreate this table. The backup must say so.
CREATE TABLE moods (id INT NOT NULL PRIMARY KEY, m ENUM('happy 😀', 'sad') NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO moods VALUES (1, 'happy 😀'), (2, 'sad');
-- A table system-versioned by transaction id: MariaDB cannot insert its history rows (only TIMESTAMP periods
-- take system_versioning_insert_history), so a restore would keep its current rows only.
CREATE TABLE trx_hist (id INT NOT NULL PRIMARY KEY, v INT,
  ts BIGINT UNSIGNED GENERATED ALWAYS AS ROW START, te BIGINT UNSIGNED GENERATED ALWAYS AS ROW END,
  PERIOD FOR SYSTEM_TIME(ts, te)) ENGINE=InnoDB WITH SYSTEM VERSIONING;
INSERT INTO trx_hist (id, v) VALUES (1, 1);
UPDATE trx_hist SET v = 2;
