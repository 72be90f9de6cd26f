//! The admin resources' writes (tenants, users, instances, Evolution servers, sender
//! tokens): each create, update and delete takes a parsed value, runs in its own
//! transaction with its audit row, and answers an outcome the route renders. Unique
//! rules a write breaks come back from `db` typed ([`crate::db::UniqueViolation`]).

pub mod sender_tokens;
pub mod tenants;
pub mod users;
