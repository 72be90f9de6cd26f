-- Named leases: one holder at a time for a piece of work (the sync scheduler, provisioning
-- one instance name), with an expiry so that a crashed holder does not keep it.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
