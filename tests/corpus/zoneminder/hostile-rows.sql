-- Ours (not from the package): application rows with hostile values, loaded after zm_create.sql.
INSERT INTO Users (Username, Password, Language, Enabled, Stream, Events, Control, Monitors, `Groups`, Devices, Snapshots, `System`, MaxBandwidth, MonitorIds, TokenMinExpiry, APIEnabled, HomeView)
  VALUES ('ünïß', '$2y$10$/x\\y''z', 'de_DE', 1, 'View', 'Edit', 'None', 'View', 'Edit', 'None', 'View', 'Edit', '', '1,2,3', 18446744073709551615, 1, 'console');
INSERT INTO Monitors (Name, Notes, Type, `Function`, Triggers, Device, Path) VALUES ('Tür 🚪', CONCAT('line1', CHAR(10), 'tab', CHAR(9), 'end'), 'Ffmpeg', 'Modect', 'X10', '/dev/video0', 'rtsp://ü:p@192.0.2.1/😀');
-- Fires the Events triggers (triggers.sql): Events_Hour/Day/Week/Month and Event_Summaries.
INSERT INTO Events (StateId, MonitorId, StorageId, Name, Cause, StartDateTime, EndDateTime, Width, Height, Length, Frames, AlarmFrames, TotScore, AvgScore, MaxScore, Notes, Orientation, DiskSpace, Scheme)
  VALUES (1, 1, 0, 'Event-😀', 'Motion', '0000-00-00 00:00:00', '9999-12-31 23:59:59', 65535, 0, 99999999.99, 4294967295, 0, 4294967295, 65535, 0, REPEAT('ß☃😀', 5000), 'FLIP_VERT', 18446744073709551615, 'Deep'),
         (1, 1, 0, 'Event-2', 'Signal', '1000-01-01 00:00:00', NULL, 1, 1, -99999999.99, 0, 0, 0, 0, 0, '', 'ROTATE_0', 0, 'Shallow');
UPDATE Events SET DiskSpace = 12345 WHERE Name = 'Event-2';
INSERT INTO Logs (TimeKey, Component, ServerId, Pid, Level, Code, Message, File, Line) VALUES
  (9999999999.999999, 'zmc_m1', 0, -2147483648, -128, 'ERR', CONCAT('bad ', CHAR(0), ' byte ', '\\', '😀'), '/usr/bin/zmc', 65535);
-- A deleted newest event: its id must not come back (ZoneMinder names event directories by id).
INSERT INTO Events (StateId, MonitorId, StorageId, Name, Cause, StartDateTime, Width, Height, Length, Frames, AlarmFrames, TotScore, AvgScore, MaxScore, Orientation, DiskSpace, Scheme)
  VALUES (1, 1, 0, 'Event-3', 'Motion', '2024-01-01 00:00:00', 1, 1, 0, 0, 0, 0, 0, 0, 'ROTATE_0', 7, 'Deep');
DELETE FROM Events WHERE Name = 'Event-3';
