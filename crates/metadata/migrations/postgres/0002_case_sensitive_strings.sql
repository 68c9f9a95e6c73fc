-- PostgreSQL twin of ../sqlite/0002_case_sensitive_strings.sql (same version; see ../README.md).
-- Whether string ==, != and `in` in segmentation expressions respect case.
-- Mixpanel documents them as case-insensitive; 0 keeps that default.
ALTER TABLE projects ADD COLUMN case_sensitive_strings BIGINT  NOT NULL DEFAULT 0;
