//! The one integration-test binary. Every test runs the real application over HTTP,
//! once on SQLite and once on PostgreSQL.

mod helpers;

mod auth;
mod compose;
mod daily_reset;
mod instances;
mod operations;
mod request_errors;
mod sender;
mod sender_concurrency;
mod sender_tokens;
mod tenants;
mod users;
mod validation;
