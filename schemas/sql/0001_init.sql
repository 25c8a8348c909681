-- 0001: service instances. Each safeflowd process registers itself at start and refreshes
-- last_seen while it runs; later migrations hang leases (task claims) off instance ids, so a
-- replica can tell a live owner from a crashed one.
CREATE TABLE instances (
  id          uuid        PRIMARY KEY,
  hostname    text        NOT NULL,
  pid         integer     NOT NULL,
  version     text        NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  stopped_at  timestamptz
);
CREATE INDEX instances_live ON instances (last_seen) WHERE stopped_at IS NULL;
