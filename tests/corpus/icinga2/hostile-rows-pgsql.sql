-- Ours (not from the package): monitoring rows with hostile values.
INSERT INTO icinga_instances (instance_name, instance_description) VALUES ('default', 'ïnstance 😀');
INSERT INTO icinga_objects (instance_id, objecttype_id, name1, name2, is_active) VALUES (1, 1, 'host-ünï', NULL, 1), (1, 2, 'host-ünï', E'svc\t😀', 0);
INSERT INTO icinga_logentries (instance_id, logentry_time, entry_time, entry_time_usec, logentry_type, logentry_data, realtime_data, inferred_data_extracted, object_id)
  VALUES (1, '1970-01-01 00:00:00', '294276-12-31 23:59:59', 999999, 2147483647, repeat(E'CRITICAL ☃ 😀\n', 3000), 1, 1, 9223372036854775807);
INSERT INTO icinga_hosts (instance_id, config_type, host_object_id, alias, display_name, address, address6, check_interval, retry_interval, low_flap_threshold, high_flap_threshold)
  VALUES (1, 1, 1, 'Ålias', 'Dïsplay 😀', '192.0.2.1', '2001:db8::1', 1.7976931348623157e308, 4.9406564584124654e-324, '-0', 'NaN');
