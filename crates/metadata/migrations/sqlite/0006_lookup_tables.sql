-- Lookup tables: their names and the properties they are mapped to. Their rows live in
-- the event store, beside the events they enrich.
CREATE TABLE lookup_tables (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    name          TEXT    NOT NULL,
    row_count     INTEGER NOT NULL DEFAULT 0,
    columns       TEXT    NOT NULL DEFAULT '[]',
    created_at_ms INTEGER NOT NULL,
    replaced_at_ms INTEGER
);
CREATE INDEX lookup_tables_by_project ON lookup_tables (project_id, seq);

-- A property maps to at most one table (as in Mixpanel's Lexicon); a table may serve
-- several properties.
CREATE TABLE lookup_mappings (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    target     TEXT    NOT NULL CHECK (target IN ('event', 'user')),
    property   TEXT    NOT NULL,
    table_id   TEXT    NOT NULL REFERENCES lookup_tables(id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, target, property)
);
