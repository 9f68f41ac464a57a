-- Ours (not from the package): configuration storage rows with hostile values.
INSERT INTO pma__bookmark (dbase, user, label, query) VALUES ('app☃', 'üser', 'lábel', CONCAT('SELECT ''', CHAR(0), ''';', CHAR(10), '-- ☃'));
INSERT INTO pma__history (username, db, `table`, timevalue, sqlquery) VALUES ('root', 'db', 't', '2038-01-19 03:14:07', REPEAT('SELECT 1; ', 6000));
INSERT INTO pma__userconfig (username, timevalue, config_data) VALUES ('root', '1970-01-01 00:00:01', '{"Console\\/Mode":"collapse","x":"\\u0000☃"}');
INSERT INTO pma__column_info (db_name, table_name, column_name, comment, mimetype, transformation, transformation_options, input_transformation, input_transformation_options)
  VALUES ('d', 't', 'c', 'ĳ comment', 'text/plain', '', '', '', '');
