-- Whether string ==, != and `in` in segmentation expressions respect case.
-- Mixpanel documents them as case-insensitive; 0 keeps that default.
ALTER TABLE projects ADD COLUMN case_sensitive_strings INTEGER NOT NULL DEFAULT 0;
