-- Organisations own projects and service accounts.
CREATE TABLE organizations (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- A project: its public token, its secret (hashed), timezone and identity mode.
CREATE TABLE projects (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES organizations(id),
    name          TEXT    NOT NULL,
    token         TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL UNIQUE,
    timezone      TEXT    NOT NULL,
    identity_mode TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Service accounts authenticate with username + secret (hashed).
CREATE TABLE service_accounts (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES organizations(id),
    username      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- A service account's role in each project it may use.
CREATE TABLE service_account_roles (
    service_account_id INTEGER NOT NULL REFERENCES service_accounts(id),
    project_id         INTEGER NOT NULL REFERENCES projects(id),
    role               TEXT    NOT NULL,
    PRIMARY KEY (service_account_id, project_id)
);
