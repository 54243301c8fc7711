-- switchyard: contract
-- The new code calls it email_address; the old code, still serving users, reads email.
ALTER TABLE users RENAME COLUMN email TO email_address;
