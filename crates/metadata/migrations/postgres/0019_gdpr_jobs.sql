-- PostgreSQL twin of ../sqlite/0019_gdpr_jobs.sql (same version; see ../README.md).
CREATE TABLE gdpr_jobs (
    tracking_id      TEXT   COLLATE "C" PRIMARY KEY,
    project_id       BIGINT NOT NULL,
    kind             TEXT   NOT NULL,
    compliance_type  TEXT   NOT NULL,
    disclosure_type  TEXT,
    status           TEXT   NOT NULL,
    runner           TEXT,
    requesting_user  TEXT   NOT NULL,
    distinct_ids     TEXT   NOT NULL,
    erase_ids        TEXT,
    next_chunk       BIGINT NOT NULL DEFAULT 0,
    events_touched   BIGINT NOT NULL DEFAULT 0,
    profiles_touched BIGINT NOT NULL DEFAULT 0,
    archive          TEXT,
    expires_at_ms    BIGINT,
    error            TEXT,
    created_at_ms    BIGINT NOT NULL,
    started_at_ms    BIGINT,
    finished_at_ms   BIGINT
);
CREATE INDEX gdpr_jobs_by_status ON gdpr_jobs (status, created_at_ms);
CREATE INDEX gdpr_jobs_by_project ON gdpr_jobs (project_id, created_at_ms);

CREATE TABLE gdpr_opt_outs (
    project_id    BIGINT NOT NULL,
    distinct_id   TEXT   COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
);
