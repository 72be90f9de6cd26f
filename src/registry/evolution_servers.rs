//! Adding, changing and deleting Evolution API servers. A server's base URL is unique:
//! a write that asks for one another server has answers `BaseUrlTaken`, whether it saw
//! the other server first or lost the race for the URL to it.

use diesel::QueryResult;
use serde_json::Value;

use crate::audit::{Action, Auditor};
use crate::db::evolution_servers::{self, EvolutionServer, NewEvolutionServer, ServerChanges};
use crate::db::{
    unique_violation, write_transaction, write_transaction_once, DbConnection, UniqueViolation,
};
use crate::error::{ApiError, FieldErrors};
use crate::i18n::Msg;
use crate::state::AppState;

/// A new server's columns, every field parsed; `is_active` and `is_default` not sent are
/// `None` and take their defaults here.
pub struct ValidNewServer {
    pub name: String,
    pub base_url: String,
    pub api_key_encrypted: Option<String>,
    pub is_active: Option<bool>,
    pub is_default: Option<bool>,
}

/// A body refused at the edge: its problems, and the base URL it asked for if that URL
/// was well formed (a URL also taken is reported with the rest).
pub struct RefusedServer {
    pub errors: FieldErrors,
    pub base_url: Option<String>,
}

/// A server with how many instances live on it: how the API and the audit log show one.
pub struct CountedServer {
    pub server: EvolutionServer,
    pub instances_count: i64,
}

pub enum CreateOutcome {
    Created(CountedServer),
    BaseUrlTaken,
}

pub enum UpdateOutcome {
    Updated(CountedServer),
    BaseUrlTaken,
    NotFound,
}

pub enum DeleteOutcome {
    /// Deleted, or gone already (another request deleted it meanwhile).
    Deleted,
    /// Kept: this many instances still live on it.
    HasInstances(i64),
}

/// How the audit log keeps a server (its public form: never its key).
pub type Snapshot = fn(&CountedServer) -> QueryResult<Value>;

/// `server` with how many instances live on it.
pub fn counted(conn: &mut DbConnection, server: EvolutionServer) -> QueryResult<CountedServer> {
    let instances_count = evolution_servers::instance_counts(conn, &[server.id])?
        .first()
        .map_or(0, |(_, count)| *count);
    Ok(CountedServer {
        server,
        instances_count,
    })
}

/// The problems of a refused body, with `base_url` taken among them when another server
/// than `except` has it.
pub async fn refusal(
    state: &AppState,
    refused: RefusedServer,
    except: Option<i64>,
) -> Result<FieldErrors, ApiError> {
    let RefusedServer {
        mut errors,
        base_url,
    } = refused;
    let Some(base_url) = base_url else {
        return Ok(errors);
    };
    let taken = state
        .db(move |conn| Ok(base_url_taken(conn, &base_url, except)?))
        .await?;
    if taken {
        errors.add("base_url", Msg::BaseUrlTaken);
    }
    Ok(errors)
}

/// Adds `new` with its audit row. Without `is_default` it becomes the default when there
/// is none yet.
pub async fn create(
    state: &AppState,
    auditor: Auditor,
    new: ValidNewServer,
    snapshot: Snapshot,
) -> Result<CreateOutcome, ApiError> {
    let now = state.clock.now().naive_utc();
    state
        .write(move |conn| {
            let created = write_transaction_once(conn, |conn| {
                if base_url_taken(conn, &new.base_url, None)? {
                    return Ok(None);
                }
                let is_default = match new.is_default {
                    Some(is_default) => is_default,
                    None => evolution_servers::default_server(conn)?.is_none(),
                };
                let row = NewEvolutionServer {
                    name: new.name,
                    base_url: new.base_url,
                    api_key_encrypted: new.api_key_encrypted,
                    is_active: new.is_active.unwrap_or(true),
                    is_default,
                    created_at: now,
                    updated_at: now,
                };
                write_transaction(conn, |conn| {
                    let server = evolution_servers::insert(conn, &row)?;
                    let server = counted(conn, server)?;
                    let after = snapshot(&server)?;
                    auditor.record(
                        conn,
                        Action::EvolutionServerCreated,
                        server.server.id,
                        None,
                        None,
                        Some(after),
                    )?;
                    Ok(Some(server))
                })
            });
            match created {
                Ok(Some(server)) => Ok(CreateOutcome::Created(server)),
                Ok(None) => Ok(CreateOutcome::BaseUrlTaken),
                Err(error) => base_url_race(error).map(|()| CreateOutcome::BaseUrlTaken),
            }
        })
        .await
}

/// Changes server `id` with its audit row.
pub async fn update(
    state: &AppState,
    auditor: Auditor,
    id: i64,
    mut changes: ServerChanges,
    snapshot: Snapshot,
) -> Result<UpdateOutcome, ApiError> {
    changes.updated_at = Some(state.clock.now().naive_utc());
    state
        .write(move |conn| {
            let updated = write_transaction_once(conn, |conn| {
                if let Some(base_url) = &changes.base_url {
                    if base_url_taken(conn, base_url, Some(id))? {
                        return Ok(UpdateOutcome::BaseUrlTaken);
                    }
                }
                write_transaction(conn, |conn| {
                    let Some(before) = evolution_servers::find_for_update(conn, id)? else {
                        return Ok(UpdateOutcome::NotFound);
                    };
                    let before = snapshot(&counted(conn, before)?)?;
                    let updated = evolution_servers::update(conn, id, &changes)?;
                    let updated = counted(conn, updated)?;
                    let after = snapshot(&updated)?;
                    auditor.record(
                        conn,
                        Action::EvolutionServerUpdated,
                        id,
                        None,
                        Some(before),
                        Some(after),
                    )?;
                    Ok(UpdateOutcome::Updated(updated))
                })
            });
            updated.or_else(|error| base_url_race(error).map(|()| UpdateOutcome::BaseUrlTaken))
        })
        .await
}

/// Deletes server `id` with its audit row, unless instances still live on it.
pub async fn delete(
    state: &AppState,
    auditor: Auditor,
    id: i64,
    snapshot: Snapshot,
) -> Result<DeleteOutcome, ApiError> {
    state
        .transaction(move |conn| {
            let Some(before) = evolution_servers::find_for_update(conn, id)? else {
                return Ok(DeleteOutcome::Deleted);
            };
            let before = snapshot(&counted(conn, before)?)?;
            if let Some(count) = evolution_servers::delete_unless_has_instances(conn, id)? {
                return Ok(DeleteOutcome::HasInstances(count));
            }
            auditor.record(
                conn,
                Action::EvolutionServerDeleted,
                id,
                None,
                Some(before),
                None,
            )?;
            Ok(DeleteOutcome::Deleted)
        })
        .await
}

/// Another server than `except` has `base_url`.
fn base_url_taken(
    conn: &mut DbConnection,
    base_url: &str,
    except: Option<i64>,
) -> QueryResult<bool> {
    let taken = evolution_servers::find_by_base_url(conn, base_url)?;
    Ok(taken.is_some_and(|server| Some(server.id) != except))
}

/// A write that lost a race for the base URL is `Ok(())` (the URL is taken); any other
/// failure (the default flag's included) is the error.
fn base_url_race(error: diesel::result::Error) -> Result<(), ApiError> {
    match unique_violation(&error) {
        Some(UniqueViolation::BaseUrl) => Ok(()),
        _ => Err(error.into()),
    }
}
