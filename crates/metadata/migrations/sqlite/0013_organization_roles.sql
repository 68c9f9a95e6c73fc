-- A service account's role in its organisation (owner, admin, analyst, consumer; NULL:
-- none), as Mixpanel's service-accounts spec gives one: organisation owners and admins
-- manage the organisation's service accounts. Accounts already owning a project own
-- their organisation too (the bootstrap account among them).
ALTER TABLE service_accounts ADD COLUMN org_role TEXT;
UPDATE service_accounts SET org_role = 'owner'
    WHERE id IN (SELECT service_account_id FROM service_account_roles WHERE role = 'owner');
