DROP TABLE login_failures;
CREATE TABLE login_throttle (
    email TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
ALTER TABLE users DROP COLUMN token_version;
