-- 0006: the registry of admin-approved workflows and execution environments, and WES runs.
-- A registry item is identified by its digest ("sha256:<hex>" over the canonical bundle: see
-- service/registry/bundle.h); name@version names at most one item of a kind. An item is
-- pending until enough distinct approvers (never its author) approve it, then approved until
-- revoked. Files of a workflow bundle are kept as registered (bytea), so that a run executes
-- exactly the approved bytes.
CREATE TABLE registry_items (
  kind          text        NOT NULL CHECK (kind IN ('workflow', 'environment')),
  digest        text        NOT NULL,
  name          text        NOT NULL,
  version       text        NOT NULL,
  manifest      jsonb       NOT NULL,
  state         text        NOT NULL CHECK (state IN ('pending', 'approved', 'revoked')),
  created_by    text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  approved_at   timestamptz,
  revoked_by    text,
  revoked_at    timestamptz,
  revoke_reason text,
  PRIMARY KEY (kind, digest),
  UNIQUE (kind, name, version)
);
CREATE INDEX registry_items_by_time ON registry_items (kind, created_at DESC, digest DESC);

CREATE TABLE registry_files (
  kind    text   NOT NULL,
  digest  text   NOT NULL,
  path    text   NOT NULL,
  content bytea  NOT NULL,
  sha256  text   NOT NULL,
  PRIMARY KEY (kind, digest, path),
  FOREIGN KEY (kind, digest) REFERENCES registry_items (kind, digest) ON DELETE CASCADE
);

CREATE TABLE registry_approvals (
  kind        text        NOT NULL,
  digest      text        NOT NULL,
  approver    text        NOT NULL,
  approved_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (kind, digest, approver),
  FOREIGN KEY (kind, digest) REFERENCES registry_items (kind, digest) ON DELETE CASCADE
);

-- A WES run is one TES task (the engine, in one worker) plus what WES needs to answer about it:
-- the request as the client sent it, the approved workflow it runs, and where its declared
-- outputs go. Its state is its task's state.
CREATE TABLE wes_runs (
  id               text        PRIMARY KEY,
  task_id          text        NOT NULL UNIQUE REFERENCES tasks (id),
  project          text        NOT NULL,
  owner            text        NOT NULL,
  workflow_digest  text        NOT NULL,
  workflow_name    text        NOT NULL,
  workflow_version text        NOT NULL,
  request          jsonb       NOT NULL,
  outputs          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX wes_runs_by_project_time ON wes_runs (project, created_at DESC, id DESC);
CREATE INDEX wes_runs_by_time ON wes_runs (created_at DESC, id DESC);
