//! The admin resources' writes: tenants, users, sender tokens, Evolution servers, and
//! instances registered by hand with their plain edits. Each create, update and delete
//! takes a parsed value, runs in its own transaction with its audit row, and answers an
//! outcome the route renders; the route hands in how the audit log keeps the resource (its
//! public form, which the route owns). Unique rules a write breaks come back from `db`
//! typed ([`crate::db::UniqueViolation`]). Replaying a webhook delivery is the same kind of
//! write, kept with the outbox in `events::replay`; whatever talks to Evolution
//! (provisioning, deleting an instance or a tenant) is `lifecycle`.

pub mod evolution_servers;
pub mod instances;
pub mod sender_tokens;
pub mod tenants;
pub mod users;

use crate::domain::HttpUrl;
use crate::error::FieldErrors;
use crate::i18n::Msg;

/// A stored Evolution key was given for one server: when its URL (`url_field`, a server's
/// `base_url` or an instance's `evolution_api_url`) moves from `from` to another origin
/// (scheme, host or port) at `to`, the request must carry the key again in `key_field`,
/// or the stored key would be sent to a host it was never given for. A new path on the
/// same origin keeps the key.
pub fn require_key_on_new_origin(
    errors: &mut FieldErrors,
    (url_field, from, to): (&'static str, Option<&str>, Option<&str>),
    (key_field, key_sent): (&str, bool),
) {
    if !key_sent && HttpUrl::moves_origin(from, to) {
        errors.add(key_field, Msg::ApiKeyForNewHost(url_field));
    }
}
