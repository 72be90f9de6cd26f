//! The message log (SPEC §6, "send through Relevo"): one row per message that got an
//! instance, the attempts it took, and its delivery status as Evolution reports it. The
//! text is not a column: it is never stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{message_receipts, messages};
use super::{DbConnection, Page};
use crate::domain::MessageStatus;
use crate::error_key::ErrorKey;
use crate::on_backend;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: i64,
    pub public_id: String,
    pub tenant_id: i64,
    pub recipient: String,
    pub status: MessageStatus,
    pub instance_id: i64,
    pub instance_name: String,
    pub instance_phone: String,
    pub claim_id: String,
    pub evolution_message_id: Option<String>,
    pub error_key: Option<ErrorKey>,
    /// A JSON array of attempts.
    pub attempts: String,
    pub strategy: String,
    pub idempotency_key: Option<String>,
    pub sender_token_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The super admin who sent it (through the tenant path), when no sender token did.
    pub sent_by_user_id: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub public_id: &'a str,
    pub tenant_id: i64,
    pub recipient: &'a str,
    pub status: MessageStatus,
    pub instance_id: i64,
    pub instance_name: &'a str,
    pub instance_phone: &'a str,
    pub claim_id: &'a str,
    pub attempts: &'a str,
    pub strategy: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub sender_token_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_by_user_id: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, new: &NewMessage) -> QueryResult<Message> {
    on_backend!(conn, |c| diesel::insert_into(messages::table)
        .values(new)
        .returning(Message::as_returning())
        .get_result(c))
}

/// The tenant's message with this idempotency key.
pub fn find_by_key(
    conn: &mut DbConnection,
    tenant_id: i64,
    key: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::tenant_id.eq(tenant_id))
        .filter(messages::idempotency_key.eq(key))
        .select(Message::as_select())
        .first(conn)
        .optional()
}

/// Frees an expired idempotency key; the message stays in the log.
pub fn forget_key(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    diesel::update(messages::table.find(id))
        .set(messages::idempotency_key.eq(None::<String>))
        .execute(conn)
}

/// The tenant's message with this public id.
pub fn find(
    conn: &mut DbConnection,
    tenant_id: i64,
    public_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::tenant_id.eq(tenant_id))
        .filter(messages::public_id.eq(public_id))
        .select(Message::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Message>> {
    messages::table
        .find(id)
        .select(Message::as_select())
        .first(conn)
        .optional()
}

/// Where a message stands after an attempt.
pub struct Progress<'a> {
    pub status: MessageStatus,
    pub instance: (i64, &'a str, &'a str),
    pub claim_id: &'a str,
    pub evolution_message_id: Option<&'a str>,
    pub error_key: Option<ErrorKey>,
    pub attempts: &'a str,
    pub now: NaiveDateTime,
}

/// Records `progress` on a message that is still being sent; `None` when it is not
/// (another process declared it `unknown` in between).
pub fn record_progress(
    conn: &mut DbConnection,
    id: i64,
    progress: &Progress,
) -> QueryResult<Option<Message>> {
    let (instance_id, instance_name, instance_phone) = progress.instance;
    let target = messages::table
        .filter(messages::id.eq(id))
        .filter(messages::status.eq(MessageStatus::Sending));
    on_backend!(conn, |c| diesel::update(target)
        .set((
            messages::status.eq(progress.status),
            messages::instance_id.eq(instance_id),
            messages::instance_name.eq(instance_name),
            messages::instance_phone.eq(instance_phone),
            messages::claim_id.eq(progress.claim_id),
            messages::evolution_message_id.eq(progress.evolution_message_id),
            messages::error_key.eq(progress.error_key),
            messages::attempts.eq(progress.attempts),
            messages::updated_at.eq(progress.now),
        ))
        .returning(Message::as_returning())
        .get_result(c)
        .optional())
}

/// Declares a message whose sending stopped making progress (its process died) as
/// `unknown`, if nobody recorded anything on it since `seen_at`.
pub fn give_up_on(
    conn: &mut DbConnection,
    id: i64,
    seen_at: NaiveDateTime,
    error_key: ErrorKey,
    now: NaiveDateTime,
) -> QueryResult<Option<Message>> {
    let target = messages::table
        .filter(messages::id.eq(id))
        .filter(messages::status.eq(MessageStatus::Sending))
        .filter(messages::updated_at.eq(seen_at));
    on_backend!(conn, |c| diesel::update(target)
        .set((
            messages::status.eq(MessageStatus::Unknown),
            messages::error_key.eq(error_key),
            messages::updated_at.eq(now),
        ))
        .returning(Message::as_returning())
        .get_result(c)
        .optional())
}

/// Declares every message still `sending` since before `before` as `unknown`: its
/// process died while sending it. Answers how many.
pub fn give_up_stale(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    error_key: ErrorKey,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        messages::table
            .filter(messages::status.eq(MessageStatus::Sending))
            .filter(messages::updated_at.lt(before)),
    )
    .set((
        messages::status.eq(MessageStatus::Unknown),
        messages::error_key.eq(error_key),
        messages::updated_at.eq(now),
    ))
    .execute(conn)
}

/// The message an instance sent with this WhatsApp id, locked for the rest of the
/// transaction on PostgreSQL (SQLite's transaction holds the write lock already).
pub fn find_sent_for_update(
    conn: &mut DbConnection,
    instance_id: i64,
    evolution_message_id: &str,
) -> QueryResult<Option<Message>> {
    let query = messages::table
        .filter(messages::instance_id.eq(instance_id))
        .filter(messages::evolution_message_id.eq(evolution_message_id));
    match conn {
        DbConnection::Postgres(pg) => query
            .select(Message::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => query.select(Message::as_select()).first(sqlite).optional(),
    }
}

pub fn set_status(
    conn: &mut DbConnection,
    id: i64,
    status: MessageStatus,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(messages::table.find(id))
        .set((messages::status.eq(status), messages::updated_at.eq(now)))
        .execute(conn)
}

/// Filters of the message log.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub instance_id: Option<i64>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// The tenant's messages, newest first.
pub fn list(
    conn: &mut DbConnection,
    tenant_id: i64,
    filter: &MessageFilter,
    page: Page,
) -> QueryResult<(Vec<Message>, i64)> {
    let query = || {
        let mut query = messages::table
            .filter(messages::tenant_id.eq(tenant_id))
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(messages::status.eq(status));
        }
        if let Some(instance_id) = filter.instance_id {
            query = query.filter(messages::instance_id.eq(instance_id));
        }
        if let Some(from) = filter.from {
            query = query.filter(messages::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(messages::created_at.le(to));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .select(Message::as_select())
        .order(messages::id.desc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// Keeps a receipt for a message not recorded (yet) with this WhatsApp id.
pub fn keep_receipt(
    conn: &mut DbConnection,
    instance_id: i64,
    evolution_message_id: &str,
    status: MessageStatus,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let row = (
        message_receipts::instance_id.eq(instance_id),
        message_receipts::evolution_message_id.eq(evolution_message_id),
        message_receipts::status.eq(status),
        message_receipts::received_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(message_receipts::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))
}

/// Whether receipts are kept for this message.
pub fn has_receipts(
    conn: &mut DbConnection,
    instance_id: i64,
    evolution_message_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        message_receipts::table
            .filter(message_receipts::instance_id.eq(instance_id))
            .filter(message_receipts::evolution_message_id.eq(evolution_message_id)),
    ))
    .get_result(conn)
}

/// The statuses of the receipts kept for a message, taking them out of the table.
pub fn take_receipts(
    conn: &mut DbConnection,
    instance_id: i64,
    evolution_message_id: &str,
) -> QueryResult<Vec<MessageStatus>> {
    let kept = message_receipts::table
        .filter(message_receipts::instance_id.eq(instance_id))
        .filter(message_receipts::evolution_message_id.eq(evolution_message_id));
    let statuses = kept.select(message_receipts::status).load(conn)?;
    if !statuses.is_empty() {
        diesel::delete(kept).execute(conn)?;
    }
    Ok(statuses)
}

/// The kept receipts whose message has been recorded since: `(instance_id,
/// evolution_message_id)` pairs.
pub fn receipts_with_a_message(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String)>> {
    message_receipts::table
        .inner_join(
            messages::table.on(messages::instance_id.eq(message_receipts::instance_id).and(
                messages::evolution_message_id
                    .eq(message_receipts::evolution_message_id.nullable()),
            )),
        )
        .select((
            message_receipts::instance_id,
            message_receipts::evolution_message_id,
        ))
        .distinct()
        .load(conn)
}

/// Drops the receipts kept since before `before` (of messages not sent through Relevo).
pub fn drop_receipts(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(message_receipts::table.filter(message_receipts::received_at.lt(before)))
        .execute(conn)
}
