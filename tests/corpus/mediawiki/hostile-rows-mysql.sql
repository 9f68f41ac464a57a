-- Ours (not from the package): wiki rows with hostile values (binary columns hold raw bytes).
INSERT INTO text (old_id, old_text, old_flags) VALUES (1, CONCAT('== Ü ==', CHAR(0), X'00FF01C3', '😀'), 'utf-8'), (2, X'', ''), (3, X'C328A0A1FEFF00', 'gzip');
INSERT INTO page (page_id, page_namespace, page_title, page_is_redirect, page_is_new, page_random, page_touched, page_links_updated, page_latest, page_len, page_content_model, page_lang)
  VALUES (1, 0, 'Hauptseite_😀', 0, 1, 0.999999999999, '20240229120000', NULL, 1, 4294967295, 'wikitext', 'de'),
         (2, -2147483648, X'C328', 1, 0, 4.9406564584124654e-324, '00000000000000', '99991231235959', 0, 0, 'json', NULL);
INSERT INTO user (user_id, user_name, user_real_name, user_password, user_newpassword, user_email, user_touched, user_token, user_registration, user_editcount)
  VALUES (1, 'Ünï 😀', X'00', ':pbkdf2:sha512:30000:64:x', '', 'a@example.org', '20240101000000', REPEAT('0', 32), NULL, 4294967295);
INSERT INTO searchindex (si_page, si_title, si_text) VALUES (1, 'hauptseite', 'ü ☃ text u800fc');
