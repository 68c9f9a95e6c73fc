-- A service account's role in its organisation (owner, admin, analyst, consumer; NULL:
-- none), as Mixpanel's service-accounts spec gives one: organisation owners and admins
-- manage the organisation's service accounts. The first account of each organisation
-- (the one its bootstrap made) owns it; the others get a role only when an owner or
-- admin gives them one, so no account gains rights by the upgrade.
ALTER TABLE service_accounts ADD COLUMN org_role TEXT;
UPDATE service_accounts SET org_role = 'owner'
    WHERE id IN (SELECT min(id) FROM service_accounts GROUP BY org_id);
