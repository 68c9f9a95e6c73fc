-- GDPR and CCPA jobs (Mixpanel's data-retrievals and data-deletions v3.0): the queue the
-- server works through, and the audit record each job leaves. `distinct_ids` are the
-- ids the request named (JSON list); `erase_ids` the ids of their identity clusters,
-- fixed when the job is staged and cleared when it ends; `next_chunk` is how far a
-- deletion has gone, so a restarted server resumes there. The counts are what the job
-- read or removed; no deleted data is kept here. `runner` is the server that claimed it
-- (its data directory's id): only it resumes the job, as only it holds that store.
CREATE TABLE gdpr_jobs (
    tracking_id      TEXT    PRIMARY KEY,
    project_id       INTEGER NOT NULL,
    kind             TEXT    NOT NULL,
    compliance_type  TEXT    NOT NULL,
    disclosure_type  TEXT,
    status           TEXT    NOT NULL,
    runner           TEXT,
    requesting_user  TEXT    NOT NULL,
    distinct_ids     TEXT    NOT NULL,
    erase_ids        TEXT,
    next_chunk       INTEGER NOT NULL DEFAULT 0,
    events_touched   INTEGER NOT NULL DEFAULT 0,
    profiles_touched INTEGER NOT NULL DEFAULT 0,
    archive          TEXT,
    expires_at_ms    INTEGER,
    error            TEXT,
    created_at_ms    INTEGER NOT NULL,
    started_at_ms    INTEGER,
    finished_at_ms   INTEGER
);
CREATE INDEX gdpr_jobs_by_status ON gdpr_jobs (status, created_at_ms);
CREATE INDEX gdpr_jobs_by_project ON gdpr_jobs (project_id, created_at_ms);

-- Sextant's own opt-out list: ids whose events and profile updates ingestion drops.
CREATE TABLE gdpr_opt_outs (
    project_id    INTEGER NOT NULL,
    distinct_id   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
);
