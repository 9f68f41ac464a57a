-- MariaDB keeps ENUM/SET labels in utf8mb3 metadata: a 4-byte character in a label cannot be printed by
-- SHOW CREATE TABLE (it shows '?'), so no SQL dump can recreate this table. The backup must say so.
CREATE TABLE moods (id INT NOT NULL PRIMARY KEY, m ENUM('happy 😀', 'sad') NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO moods VALUES (1, 'happy 😀'), (2, 'sad');
