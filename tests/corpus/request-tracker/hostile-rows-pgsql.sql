-- Ours (not from the package): a ticket with its transaction and attachment, through the schema's sequences.
INSERT INTO users (name, password, emailaddress, realname, comments, lang, timezone, creator, created) VALUES ('rööt', '!bcrypt!x', 'root@example.org', 'Rööt 😀', E'multi\nline \\ ''', 'de', 'Europe/Berlin', 1, '2024-02-29 12:00:00');
INSERT INTO queues (name, description, creator, created) VALUES ('Général 😀', '', 1, '1970-01-01 00:00:00');
INSERT INTO tickets (effectiveid, queue, type, owner, subject, status, told, due, creator, created) VALUES (1, 1, 'ticket', 1, 'Sübject 😀 ' || repeat('x', 150), 'new', NULL, '9999-12-31 23:59:59.999999', 1, now());
INSERT INTO transactions (objecttype, objectid, type, creator, created) VALUES ('RT::Ticket', 1, 'Create', 1, '2000-01-01 00:00:00');
INSERT INTO attachments (transactionid, parent, messageid, subject, contenttype, contentencoding, content, headers, creator, created)
  VALUES (1, 0, '<id@example.org>', 'Sübject', 'text/plain', 'none', repeat(E'Body ☃ 😀 \\x00 \r\n', 5000), E'From: a\nTo: b', 1, '2000-01-01 00:00:00');
INSERT INTO sessions (id, a_session, lastupdated) VALUES ('0123456789abcdef0123456789abcdef', '\x0000ff01c328'::bytea, '2024-01-01 00:00:00');
