-- A few objects in the Pithos backend database (snf_pithos).
INSERT INTO nodes (parent, latest_version, path) VALUES (NULL, NULL, ''), (1, 1, '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02'),
  (2, 2, '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02/pithos'), (3, 3, '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02/pithos/hello.txt');
INSERT INTO versions (node, hash, size, type, mtime, muser, uuid, checksum, cluster) VALUES
  (2, '', 0, '', 1700000000, 'user1@lab.test', 'a1', '', 0),
  (3, '', 0, '', 1700000000, 'user1@lab.test', 'a2', '', 0),
  (4, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 6, 'text/plain', 1700000000,
   'user1@lab.test', 'a3', '', 0);
