-- Tokens carry the version of their user; changing the password, role or tenant bumps it.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 1;

-- Failed logins counted per bucket: a client address, an account, or an account from one address.
DROP TABLE login_throttle;
CREATE TABLE login_failures (
    bucket TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_window_started_at ON login_failures (window_started_at);
