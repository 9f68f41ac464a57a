-- Ours (not from the package): packets inserted through the schema's own plpgsql functions.
SELECT insert_tcp_full(insert_ip_packet(2147483647, 999999, 'DROP ünï 😀', 2147483647, 'eth0', '', 10, '2001:db8::1', '::ffff:192.0.2.1', 6), 65535, 0, 4294967295, 0, 65535, true, 0, false, true, false, true, false);
SELECT insert_udp(insert_ip_packet(0, 0, '', 0, NULL, NULL, 2, '192.0.2.1', '198.51.100.255', 17), 53, 65535, 0);
SELECT insert_or_select_mac('08:00:2b:01:02:03', 'ff:ff:ff:ff:ff:ff', 2048);
