-- 0005: tasks whose work outlives safeflowd (SLURM jobs).
-- backend_job_id (from 0002) names the batch job of the current attempt; backend_job_open is
-- true from the moment that job id is recorded until nothing of the attempt can be running any
-- more (the attempt ended, or its cancel was confirmed by the batch system). A restarted
-- safeflowd adopts live attempts by their job id, and finishes the cancel of canceled ones
-- whose job is still open.
ALTER TABLE tasks ADD COLUMN backend_job_open boolean NOT NULL DEFAULT false;
CREATE INDEX tasks_open_jobs ON tasks (backend) WHERE backend_job_open;
CREATE INDEX tasks_live_by_backend ON tasks (backend, lease_expires)
  WHERE state IN ('INITIALIZING', 'RUNNING', 'PAUSED');
