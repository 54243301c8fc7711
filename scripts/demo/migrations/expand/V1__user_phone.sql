-- Expand: a column the new code starts writing, and the index its order page needs, built
-- without blocking the writes of the code still live.
ALTER TABLE users ADD COLUMN phone text;
CREATE INDEX CONCURRENTLY orders_user_id ON orders (user_id);
