-- 0002: TES tasks and their queue.
-- A task's document as submitted (validated, normalised) lives in spec; its state, logs (one
-- TaskLog per attempt) and queue bookkeeping in columns. Lists page by (creation_time, id).
ALTER TABLE instances ADD COLUMN data_dir text;

CREATE TABLE tasks (
  id               text        PRIMARY KEY,
  project          text        NOT NULL,
  owner            text        NOT NULL DEFAULT '',
  state            text        NOT NULL CHECK (state IN ('QUEUED', 'INITIALIZING', 'RUNNING',
                     'PAUSED', 'COMPLETE', 'EXECUTOR_ERROR', 'SYSTEM_ERROR', 'CANCELED',
                     'CANCELING', 'PREEMPTED')),
  name             text,
  tags             jsonb       NOT NULL DEFAULT '{}'::jsonb,
  spec             jsonb       NOT NULL,
  logs             jsonb       NOT NULL DEFAULT '[]'::jsonb,
  backend          text        NOT NULL,
  backend_job_id   text,
  claimed_by       uuid,
  lease_expires    timestamptz,
  attempts         integer     NOT NULL DEFAULT 0,
  cancel_requested boolean     NOT NULL DEFAULT false,
  creation_time    timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tasks_by_project_time ON tasks (project, creation_time DESC, id DESC);
CREATE INDEX tasks_by_time ON tasks (creation_time DESC, id DESC);
CREATE INDEX tasks_queued ON tasks (creation_time, id) WHERE state = 'QUEUED';
CREATE INDEX tasks_claimed ON tasks (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_tags ON tasks USING gin (tags);

-- Wakes schedulers (LISTEN safeflow_tasks) when a task is queued, and the owner of a running
-- task when it is canceled. The payload is "queued:<id>" or "cancel:<id>".
CREATE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'QUEUED' AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM 'QUEUED') THEN
    PERFORM pg_notify('safeflow_tasks', 'queued:' || NEW.id);
  END IF;
  IF NEW.cancel_requested AND TG_OP = 'UPDATE' AND NOT OLD.cancel_requested THEN
    PERFORM pg_notify('safeflow_tasks', 'cancel:' || NEW.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OF state, cancel_requested ON tasks
  FOR EACH ROW EXECUTE FUNCTION tasks_notify();

-- Appends `msg` to the system_logs of the newest attempt log (creating one when there is none).
CREATE FUNCTION task_log_note(logs jsonb, msg text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_array_length(logs) = 0
    THEN jsonb_build_array(jsonb_build_object('logs', '[]'::jsonb, 'outputs', '[]'::jsonb,
                                              'system_logs', jsonb_build_array(msg)))
    ELSE jsonb_set(logs, ARRAY['-1', 'system_logs'],
                   COALESCE(logs -> -1 -> 'system_logs', '[]'::jsonb) || jsonb_build_array(msg))
  END
$$;
