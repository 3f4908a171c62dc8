-- Pending registrations expire: the purge finds them by age without reading the table.
CREATE INDEX users_pending_joined_idx ON users (date_joined) WHERE email_verified_at IS NULL;
