-- 0003: identities kept server-side (access keys, certificate identities, project members) and
-- the tamper-evident audit log.

-- Access keys for automation: the secret is shown once at creation; only its SHA-256 is kept
-- (secrets are 256 random bits, so a fast hash is enough).
CREATE TABLE access_keys (
  id            text        PRIMARY KEY,
  secret_sha256 text        NOT NULL,
  subject       text        NOT NULL,
  project       text        NOT NULL,
  roles         text[]      NOT NULL,
  description   text        NOT NULL DEFAULT '',
  created_by    text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  last_used_at  timestamptz
);

-- X.509 client certificates (verified by the TLS front door) mapped to identities.
CREATE TABLE cert_identities (
  fingerprint_sha256 text        PRIMARY KEY CHECK (fingerprint_sha256 ~ '^[0-9a-f]{64}$'),
  subject            text        NOT NULL,
  roles              text[]      NOT NULL,
  projects           text[]      NOT NULL,
  read_only          boolean     NOT NULL DEFAULT false,
  created_by         text        NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  revoked_at         timestamptz
);

-- Project membership managed by admins (in addition to what tokens claim).
CREATE TABLE project_members (
  project  text        NOT NULL,
  subject  text        NOT NULL,
  added_by text        NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, subject)
);
CREATE INDEX project_members_by_subject ON project_members (subject);

-- The audit log: append-only; each record carries SHA-256(previous hash || canonical record),
-- written in the same transaction as the change it records. Appends are serialised with an
-- advisory lock so that the chain never forks.
CREATE TABLE audit_log (
  seq         bigint      PRIMARY KEY,
  time        timestamptz NOT NULL,
  request_id  text        NOT NULL,
  actor       text        NOT NULL,
  auth_method text        NOT NULL,
  role        text        NOT NULL,
  project     text        NOT NULL,
  action      text        NOT NULL,
  object_type text        NOT NULL,
  object_id   text        NOT NULL,
  outcome     text        NOT NULL,
  details     jsonb       NOT NULL,
  prev_hash   text        NOT NULL,
  hash        text        NOT NULL
);
CREATE SEQUENCE audit_log_seq;
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_object ON audit_log (object_id, seq);

-- Defence in depth: the application never updates or deletes audit records. Changing them
-- needs a superuser to disable this trigger first, and the hash chain shows it anyway.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
