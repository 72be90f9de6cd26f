//! Instances registered by hand (they exist on an Evolution server already) and the
//! plain edits of one: its fields, `is_active`, today's counter. Provisioning and deleting
//! talk to Evolution, so they are `lifecycle`.
//!
//! A registration or a change of URL lands on the server at that URL, which is created
//! (without a key) when Relevo does not know it yet. A write that is refused rolls that
//! server back with everything else, so a refusal leaves nothing behind.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use serde_json::Value;

use super::require_key_on_new_origin;
use crate::audit::{Action, Auditor};
use crate::db::evolution_servers;
use crate::db::instances::{self, Instance, InstanceChanges, NewInstance};
use crate::db::tenants::Tenant;
use crate::db::{unique_violation, write_transaction_once, DbConnection, UniqueViolation};
use crate::domain::{ConnectionStatus, DailyLimit, InstanceName, PhoneNumber};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Msg;
use crate::state::AppState;

/// How the audit log keeps an instance (its list form, built by the caller).
pub type Snapshot = fn(&Instance, &Tenant, NaiveDate) -> QueryResult<Value>;

/// A registration, every field parsed (`ValidNewInstance::parse`, at the edge);
/// `is_active` and `priority` not sent are `None` and take their defaults here.
pub struct ValidNewInstance {
    pub phone: PhoneNumber,
    pub name: InstanceName,
    pub api_key_encrypted: String,
    /// `None`: the default server.
    pub api_url: Option<String>,
    pub limit: DailyLimit,
    pub is_active: Option<bool>,
    pub notes: Option<String>,
    pub priority: Option<i32>,
}

/// A registration refused at the edge: its problems, and the phone number, name and URL
/// that parsed (checked against the other instances all the same, so that one answer
/// lists every problem).
pub struct RefusedInstance {
    pub errors: FieldErrors,
    pub phone: Option<PhoneNumber>,
    pub name: Option<InstanceName>,
    pub api_url: Option<String>,
}

/// The changes to an instance, every field sent parsed (`ValidInstanceChanges::parse`, at
/// the edge); `None` leaves a field alone, `Some(None)` clears a nullable one.
pub struct ValidInstanceChanges {
    pub phone: Option<PhoneNumber>,
    pub name: Option<InstanceName>,
    /// Sent exactly when a key was sent: a valid body has no `null` key.
    pub api_key_encrypted: Option<String>,
    /// `Some(None)`: back to the default server.
    pub api_url: Option<Option<String>>,
    pub limit: Option<DailyLimit>,
    pub is_active: Option<bool>,
    pub notes: Option<Option<String>>,
    pub priority: Option<i32>,
}

/// Changes refused at the edge: their problems, what parsed of the phone number, name and
/// URL, and whether a key was sent (checked as for valid changes).
pub struct RefusedInstanceChanges {
    pub errors: FieldErrors,
    pub phone: Option<PhoneNumber>,
    pub name: Option<InstanceName>,
    pub api_url: Option<Option<String>>,
    pub key_sent: bool,
}

/// Why a registration or a change was not written.
pub enum Refusal {
    /// Every problem found, the body's first, then what the other instances hold.
    Invalid(FieldErrors),
    /// Another tenant has this name on the server: not this tenant's to fix.
    NameOwnedElsewhere(String),
}

pub enum CreateOutcome {
    Created(Box<Instance>),
    Refused(Refusal),
}

pub enum UpdateOutcome {
    Updated(Box<Instance>),
    Refused(Refusal),
    NotFound,
}

/// The problems of a refused registration, with what the other instances hold of its
/// phone number and name among them.
pub async fn refusal_of_new(
    state: &AppState,
    tenant_id: i64,
    refused: RefusedInstance,
) -> Result<Refusal, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| {
            answered(conn, |conn| {
                let RefusedInstance {
                    mut errors,
                    phone,
                    name,
                    api_url,
                } = refused;
                let (phone, name) = (phone.as_ref(), name.as_ref());
                place_new(
                    conn,
                    tenant_id,
                    (phone, name, api_url.as_deref()),
                    now,
                    &mut errors,
                )?;
                Err(Stop::Answer(Refusal::Invalid(errors)))
            })
        })
        .await
}

/// Registers `new` for `tenant` with its audit row; `today` is the tenant's date.
pub async fn create(
    state: &AppState,
    auditor: Auditor,
    tenant: Tenant,
    today: NaiveDate,
    new: ValidNewInstance,
    snapshot: Snapshot,
) -> Result<CreateOutcome, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| {
            answered(conn, |conn| {
                let mut errors = FieldErrors::default();
                let sought = (Some(&new.phone), Some(&new.name), new.api_url.as_deref());
                let server_id = place_new(conn, tenant.id, sought, now, &mut errors)?;
                refuse_unless_empty(errors)?;
                let row = new_row(tenant.id, new, server_id, today, now);
                let created = instances::insert(conn, &row).map_err(lost_race)?;
                auditor.record(
                    conn,
                    Action::InstanceCreated,
                    created.id,
                    Some(tenant.id),
                    None,
                    Some(snapshot(&created, &tenant, today)?),
                )?;
                Ok(CreateOutcome::Created(Box::new(created)))
            })
        })
        .await
}

/// The row to insert: what was sent, the defaults for the rest.
fn new_row(
    tenant_id: i64,
    new: ValidNewInstance,
    evolution_server_id: Option<i64>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> NewInstance {
    NewInstance {
        tenant_id,
        phone_number: new.phone.as_str().to_string(),
        instance_name: new.name.as_str().to_string(),
        evolution_api_key_encrypted: new.api_key_encrypted,
        evolution_api_url: new.api_url,
        daily_message_limit: new.limit.get(),
        messages_sent_today: 0,
        last_reset_date: today,
        is_active: new.is_active.unwrap_or(true),
        notes: new.notes,
        priority: new.priority.unwrap_or(0),
        created_at: now,
        updated_at: now,
        evolution_server_id,
        provisioned: false,
        connection_status: ConnectionStatus::Unknown,
    }
}

/// The problems of refused changes to `current`, with a move to another origin without a
/// key and what the other instances hold of its phone number and name among them.
pub async fn refusal_of_changes(
    state: &AppState,
    tenant_id: i64,
    current: Instance,
    refused: RefusedInstanceChanges,
) -> Result<Refusal, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| {
            answered(conn, |conn| {
                let RefusedInstanceChanges {
                    mut errors,
                    phone,
                    name,
                    api_url,
                    key_sent,
                } = refused;
                let sought = Sought {
                    phone: phone.as_ref().map(PhoneNumber::as_str),
                    name: name.as_ref().map(InstanceName::as_str),
                    api_url: api_url.as_ref().map(Option::as_deref),
                    key_sent,
                };
                place_change(conn, tenant_id, &current, sought, now, &mut errors)?;
                Err(Stop::Answer(Refusal::Invalid(errors)))
            })
        })
        .await
}

/// Changes `current`, an instance of `tenant`, with its audit row; `today` is the
/// tenant's date.
pub async fn update(
    state: &AppState,
    auditor: Auditor,
    tenant: Tenant,
    current: Instance,
    today: NaiveDate,
    changes: ValidInstanceChanges,
    snapshot: Snapshot,
) -> Result<UpdateOutcome, ApiError> {
    let now = state.clock.now().naive_utc();
    let id = current.id;
    state
        .write(move |conn| {
            answered(conn, |conn| {
                let mut errors = FieldErrors::default();
                let sought = Sought {
                    phone: changes.phone.as_ref().map(PhoneNumber::as_str),
                    name: changes.name.as_ref().map(InstanceName::as_str),
                    api_url: changes.api_url.as_ref().map(Option::as_deref),
                    key_sent: changes.api_key_encrypted.is_some(),
                };
                let moved_to = place_change(conn, tenant.id, &current, sought, now, &mut errors)?;
                refuse_unless_empty(errors)?;
                let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                    return Err(Stop::Answer(UpdateOutcome::NotFound));
                };
                let row = changed_row(changes, moved_to, now);
                let updated = instances::update(conn, id, &row).map_err(lost_race)?;
                auditor.record(
                    conn,
                    Action::InstanceUpdated,
                    id,
                    Some(tenant.id),
                    Some(snapshot(&before, &tenant, today)?),
                    Some(snapshot(&updated, &tenant, today)?),
                )?;
                Ok(UpdateOutcome::Updated(Box::new(updated)))
            })
        })
        .await
}

/// The columns to change; `moved_to` is the server a new URL moved the instance to.
fn changed_row(
    changes: ValidInstanceChanges,
    moved_to: Option<Option<i64>>,
    now: NaiveDateTime,
) -> InstanceChanges {
    InstanceChanges {
        phone_number: changes.phone.map(|phone| phone.as_str().to_string()),
        instance_name: changes.name.map(|name| name.as_str().to_string()),
        evolution_api_key_encrypted: changes.api_key_encrypted,
        evolution_api_url: changes.api_url,
        daily_message_limit: changes.limit.map(|limit| limit.get()),
        is_active: changes.is_active,
        notes: changes.notes,
        priority: changes.priority,
        updated_at: Some(now),
        evolution_server_id: moved_to,
    }
}

/// Flips instance `id` of `tenant` between active and inactive, with its audit row;
/// `None` when the tenant has no such instance.
pub async fn toggle_active(
    state: &AppState,
    auditor: Auditor,
    tenant: Tenant,
    id: i64,
    today: NaiveDate,
    snapshot: Snapshot,
) -> Result<Option<Instance>, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .transaction(move |conn| {
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let toggled = instances::toggle_active(conn, id, now)?;
            let action = if toggled.is_active {
                Action::InstanceActivated
            } else {
                Action::InstanceDeactivated
            };
            auditor.record(
                conn,
                action,
                id,
                Some(tenant.id),
                Some(snapshot(&before, &tenant, today)?),
                Some(snapshot(&toggled, &tenant, today)?),
            )?;
            Ok(Some(toggled))
        })
        .await
}

/// Sets today's counter of instance `id` of `tenant` back to 0 (a new count), with its
/// audit row; `None` when the tenant has no such instance.
pub async fn reset_counter(
    state: &AppState,
    auditor: Auditor,
    tenant: Tenant,
    id: i64,
    today: NaiveDate,
    snapshot: Snapshot,
) -> Result<Option<Instance>, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .transaction(move |conn| {
            let Some(before) = instances::find_for_update(conn, tenant.id, id)? else {
                return Ok(None);
            };
            let Some(reset) = instances::reset_counter(conn, id, today, now)? else {
                return Ok(None);
            };
            auditor.record(
                conn,
                Action::InstanceCounterReset,
                id,
                Some(tenant.id),
                Some(snapshot(&before, &tenant, today)?),
                Some(snapshot(&reset, &tenant, today)?),
            )?;
            Ok(Some(reset))
        })
        .await
}

/// What a change asks of the servers and of the other instances.
struct Sought<'a> {
    phone: Option<&'a str>,
    name: Option<&'a str>,
    /// A new URL; `Some(None)`: the default server.
    api_url: Option<Option<&'a str>>,
    key_sent: bool,
}

/// The server a new instance lands on (the one at its URL, created when unknown, or the
/// default server), with what clashes there added to `errors`.
fn place_new(
    conn: &mut DbConnection,
    tenant_id: i64,
    (phone, name, api_url): (Option<&PhoneNumber>, Option<&InstanceName>, Option<&str>),
    now: NaiveDateTime,
    errors: &mut FieldErrors,
) -> Result<Option<i64>, Stop<Refusal>> {
    let server_id = evolution_servers::server_for_url(conn, api_url, now)?;
    check_unique(
        conn,
        tenant_id,
        phone.map(PhoneNumber::as_str),
        name.map(|name| (name.as_str(), server_id)),
        None,
        errors,
    )?;
    Ok(server_id)
}

/// The server a new URL moves `current` to (`None`: no new URL), with a move to another
/// origin without a key, and what clashes with the values the row will have after the
/// change, added to `errors`.
fn place_change(
    conn: &mut DbConnection,
    tenant_id: i64,
    current: &Instance,
    sought: Sought<'_>,
    now: NaiveDateTime,
    errors: &mut FieldErrors,
) -> Result<Option<Option<i64>>, Stop<Refusal>> {
    // A new URL moves the instance to the server at that URL; its key goes along only
    // within one origin.
    let moved_to = match sought.api_url {
        Some(url) => {
            let server = evolution_servers::server_for_url(conn, url, now)?;
            require_key_on_new_origin(
                errors,
                (
                    "evolution_api_url",
                    evolution_servers::base_url_of(conn, current.evolution_server_id)?.as_deref(),
                    evolution_servers::base_url_of(conn, server)?.as_deref(),
                ),
                ("evolution_api_key", sought.key_sent),
            );
            Some(server)
        }
        None => None,
    };
    let name_changes = sought.name.is_some() || sought.api_url.is_some();
    let final_name = sought.name.unwrap_or(&current.instance_name);
    let final_server = moved_to.unwrap_or(current.evolution_server_id);
    check_unique(
        conn,
        tenant_id,
        sought.phone,
        name_changes.then_some((final_name, final_server)),
        Some(current.id),
        errors,
    )?;
    Ok(moved_to)
}

/// Adds "already registered" for a phone number another instance of the tenant has, or
/// a name the tenant already uses on the same server; a name another tenant has on that
/// server stops the write.
fn check_unique(
    conn: &mut DbConnection,
    tenant_id: i64,
    phone: Option<&str>,
    name_on_server: Option<(&str, Option<i64>)>,
    except_id: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<(), Stop<Refusal>> {
    if let Some(phone) = phone {
        if instances::phone_taken(conn, tenant_id, phone, except_id)? {
            errors.add("phone_number", Msg::PhoneTaken);
        }
    }
    if let Some((name, server)) = name_on_server {
        match instances::name_owner(conn, name, server, except_id)? {
            Some(owner) if owner != tenant_id => {
                return Err(Stop::Answer(Refusal::NameOwnedElsewhere(name.to_string())))
            }
            Some(_) => errors.add("instance_name", Msg::InstanceNameTaken),
            None => {}
        }
    }
    Ok(())
}

fn refuse_unless_empty(errors: FieldErrors) -> Result<(), Stop<Refusal>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Stop::Answer(Refusal::Invalid(errors)))
    }
}

/// A write that lost a race to a concurrent one with the same phone number or name is
/// refused as if it had seen it first.
fn lost_race(error: diesel::result::Error) -> Stop<Refusal> {
    let (field, msg) = match unique_violation(&error) {
        Some(UniqueViolation::Phone) => ("phone_number", Msg::PhoneTaken),
        Some(UniqueViolation::InstanceName) => ("instance_name", Msg::InstanceNameTaken),
        _ => return Stop::Failed(error.into()),
    };
    let mut errors = FieldErrors::default();
    errors.add(field, msg);
    Stop::Answer(Refusal::Invalid(errors))
}

/// Why a write transaction ends without committing: an answer that must leave nothing
/// written (a server created for the instance's URL included), or a failure.
enum Stop<O> {
    Answer(O),
    Failed(ApiError),
}

impl<O> Stop<O> {
    fn map<P>(self, answer: impl FnOnce(O) -> P) -> Stop<P> {
        match self {
            Stop::Answer(outcome) => Stop::Answer(answer(outcome)),
            Stop::Failed(error) => Stop::Failed(error),
        }
    }
}

impl<O> From<diesel::result::Error> for Stop<O> {
    fn from(error: diesel::result::Error) -> Self {
        Stop::Failed(error.into())
    }
}

impl From<Stop<Refusal>> for Stop<CreateOutcome> {
    fn from(stop: Stop<Refusal>) -> Self {
        stop.map(CreateOutcome::Refused)
    }
}

impl From<Stop<Refusal>> for Stop<UpdateOutcome> {
    fn from(stop: Stop<Refusal>) -> Self {
        stop.map(UpdateOutcome::Refused)
    }
}

/// Runs `work` in one write transaction: what it answers with `Ok` is committed, what it
/// stops with is rolled back.
fn answered<O>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<O, Stop<O>>,
) -> Result<O, ApiError> {
    match write_transaction_once(conn, work) {
        Ok(outcome) | Err(Stop::Answer(outcome)) => Ok(outcome),
        Err(Stop::Failed(error)) => Err(error),
    }
}
