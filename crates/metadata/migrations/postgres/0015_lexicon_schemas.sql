-- PostgreSQL twin of ../sqlite/0015_lexicon_schemas.sql (same version; see ../README.md).
-- Lexicon schemas: one JSON Schema per (project, entity type, name), as Mixpanel's
-- Lexicon Schemas API keeps them, with the audit columns every saved object has.
CREATE TABLE lexicon_schemas (
    project_id     BIGINT NOT NULL REFERENCES projects(id),
    entity_type    TEXT   COLLATE "C" NOT NULL,
    name           TEXT   COLLATE "C" NOT NULL,
    schema_json    TEXT   NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    modified_at_ms BIGINT,
    creator_kind   TEXT,
    creator_id     BIGINT,
    creator_name   TEXT,
    PRIMARY KEY (project_id, entity_type, name)
);

-- Values ingestion stored although they broke their property's declared type, counted
-- per event and property.
CREATE TABLE lexicon_violations (
    project_id   BIGINT NOT NULL REFERENCES projects(id),
    event        TEXT   COLLATE "C" NOT NULL,
    property     TEXT   COLLATE "C" NOT NULL,
    count        BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (project_id, event, property)
);
