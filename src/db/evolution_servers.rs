//! Evolution API servers (seed 004's integration credentials): at most one default,
//! enforced by a partial unique index; each instance records the server it lives on.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::on_backend;

use super::schema::{evolution_servers, whatsapp_instances};
use super::{write_transaction, DbConnection, Page};

#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = evolution_servers)]
pub struct EvolutionServer {
    pub id: i64,
    pub name: String,
    pub base_url: String,
    /// The server's global key; `None` for a server known only from a registered
    /// instance's URL, which Relevo then calls with that instance's own key.
    pub api_key_encrypted: Option<String>,
    /// The secret in the inbound webhook URL Relevo gives this server.
    pub webhook_token_encrypted: Option<String>,
    /// SHA-256 (hex) of the webhook token, to find the server of an inbound webhook.
    pub webhook_token_digest: Option<String>,
    pub is_active: bool,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = evolution_servers)]
pub struct NewEvolutionServer {
    pub name: String,
    pub base_url: String,
    pub api_key_encrypted: Option<String>,
    pub is_active: bool,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial update: `None` leaves a column alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = evolution_servers)]
pub struct ServerChanges {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub api_key_encrypted: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub is_default: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<EvolutionServer>> {
    evolution_servers::table
        .find(id)
        .select(EvolutionServer::as_select())
        .first(conn)
        .optional()
}

/// The base URL of the server `id`, if there is one.
pub fn base_url_of(conn: &mut DbConnection, id: Option<i64>) -> QueryResult<Option<String>> {
    match id {
        Some(id) => Ok(find(conn, id)?.map(|server| server.base_url)),
        None => Ok(None),
    }
}

/// The base URL of the server of an instance registered without a URL of its own
/// (`null`: the default server); `None` when the instance has its own URL or no server.
pub fn default_base_url_of(
    conn: &mut DbConnection,
    instance: &super::instances::Instance,
) -> QueryResult<Option<String>> {
    base_url_of(conn, instance.default_server_id())
}

/// The base URLs of the servers with these ids, by id (one query for a batch of claims).
pub fn base_urls(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, String>> {
    let found: Vec<(i64, String)> = evolution_servers::table
        .filter(evolution_servers::id.eq_any(ids))
        .select((evolution_servers::id, evolution_servers::base_url))
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// The server, locked until the transaction ends: a change reads exactly what it
/// replaces (a SQLite write transaction holds the lock already).
pub fn find_for_update(conn: &mut DbConnection, id: i64) -> QueryResult<Option<EvolutionServer>> {
    let query = evolution_servers::table.find(id);
    match conn {
        DbConnection::Postgres(pg) => query
            .select(EvolutionServer::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => query
            .select(EvolutionServer::as_select())
            .first(sqlite)
            .optional(),
    }
}

pub fn find_by_base_url(
    conn: &mut DbConnection,
    base_url: &str,
) -> QueryResult<Option<EvolutionServer>> {
    evolution_servers::table
        .filter(evolution_servers::base_url.eq(base_url))
        .select(EvolutionServer::as_select())
        .first(conn)
        .optional()
}

pub fn default_server(conn: &mut DbConnection) -> QueryResult<Option<EvolutionServer>> {
    evolution_servers::table
        .filter(evolution_servers::is_default.eq(true))
        .select(EvolutionServer::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConnection, page: Page) -> QueryResult<(Vec<EvolutionServer>, i64)> {
    let total = evolution_servers::table.count().get_result(conn)?;
    let rows = evolution_servers::table
        .select(EvolutionServer::as_select())
        .order(evolution_servers::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// How many instances live on each of `ids`.
pub fn instance_counts(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    let rows: Vec<(Option<i64>, i64)> = whatsapp_instances::table
        .filter(whatsapp_instances::evolution_server_id.eq_any(ids))
        .group_by(whatsapp_instances::evolution_server_id)
        .select((
            whatsapp_instances::evolution_server_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, count)| Some((id?, count)))
        .collect())
}

/// Inserts a server. A new default takes the flag from the previous one and adopts the
/// instances registered while there was none, all in one transaction.
pub fn insert(conn: &mut DbConnection, new: &NewEvolutionServer) -> QueryResult<EvolutionServer> {
    write_transaction(conn, |conn| {
        if new.is_default {
            clear_default(conn)?;
        }
        let server = on_backend!(conn, |c| diesel::insert_into(evolution_servers::table)
            .values(new)
            .returning(EvolutionServer::as_returning())
            .get_result(c))?;
        if server.is_default {
            adopt_unassigned_instances(conn, server.id)?;
        }
        Ok(server)
    })
}

/// Updates a server as [`insert`] does for the default flag. A new `base_url` moves the
/// URL of the instances that were registered with the old one.
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    changes: &ServerChanges,
) -> QueryResult<EvolutionServer> {
    write_transaction(conn, |conn| {
        if changes.is_default == Some(true) {
            clear_default(conn)?;
        }
        let server = on_backend!(conn, |c| diesel::update(evolution_servers::table.find(id))
            .set(changes)
            .returning(EvolutionServer::as_returning())
            .get_result(c))?;
        if let Some(base_url) = &changes.base_url {
            diesel::update(
                whatsapp_instances::table
                    .filter(whatsapp_instances::evolution_server_id.eq(id))
                    .filter(whatsapp_instances::evolution_api_url.is_not_null()),
            )
            .set(whatsapp_instances::evolution_api_url.eq(base_url))
            .execute(conn)?;
        }
        if server.is_default {
            adopt_unassigned_instances(conn, server.id)?;
        }
        Ok(server)
    })
}

fn clear_default(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::update(evolution_servers::table.filter(evolution_servers::is_default.eq(true)))
        .set(evolution_servers::is_default.eq(false))
        .execute(conn)
}

/// Deletes the server unless instances still live on it; then answers how many.
pub fn delete_unless_has_instances(conn: &mut DbConnection, id: i64) -> QueryResult<Option<i64>> {
    write_transaction(conn, |conn| {
        let instances: i64 = whatsapp_instances::table
            .filter(whatsapp_instances::evolution_server_id.eq(id))
            .count()
            .get_result(conn)?;
        if instances > 0 {
            return Ok(Some(instances));
        }
        diesel::delete(evolution_servers::table.find(id)).execute(conn)?;
        Ok(None)
    })
}

/// The server an instance registered with `evolution_api_url` lives on: the server with
/// that base URL, created (without a key) when Relevo does not know it yet; or, for
/// `None`, the default server, if there is one.
pub fn server_for_url(
    conn: &mut DbConnection,
    evolution_api_url: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let Some(url) = evolution_api_url else {
        return Ok(default_server(conn)?.map(|server| server.id));
    };
    if let Some(server) = find_by_base_url(conn, url)? {
        return Ok(Some(server.id));
    }
    Ok(Some(insert_if_missing(conn, url, None, now)?.id))
}

/// The server at `base_url`, inserted (active, not the default, named by its URL) when
/// missing; concurrent callers end up with the same row.
fn insert_if_missing(
    conn: &mut DbConnection,
    base_url: &str,
    api_key_encrypted: Option<String>,
    now: NaiveDateTime,
) -> QueryResult<EvolutionServer> {
    let new = NewEvolutionServer {
        name: base_url.to_string(),
        base_url: base_url.to_string(),
        api_key_encrypted,
        is_active: true,
        is_default: false,
        created_at: now,
        updated_at: now,
    };
    on_backend!(conn, |c| diesel::insert_into(evolution_servers::table)
        .values(&new)
        .on_conflict_do_nothing()
        .execute(c))?;
    find_by_base_url(conn, base_url)?.ok_or(diesel::result::Error::NotFound)
}

/// The server named by `EVOLUTION_API_BASE_URL`: created when missing (as the default
/// when there is none), its key set from `EVOLUTION_API_MASTER_KEY` at every start.
/// Several processes may run this at once.
pub fn bootstrap(
    conn: &mut DbConnection,
    base_url: &str,
    api_key_encrypted: Option<String>,
    now: NaiveDateTime,
) -> QueryResult<EvolutionServer> {
    let server = insert_if_missing(conn, base_url, api_key_encrypted.clone(), now)?;
    if api_key_encrypted.is_some() {
        diesel::update(evolution_servers::table.find(server.id))
            .set(evolution_servers::api_key_encrypted.eq(api_key_encrypted))
            .execute(conn)?;
    }
    if default_server(conn)?.is_none() {
        // Another process may win the race for the flag; the unique index keeps one.
        let made_default = diesel::update(evolution_servers::table.find(server.id))
            .set(evolution_servers::is_default.eq(true))
            .execute(conn);
        match made_default {
            Err(error) if super::is_unique_violation(&error) => {}
            other => {
                other?;
            }
        }
    }
    if let Some(default) = default_server(conn)? {
        adopt_unassigned_instances(conn, default.id)?;
    }
    find(conn, server.id)?.ok_or(diesel::result::Error::NotFound)
}

/// Instances registered for "the default server" while none existed move onto `server_id`,
/// except those whose name that server already has.
fn adopt_unassigned_instances(conn: &mut DbConnection, server_id: i64) -> QueryResult<usize> {
    let taken = diesel::alias!(whatsapp_instances as taken);
    diesel::update(
        whatsapp_instances::table
            .filter(whatsapp_instances::evolution_server_id.is_null())
            .filter(whatsapp_instances::evolution_api_url.is_null())
            .filter(diesel::dsl::not(diesel::dsl::exists(
                taken
                    .filter(
                        taken
                            .field(whatsapp_instances::evolution_server_id)
                            .eq(server_id),
                    )
                    .filter(
                        taken
                            .field(whatsapp_instances::instance_name)
                            .eq(whatsapp_instances::instance_name),
                    ),
            ))),
    )
    .set(whatsapp_instances::evolution_server_id.eq(server_id))
    .execute(conn)
}

/// Forgets the server's shared inbound webhook token (from before each instance had
/// its own): once every instance that used it has its own, it speaks for no one.
pub fn retire_webhook_token(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    diesel::update(evolution_servers::table.find(id))
        .set((
            evolution_servers::webhook_token_encrypted.eq(None::<String>),
            evolution_servers::webhook_token_digest.eq(None::<String>),
        ))
        .execute(conn)
}

/// The server whose webhook token has this SHA-256 digest.
pub fn find_by_webhook_digest(
    conn: &mut DbConnection,
    digest: &str,
) -> QueryResult<Option<EvolutionServer>> {
    evolution_servers::table
        .filter(evolution_servers::webhook_token_digest.eq(digest))
        .select(EvolutionServer::as_select())
        .first(conn)
        .optional()
}

/// Servers with a webhook token whose digest is not stored yet (tokens made before the
/// digest column, or by a process that does not store it).
pub fn without_webhook_digest(conn: &mut DbConnection) -> QueryResult<Vec<EvolutionServer>> {
    evolution_servers::table
        .filter(evolution_servers::webhook_token_encrypted.is_not_null())
        .filter(evolution_servers::webhook_token_digest.is_null())
        .select(EvolutionServer::as_select())
        .load(conn)
}

/// Stores the digest of the server's webhook token, unless one is stored already.
pub fn store_webhook_digest(conn: &mut DbConnection, id: i64, digest: &str) -> QueryResult<usize> {
    diesel::update(
        evolution_servers::table
            .find(id)
            .filter(evolution_servers::webhook_token_digest.is_null()),
    )
    .set(evolution_servers::webhook_token_digest.eq(digest))
    .execute(conn)
}
