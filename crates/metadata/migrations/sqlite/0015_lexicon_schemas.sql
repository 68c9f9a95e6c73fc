-- Lexicon schemas: one JSON Schema per (project, entity type, name), as Mixpanel's
-- Lexicon Schemas API keeps them, with the audit columns every saved object has.
CREATE TABLE lexicon_schemas (
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    entity_type    TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    schema_json    TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    modified_at_ms INTEGER,
    creator_kind   TEXT,
    creator_id     INTEGER,
    creator_name   TEXT,
    PRIMARY KEY (project_id, entity_type, name)
);

-- Values ingestion stored although they broke their property's declared type, counted
-- per event and property.
CREATE TABLE lexicon_violations (
    project_id   INTEGER NOT NULL REFERENCES projects(id),
    event        TEXT    NOT NULL,
    property     TEXT    NOT NULL,
    count        INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, event, property)
);
