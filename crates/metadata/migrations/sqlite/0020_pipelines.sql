-- Data pipelines (Mixpanel's /nessie/pipeline API). `spec` is the pipeline's request as
-- JSON (`sextant_model::pipeline::PipelineSpec`); `state` is `running` or `paused`;
-- `runner` is the server that works it (its data directory's id), as only it holds the
-- store the events are read from.
CREATE TABLE pipelines (
    project_id         INTEGER NOT NULL,
    name               TEXT    NOT NULL,
    spec               TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    runner             TEXT    NOT NULL,
    created_by         TEXT    NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    last_dispatched_ms INTEGER,
    PRIMARY KEY (project_id, name)
);

-- One row per partition a pipeline owes (a day, or an hour): its state, what was
-- written (`events`, and `digest`, the hash of the published file, by which a sync
-- tells a changed partition), and why it last failed.
CREATE TABLE pipeline_tasks (
    project_id     INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    partition_ms   INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    events         INTEGER NOT NULL DEFAULT 0,
    digest         TEXT,
    error          TEXT,
    run_at_ms      INTEGER NOT NULL,
    finished_at_ms INTEGER,
    PRIMARY KEY (project_id, name, partition_ms)
);

-- Every time a partition was published: the pipeline's `timeline`.
CREATE TABLE pipeline_syncs (
    project_id   INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    partition_ms INTEGER NOT NULL,
    synced_at_ms INTEGER NOT NULL
);
CREATE INDEX pipeline_syncs_by_pipeline ON pipeline_syncs (project_id, name, partition_ms);
