-- 0007: the airlock. Nothing leaves the secure zone without a recorded decision. A release
-- request is made for every WES run whose engine ended COMPLETE (one file per declared
-- output) and for every TES task with outputs addressed outside the zone; the disclosure
-- filter (executor/disclosure/) records a verdict and a report per file, and each file then
-- has a status:
--   pending    not checked yet (the request is 'checking')
--   released   pass with auto-release, approved by the required checkers, or an admin override
--   held       waiting for output checkers (review, or pass without auto-release)
--   escalated  the checkers disagreed: an admin decides
--   blocked    fail, rejected by the checkers, or blocked by an admin
CREATE TABLE airlock_requests (
  id               text        PRIMARY KEY,
  kind             text        NOT NULL CHECK (kind IN ('run', 'task')),
  run_id           text        REFERENCES wes_runs (id),
  task_id          text        NOT NULL UNIQUE REFERENCES tasks (id),
  project          text        NOT NULL,
  requester        text        NOT NULL,
  profile          text        NOT NULL,
  auto_release     boolean     NOT NULL,
  required_reviews integer     NOT NULL CHECK (required_reviews BETWEEN 1 AND 5),
  state            text        NOT NULL CHECK (state IN ('checking', 'decided')),
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  checked_at       timestamptz
);
CREATE INDEX airlock_requests_by_time ON airlock_requests (created_at DESC, id DESC);
CREATE INDEX airlock_requests_checking ON airlock_requests (created_at) WHERE state = 'checking';
CREATE UNIQUE INDEX airlock_requests_by_run ON airlock_requests (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE airlock_files (
  request_id        text        NOT NULL REFERENCES airlock_requests (id),
  name              text        NOT NULL,
  path              text        NOT NULL,
  location          text        NOT NULL,  -- file:// URL in the zone (sealed or plain)
  evidence_location text,                  -- the evidence sidecar: read, never released
  declaration       jsonb,                 -- NULL: undeclared
  sha256            text,
  size_bytes        bigint,
  verdict           text        CHECK (verdict IN ('pass', 'review', 'fail')),
  report            jsonb,
  status            text        NOT NULL
                    CHECK (status IN ('pending', 'released', 'held', 'escalated', 'blocked')),
  basis             text        CHECK (basis IN ('auto', 'checkers', 'override')),
  decided_by        text,
  decision_reason   text,
  decided_at        timestamptz,
  PRIMARY KEY (request_id, name)
);
CREATE INDEX airlock_files_by_status ON airlock_files (status) WHERE status IN ('held', 'escalated');

CREATE TABLE airlock_reviews (
  request_id text        NOT NULL,
  name       text        NOT NULL,
  checker    text        NOT NULL,
  decision   text        NOT NULL CHECK (decision IN ('approve', 'reject')),
  comment    text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (request_id, name, checker),
  FOREIGN KEY (request_id, name) REFERENCES airlock_files (request_id, name)
);

-- TES outputs addressed outside the zone ("airlock:<path>" URLs): the task writes them to a
-- staging place in the zone; this records which outputs those are, as
-- [{"url": "airlock:<path>", "location": "file://...", "path": "<path in the task>"}].
ALTER TABLE tasks ADD COLUMN airlock_outputs jsonb;
