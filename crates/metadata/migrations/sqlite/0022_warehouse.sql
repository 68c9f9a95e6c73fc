-- Warehouse connectors. A source is where imports read (`settings`: the JSON of
-- `sextant_model::warehouse::SourceSpec`, a PostgreSQL URL sealed by the server).
CREATE TABLE warehouse_sources (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    name           TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    settings       TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    modified_at_ms INTEGER,
    creator_kind   TEXT,
    creator_id     INTEGER,
    creator_name   TEXT
);
CREATE INDEX warehouse_sources_by_project ON warehouse_sources (project_id, id);

-- An import (`spec`: the JSON of `sextant_model::warehouse::ImportSpec`). `watermark`
-- is the last value of its watermark column stored (JSON), `sync_requested` a
-- manual sync waiting, `runner` the server that works it (it holds the store).
CREATE TABLE warehouse_imports (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    source_id        INTEGER NOT NULL REFERENCES warehouse_sources(id),
    import_type      TEXT    NOT NULL,
    spec             TEXT    NOT NULL,
    paused           INTEGER NOT NULL DEFAULT 0,
    run_every        INTEGER NOT NULL,
    runner           TEXT    NOT NULL,
    watermark        TEXT,
    sync_requested   INTEGER NOT NULL DEFAULT 0,
    last_dispatch_ms INTEGER,
    created_at_ms    INTEGER NOT NULL,
    modified_at_ms   INTEGER,
    creator_kind     TEXT,
    creator_id       INTEGER,
    creator_name     TEXT
);
CREATE INDEX warehouse_imports_by_project ON warehouse_imports (project_id, id);

-- Every run of an import: its `history`.
CREATE TABLE warehouse_import_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id   INTEGER NOT NULL,
    project_id  INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER,
    imported    INTEGER,
    error       TEXT
);
CREATE INDEX warehouse_import_runs_by_import ON warehouse_import_runs (import_id, id);
