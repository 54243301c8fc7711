-- Orders get a status; every existing one has been paid.
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'paid';
