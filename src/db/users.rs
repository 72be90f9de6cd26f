use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::on_backend;

use super::schema::users;
use super::{DbConnection, Page};

/// What the database says when a change would leave no super admin (its triggers, from
/// migration `keep_a_super_admin`).
pub const LAST_SUPER_ADMIN: &str = "relevo_last_super_admin";

#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub tenant_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub token_version: i32,
}

/// What a user's token is checked against on every request.
#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = users)]
pub struct Standing {
    pub role: String,
    pub tenant_id: Option<i64>,
    pub token_version: i32,
}

/// What a super admin may change about a user. A new password hash, role or tenant
/// bumps `token_version`, which ends the user's tokens.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub tenant_id: Option<Option<i64>>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.password_hash.is_none() && self.role.is_none() && self.tenant_id.is_none()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub tenant_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user, locked until the transaction ends (PostgreSQL; SQLite's write
/// transaction already holds the database).
pub fn find_for_update(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
    let query = users::table.find(id);
    match conn {
        DbConnection::Postgres(pg) => query
            .select(User::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => query.select(User::as_select()).first(sqlite).optional(),
    }
}

pub fn find_standing(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Standing>> {
    users::table
        .find(id)
        .select(Standing::as_select())
        .first(conn)
        .optional()
}

/// Applies `changes` and ends the user's tokens; `None` when the user does not exist.
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    changes: &UserChanges,
    now: NaiveDateTime,
) -> QueryResult<Option<User>> {
    diesel::update(users::table.find(id))
        .set((
            changes,
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    find(conn, id)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewUser) -> QueryResult<User> {
    on_backend!(conn, |c| diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(c))
}

/// Deletes the user; answers it as it was, or `None` when there was none.
pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
    on_backend!(conn, |c| diesel::delete(users::table.find(id))
        .returning(User::as_returning())
        .get_result(c)
        .optional())
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn count_super_admins(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(crate::domain::Role::SuperAdmin.as_str()))
        .count()
        .get_result(conn)
}

pub fn list(conn: &mut DbConnection, page: Page) -> QueryResult<(Vec<User>, i64)> {
    let total = count(conn)?;
    let rows = users::table
        .select(User::as_select())
        .order(users::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// Inserts the first user unless one appeared meanwhile (another process starting at
/// the same time); answers whether this call created it.
pub fn create_first(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    role: crate::domain::Role,
) -> QueryResult<bool> {
    let now = chrono::Utc::now().naive_utc();
    let row = NewUser {
        email: email.to_string(),
        password_hash: password_hash.to_string(),
        role: role.as_str().to_string(),
        tenant_id: None,
        created_at: now,
        updated_at: now,
    };
    let inserted = crate::on_backend!(conn, |c| diesel::insert_into(users::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}
