-- Ours (not from the package): rows with hostile values, incl. MEMORY tables (poller_output) and zero timestamps.
INSERT INTO settings (name, value) VALUES ('hc_unicode', '😀 ünï \\ '' "'), ('hc_long', REPEAT('x', 2048));
INSERT INTO user_log (username, user_id, time, result, ip) VALUES ('ädmin', 1, '0000-00-00 00:00:00', 255, '::ffff:192.0.2.1'), ('x', -8388608, '2038-01-19 03:14:07', 0, '');
INSERT INTO poller_output (local_data_id, rrd_name, time, output) VALUES (4294967295, 'traffic_in', '1970-01-01 00:00:01', '1.7976931348623157e308'), (1, '😀', '0000-00-00 00:00:00', '');
