//! The admin resources' writes: tenants, users and sender tokens (instances and Evolution
//! servers still do this work in their routes). Each create, update and delete takes a
//! parsed value, runs in its own transaction with its audit row, and answers an outcome
//! the route renders; the route hands in how the audit log keeps the resource (its public
//! form, which the route owns). Unique rules a write breaks come back from `db` typed
//! ([`crate::db::UniqueViolation`]). Replaying a webhook delivery is the same kind of
//! write, kept with the outbox in `events::replay`.

pub mod sender_tokens;
pub mod tenants;
pub mod users;
