use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::on_backend;

use super::schema::{sender_tokens, tenants, users, whatsapp_instances};
use super::{write_transaction, DbConnection, Page};

#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: i64,
    pub slug: String,
    pub nombre: String,
    pub tipo_cargo: Option<String>,
    pub identificacion: Option<String>,
    pub timezone: String,
    pub rotation_strategy: String,
    pub callback_url: Option<String>,
    pub callback_secret_encrypted: Option<String>,
    pub currency: String,
    pub whatsapp_credits: i64,
    /// Millionths of `currency` per WhatsApp message (see `domain::UnitPrice`).
    pub whatsapp_unit_price_micros: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant {
    pub slug: String,
    pub nombre: String,
    pub tipo_cargo: Option<String>,
    pub identificacion: Option<String>,
    pub timezone: String,
    pub rotation_strategy: String,
    pub callback_url: Option<String>,
    pub callback_secret_encrypted: Option<String>,
    pub currency: String,
    pub whatsapp_credits: i64,
    /// Millionths of `currency` per WhatsApp message (see `domain::UnitPrice`).
    pub whatsapp_unit_price_micros: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial update: `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(AsChangeset, Default)]
#[diesel(table_name = tenants)]
pub struct TenantChanges {
    pub slug: Option<String>,
    pub nombre: Option<String>,
    pub tipo_cargo: Option<Option<String>>,
    pub identificacion: Option<Option<String>>,
    pub timezone: Option<String>,
    pub rotation_strategy: Option<String>,
    pub callback_url: Option<Option<String>>,
    pub callback_secret_encrypted: Option<Option<String>>,
    pub currency: Option<String>,
    pub whatsapp_credits: Option<i64>,
    pub whatsapp_unit_price_micros: Option<i64>,
    pub updated_at: Option<NaiveDateTime>,
}

/// How a path names a tenant: its numeric id or its slug.
pub enum TenantKey<'a> {
    Id(i64),
    Slug(&'a str),
}

impl<'a> TenantKey<'a> {
    pub fn parse(raw: &'a str) -> Self {
        match raw.parse() {
            Ok(id) => TenantKey::Id(id),
            Err(_) => TenantKey::Slug(raw),
        }
    }

    pub fn names(&self, tenant: &Tenant) -> bool {
        match self {
            TenantKey::Id(id) => tenant.id == *id,
            TenantKey::Slug(slug) => tenant.slug == *slug,
        }
    }
}

pub fn find(conn: &mut DbConnection, key: &TenantKey) -> QueryResult<Option<Tenant>> {
    let query = tenants::table.select(Tenant::as_select());
    match key {
        TenantKey::Id(id) => query.filter(tenants::id.eq(id)).first(conn).optional(),
        TenantKey::Slug(slug) => query.filter(tenants::slug.eq(slug)).first(conn).optional(),
    }
}

/// The tenant by id, locked until the transaction ends: a change reads exactly what it
/// replaces (a SQLite write transaction holds the lock already).
pub fn find_for_update(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Tenant>> {
    let query = tenants::table.find(id);
    match conn {
        DbConnection::Postgres(pg) => query
            .select(Tenant::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => query.select(Tenant::as_select()).first(sqlite).optional(),
    }
}

pub fn slug_exists(
    conn: &mut DbConnection,
    slug: &str,
    except_id: Option<i64>,
) -> QueryResult<bool> {
    let mut query = tenants::table
        .filter(tenants::slug.eq(slug))
        .select(tenants::id)
        .into_boxed();
    if let Some(id) = except_id {
        query = query.filter(tenants::id.ne(id));
    }
    Ok(query.first::<i64>(conn).optional()?.is_some())
}

pub fn insert(conn: &mut DbConnection, new: &NewTenant) -> QueryResult<Tenant> {
    on_backend!(conn, |c| diesel::insert_into(tenants::table)
        .values(new)
        .returning(Tenant::as_returning())
        .get_result(c))
}

pub fn update(conn: &mut DbConnection, id: i64, changes: &TenantChanges) -> QueryResult<Tenant> {
    on_backend!(conn, |c| diesel::update(tenants::table.find(id))
        .set(changes)
        .returning(Tenant::as_returning())
        .get_result(c))
}

/// Deletes the tenant (its instances and users go with it) unless it still has
/// instances and `force` is false; then answers how many it has and deletes nothing.
pub fn delete_unless_has_instances(
    conn: &mut DbConnection,
    id: i64,
    force: bool,
) -> QueryResult<Option<i64>> {
    write_transaction(conn, |conn| {
        let instances = instance_count(conn, id)?;
        if instances > 0 && !force {
            return Ok(Some(instances));
        }
        diesel::delete(tenants::table.find(id)).execute(conn)?;
        Ok(None)
    })
}

pub fn list(conn: &mut DbConnection, page: Page) -> QueryResult<(Vec<Tenant>, i64)> {
    let total = tenants::table.count().get_result(conn)?;
    let rows = tenants::table
        .select(Tenant::as_select())
        .order(tenants::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// What deleting a tenant takes with it.
pub struct Dependents {
    /// `(id, instance_name, phone_number)` of each instance.
    pub instances: Vec<(i64, String, String)>,
    pub users: i64,
    pub sender_tokens: i64,
}

pub fn dependents(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<Dependents> {
    let instances = whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .order(whatsapp_instances::id.asc())
        .select((
            whatsapp_instances::id,
            whatsapp_instances::instance_name,
            whatsapp_instances::phone_number,
        ))
        .load(conn)?;
    let users = users::table
        .filter(users::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?;
    let sender_tokens = sender_tokens::table
        .filter(sender_tokens::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?;
    Ok(Dependents {
        instances,
        users,
        sender_tokens,
    })
}

pub fn instance_count(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<i64> {
    whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)
}
