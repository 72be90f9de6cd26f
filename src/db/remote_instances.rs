//! What Relevo knows of its instances on Evolution: the row a provisioning call claims,
//! and the status, token and QR code read back from the server.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::ConnectionStatus;
use crate::on_backend;

use super::instances::{self, Instance, NewInstance};
use super::retired_names;
use super::schema::{tenants, whatsapp_instances};
use super::{is_unique_violation, write_transaction, DbConnection};

/// The row a provisioning call works on.
#[derive(Debug)]
pub enum ProvisionTarget {
    /// This call inserted it.
    Inserted(Instance),
    /// It was there already (an earlier or a concurrent call).
    Existing(Instance),
    /// Another tenant has this name on this server.
    OwnedByAnotherTenant,
    /// The tenant has `EVOLUTION_API_MAX_INSTANCES_PER_TENANT` instances already.
    MaxReached,
    /// Another instance of the tenant has this phone number.
    PhoneTaken,
    /// The name was a deleted tenant's, whose session may still be live on Evolution; it
    /// is taken over only with `adopt`.
    Retired,
}

/// How provisioning may find or insert an instance.
pub struct ProvisionRules {
    /// No name was asked for: an instance of the tenant with the same phone on the same
    /// server is the one meant.
    pub match_phone: bool,
    pub max_instances: i64,
    /// The admin confirmed taking over a name a deleted tenant left on Evolution.
    pub adopt: bool,
}

/// Finds the instance `new` describes, or inserts it. With `match_phone` (no name was
/// asked for), an instance of the tenant with the same phone on the same server is the
/// one meant. Concurrent calls for the same instance end up on the same row: per tenant
/// they take turns on the tenant's row lock, and across tenants the unique index on the
/// name decides.
pub fn claim_for_provisioning(
    conn: &mut DbConnection,
    new: &NewInstance,
    rules: &ProvisionRules,
) -> QueryResult<ProvisionTarget> {
    match claim_in_turn(conn, new, rules) {
        // Another tenant inserted the name first; looking again finds its row.
        Err(error) if is_unique_violation(&error) => claim_in_turn(conn, new, rules),
        other => other,
    }
}

fn claim_in_turn(
    conn: &mut DbConnection,
    new: &NewInstance,
    rules: &ProvisionRules,
) -> QueryResult<ProvisionTarget> {
    let ProvisionRules {
        match_phone,
        max_instances,
        adopt,
    } = *rules;
    write_transaction(conn, |conn| {
        // A write first: a row lock on PostgreSQL, the write lock on SQLite, so the reads
        // below see every earlier claim of this tenant and none can slip in between.
        diesel::update(tenants::table.find(new.tenant_id))
            .set(tenants::updated_at.eq(tenants::updated_at))
            .execute(conn)?;
        if let Some(existing) = find_on_server(conn, new.evolution_server_id, &new.instance_name)? {
            return Ok(if existing.tenant_id == new.tenant_id {
                ProvisionTarget::Existing(existing)
            } else {
                ProvisionTarget::OwnedByAnotherTenant
            });
        }
        let phone = new.phone_number.as_str();
        if !phone.is_empty() {
            if let Some(existing) = find_by_phone(conn, new.tenant_id, phone)? {
                let same_server = existing.evolution_server_id == new.evolution_server_id;
                return Ok(if match_phone && same_server {
                    ProvisionTarget::Existing(existing)
                } else {
                    ProvisionTarget::PhoneTaken
                });
            }
        }
        let (count, _) = instances::counts(conn, new.tenant_id)?;
        if count >= max_instances {
            return Ok(ProvisionTarget::MaxReached);
        }
        if let Some(server_id) = new.evolution_server_id {
            if retired_names::is_retired(conn, server_id, &new.instance_name)? {
                if !adopt {
                    return Ok(ProvisionTarget::Retired);
                }
                retired_names::release(conn, server_id, &new.instance_name)?;
            }
        }
        instances::insert(conn, new).map(ProvisionTarget::Inserted)
    })
}

fn find_on_server(
    conn: &mut DbConnection,
    server_id: Option<i64>,
    name: &str,
) -> QueryResult<Option<Instance>> {
    let mut query = whatsapp_instances::table
        .filter(whatsapp_instances::instance_name.eq(name))
        .select(Instance::as_select())
        .into_boxed();
    query = match server_id {
        Some(id) => query.filter(whatsapp_instances::evolution_server_id.eq(id)),
        None => query.filter(whatsapp_instances::evolution_server_id.is_null()),
    };
    query.first(conn).optional()
}

fn find_by_phone(
    conn: &mut DbConnection,
    tenant_id: i64,
    phone: &str,
) -> QueryResult<Option<Instance>> {
    whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .filter(whatsapp_instances::phone_number.eq(phone))
        .select(Instance::as_select())
        .first(conn)
        .optional()
}

/// What an answer of Evolution changes on an instance. `None` leaves a column alone.
#[derive(AsChangeset, Default, Clone, Debug)]
#[diesel(table_name = whatsapp_instances)]
pub struct RemoteChanges {
    pub evolution_api_key_encrypted: Option<String>,
    pub phone_number: Option<String>,
    pub connection_status: Option<ConnectionStatus>,
    pub status_reason: Option<Option<i32>>,
    pub owner_jid: Option<Option<String>>,
    pub profile_name: Option<Option<String>>,
    pub last_checked_at: Option<NaiveDateTime>,
    pub connected_at: Option<Option<NaiveDateTime>>,
    pub provisioned: Option<bool>,
    pub qr_code: Option<Option<String>>,
    pub qr_code_base64: Option<Option<String>>,
    pub pairing_code: Option<Option<String>>,
    pub qr_updated_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
    /// Set by [`record`] when the status changes.
    pub status_since: Option<Option<NaiveDateTime>>,
    /// Set by [`record`] when the status changes between sendable and not.
    pub sendable_since: Option<Option<NaiveDateTime>>,
    /// Set by [`record`] on the first change of status: what the tenant knew until then.
    pub notified_status: Option<Option<ConnectionStatus>>,
    pub remote_event_at: Option<Option<NaiveDateTime>>,
    pub status_confirmed_at: Option<Option<NaiveDateTime>>,
}

/// An instance as a change found it and as it left it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub before: Instance,
    pub after: Instance,
    /// When the change was seen: its `last_checked_at`, else its `updated_at`, else the
    /// row's new `updated_at`.
    pub at: NaiveDateTime,
}

/// Applies `changes` and answers the instance before and after; `None` when the instance
/// was deleted meanwhile. What the change causes (the events to the tenant) is the
/// caller's to write, in the same transaction.
pub fn record(
    conn: &mut DbConnection,
    id: i64,
    changes: &RemoteChanges,
) -> QueryResult<Option<Recorded>> {
    let Some(before) = super::instances::find_by_id_for_update(conn, id)? else {
        return Ok(None);
    };
    let now = changes.last_checked_at.or(changes.updated_at);
    let mut changes = changes.clone();
    let moved_to = changes
        .connection_status
        .filter(|status| *status != before.connection_status);
    if let Some(status) = moved_to {
        let moment = Some(now.unwrap_or(before.updated_at));
        changes.status_since = Some(moment);
        if status.may_send() != before.connection_status.may_send() {
            changes.sendable_since = Some(moment);
        }
        if before.notified_status.is_none() {
            changes.notified_status = Some(Some(before.connection_status));
        }
    }
    let after = on_backend!(conn, |c| diesel::update(whatsapp_instances::table.find(id))
        .set(&changes)
        .returning(Instance::as_returning())
        .get_result(c)
        .optional())?;
    Ok(after.map(|after| Recorded {
        at: now.unwrap_or(after.updated_at),
        before,
        after,
    }))
}

/// The instance named `name` on server `server_id`, locked until the transaction ends
/// (a SQLite write transaction holds the lock already).
pub fn find_on_server_for_update(
    conn: &mut DbConnection,
    server_id: i64,
    name: &str,
) -> QueryResult<Option<Instance>> {
    let query = whatsapp_instances::table
        .filter(whatsapp_instances::evolution_server_id.eq(server_id))
        .filter(whatsapp_instances::instance_name.eq(name));
    match conn {
        DbConnection::Postgres(pg) => query
            .select(Instance::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => {
            query.select(Instance::as_select()).first(sqlite).optional()
        }
    }
}
