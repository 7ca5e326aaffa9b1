-- Kept in step with the other database's schema. The lead's phone number,
-- as given (CSV column `phone`, the API, a CRM): what a call task needs.
ALTER TABLE leads ADD COLUMN phone TEXT NOT NULL DEFAULT '';
