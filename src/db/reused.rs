//! Statements of the claim path that run many times a second, written once as text and
//! prepared once per connection. diesel prepares `sql_query`, every `UPDATE` and every
//! upsert anew on each call; on SQLite that preparing was the largest part of a claim's
//! CPU. A [`Reused`] statement is keyed in diesel's statement cache by its text, which
//! is the same on every call.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error::QueryBuilderError;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Date, HasSqlType, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// A value bound to a `$n` mark.
pub enum Value {
    BigInt(i64),
    Integer(i32),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    Text(String),
    /// A text or NULL.
    OptionalText(Option<String>),
    /// A big integer or NULL.
    OptionalBigInt(Option<i64>),
}

/// SQL text whose `$1`, `$2`, … marks stand for `values[0]`, `values[1]`, …; each mark
/// becomes a bind of its own, so one text serves both backends (`$n` on PostgreSQL, `?`
/// on SQLite) and a value may be used more than once. Rows load by name
/// (`QueryableByName`).
pub struct Reused {
    sql: String,
    values: Vec<Value>,
    /// False for a text that will not come again: prepared, run and dropped rather than
    /// kept for the connection's life.
    cached: bool,
}

impl Reused {
    pub fn new(sql: impl Into<String>, values: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            values,
            cached: true,
        }
    }

    /// Prepared for this one call only (its text varies, e.g. with ids written in).
    pub fn once(mut self) -> Self {
        self.cached = false;
        self
    }
}

impl QueryId for Reused {
    type QueryId = ();
    // Not one Rust type per text: the statement cache keys it by its SQL.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Reused {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Reused {}

impl<DB> QueryFragment<DB> for Reused
where
    DB: Backend
        + HasSqlType<BigInt>
        + HasSqlType<Integer>
        + HasSqlType<Date>
        + HasSqlType<Timestamp>
        + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDate: ToSql<Date, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    String: ToSql<Text, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        let mut rest = self.sql.as_str();
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let value = rest[at + 1..at + 1 + digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| self.values.get(n.checked_sub(1)?))
                .ok_or_else(|| {
                    QueryBuilderError(format!("no value for a mark in: {}", self.sql).into())
                })?;
            match value {
                Value::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Value::Integer(v) => out.push_bind_param::<Integer, _>(v)?,
                Value::Date(v) => out.push_bind_param::<Date, _>(v)?,
                Value::Timestamp(v) => out.push_bind_param::<Timestamp, _>(v)?,
                Value::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Value::OptionalText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Value::OptionalBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}
