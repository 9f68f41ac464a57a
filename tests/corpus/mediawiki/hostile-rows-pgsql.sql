-- Ours (not from the package): wiki rows with hostile values.
INSERT INTO text (old_id, old_text, old_flags) VALUES (1, E'== Ü ==\x01\x7f😀', 'utf-8'), (2, '', '');
INSERT INTO page (page_id, page_namespace, page_title, page_is_redirect, page_is_new, page_random, page_touched, page_links_updated, page_latest, page_len, page_content_model, page_lang)
  VALUES (1, 0, 'Hauptseite_😀', 0, 1, 0.999999999999, '2024-02-29 12:00:00+00', NULL, 1, 2147483647, 'wikitext', 'de'),
         (2, -2147483648, E'Tab\there', 1, 0, 4.9406564584124654e-324, '-infinity', 'infinity', 0, 0, 'json', NULL);
INSERT INTO "user" (user_name, user_real_name, user_password, user_newpassword, user_email, user_touched, user_token, user_registration, user_editcount)
  VALUES ('Ünï 😀', '', ':pbkdf2:sha512:30000:64:x', '', 'a@example.org', '2024-01-01 00:00:00.123456+05:30', repeat('0', 32), NULL, 2147483647);
INSERT INTO page_props (pp_page, pp_propname, pp_value, pp_sortkey) VALUES (1, 'defaultsort', 'ß', '-0'), (2, 'x', 'y', 'Infinity');
INSERT INTO uploadstash (us_user, us_key, us_orig_path, us_path, us_source_type, us_timestamp, us_status, us_chunk_inx, us_props, us_size, us_sha1, us_mime, us_media_type, us_image_width, us_image_height, us_image_bits)
  VALUES (1, 'k1', '/tmp/ü', '/s/😀', 'file', '2024-01-01 00:00:00+00', 'finished', NULL, NULL, 2147483647, 'abc', 'image/png', 'BITMAP', 1, 1, 8);
