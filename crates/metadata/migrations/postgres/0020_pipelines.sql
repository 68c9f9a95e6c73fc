-- PostgreSQL twin of ../sqlite/0020_pipelines.sql (same version; see ../README.md).
CREATE TABLE pipelines (
    project_id         BIGINT NOT NULL,
    name               TEXT   COLLATE "C" NOT NULL,
    spec               TEXT   NOT NULL,
    state              TEXT   NOT NULL,
    runner             TEXT   NOT NULL,
    created_by         TEXT   NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    last_dispatched_ms BIGINT,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE pipeline_tasks (
    project_id     BIGINT NOT NULL,
    name           TEXT   COLLATE "C" NOT NULL,
    partition_ms   BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    events         BIGINT NOT NULL DEFAULT 0,
    digest         TEXT,
    error          TEXT,
    run_at_ms      BIGINT NOT NULL,
    finished_at_ms BIGINT,
    PRIMARY KEY (project_id, name, partition_ms)
);

CREATE TABLE pipeline_syncs (
    project_id   BIGINT NOT NULL,
    name         TEXT   COLLATE "C" NOT NULL,
    partition_ms BIGINT NOT NULL,
    synced_at_ms BIGINT NOT NULL
);
CREATE INDEX pipeline_syncs_by_pipeline ON pipeline_syncs (project_id, name, partition_ms);
