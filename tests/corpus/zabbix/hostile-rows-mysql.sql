-- Ours (not from the package): proxy rows with hostile values, loaded after the proxy schema.
INSERT INTO hosts (hostid, host, name, description) VALUES (10001, 'web-ünï', 'Wéb 😀 server', CONCAT('multi', CHAR(10), 'line')), (18446744073709551615, 'max', 'MAX', '');
UPDATE hosts SET name = 'wéb ß 😀' WHERE hostid = 10001;
INSERT INTO history (itemid, clock, value, ns) VALUES (1, 2147483647, 1.7976931348623157e308, 999999999), (1, -2147483648, -4.9406564584124654e-324, 0),
  (2, 0, -0e0, 0), (3, 1, 0.1, 1), (4, 2, 2.2250738585072014e-308, 2);
INSERT INTO history_uint (itemid, clock, value, ns) VALUES (1, 0, 18446744073709551615, 0), (2, 0, 0, 0);
INSERT INTO history_str (itemid, clock, value, ns) VALUES (1, 0, '😀 ünï \\ '' "', 0);
INSERT INTO history_text (itemid, clock, value, ns) VALUES (1, 0, REPEAT('ĳ😀\t', 7000), 0);
INSERT INTO proxy_history (itemid, clock, timestamp, source, severity, value, logeventid, ns, state, lastlogsize, mtime, flags, write_clock)
  VALUES (1, 0, 0, 'Ŝource', 5, REPEAT('log line 😀\n', 20000), 0, 0, 0, 18446744073709551615, 0, 0, 0);
