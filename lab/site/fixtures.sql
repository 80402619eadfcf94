-- A few rows in the service tables of snf_apps (astakos and cyclades), as a
-- small running site has them. Loaded once by lab/site/provision.
INSERT INTO im_astakosuser (uuid, username, email) VALUES
  ('5b2f4a8e-0001-4c1e-9a57-0a1b2c3d4e01', 'admin@lab.test', 'admin@lab.test'),
  ('5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', 'user1@lab.test', 'user1@lab.test'),
  ('5b2f4a8e-0003-4c1e-9a57-0a1b2c3d4e03', 'user2@lab.test', 'user2@lab.test');
INSERT INTO im_project (uuid, realname, state) VALUES
  ('5b2f4a8e-0001-4c1e-9a57-0a1b2c3d4e01', 'system project admin', 1),
  ('9d4e1c22-7a10-4b8e-8d5f-3c2b1a0f9e11', 'lab project', 1);
INSERT INTO im_projectmembership (person_id, project_id, state) VALUES (1, 1, 1), (2, 2, 1), (3, 2, 1);
INSERT INTO im_projectlock (id) VALUES (1);
INSERT INTO quotaholder_app_holding (holder, source, resource, "limit", usage_min, usage_max) VALUES
  ('5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', '9d4e1c22-7a10-4b8e-8d5f-3c2b1a0f9e11', 'cyclades.vm', 5, 1, 1);
INSERT INTO oa2_client (identifier, secret, type) VALUES ('pithos-view', 'lab-oa2-secret', 'confidential');
INSERT INTO db_backend (clustername, port, username, hypervisor, disk_templates) VALUES
  ('cluster.lab.test', 5080, 'lab', 'fake', 'diskless,file,plain,drbd');
INSERT INTO db_flavor (name, cpu, ram, disk) VALUES ('C1R128D0diskless', 1, 128, 0), ('C1R256D1drbd', 1, 256, 1);
INSERT INTO db_virtualmachine (name, userid, backend_id, operstate, flavor_id, imageid, deleted) VALUES
  ('snf-1', '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', 1, 'STARTED', 1, 'debian-base', false),
  ('snf-2', '5b2f4a8e-0003-4c1e-9a57-0a1b2c3d4e03', 1, 'STOPPED', 1, 'debian-base', false),
  ('snf-3', '5b2f4a8e-0003-4c1e-9a57-0a1b2c3d4e03', 1, 'DESTROYED', 1, 'debian-base', true);
INSERT INTO db_volume (name, userid, machine_id, size, status) VALUES
  ('snf-1 root', '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', 1, 1, 'IN_USE');
INSERT INTO db_ipaddress (address, userid, nic_id) VALUES ('192.0.2.101', '5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', 1);
INSERT INTO db_ipaddresslog (address, server_id, network_id, allocated_at, active) VALUES
  ('192.0.2.101', 1, 1, now() - interval '30 days', true);
INSERT INTO userdata_publickeypair ("user", name, content, fingerprint) VALUES
  ('5b2f4a8e-0002-4c1e-9a57-0a1b2c3d4e02', 'laptop', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILabLabLabLabLabLabLabLabLabLabLabLabLabLabLab user1@laptop',
   'SHA256:lablablablablablablablablablablablablablablab');
