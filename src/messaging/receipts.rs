//! Delivery receipts: Evolution's `messages.update` events (read in
//! [`crate::evolution::webhook`]) for messages sent through Relevo move them `sent` →
//! `delivered` → `read`, and each move is a `message.status_changed` event to the tenant.
//!
//! A receipt can arrive in the very moment Relevo records Evolution's answer to the send,
//! before the message has its WhatsApp id: it is kept, and applied when the message is
//! recorded ([`apply_kept`]) or by the scheduler's sweep ([`apply_all_kept`]).

use chrono::NaiveDateTime;

use crate::db::instances::Instance;
use crate::db::messages::{self, Message};
use crate::db::DbConnection;
use crate::domain::MessageStatus;
use crate::events::{self, EventType};
use crate::evolution::webhook::{Receipt, ReceiptStatus};

/// Relevo's status for a message a receipt reports.
fn status_of(receipt: &Receipt) -> MessageStatus {
    match receipt.status {
        ReceiptStatus::Delivered => MessageStatus::Delivered,
        ReceiptStatus::Read => MessageStatus::Read,
    }
}

/// How far along a status is; a receipt never moves a message back. Only a message
/// that went out has one.
fn rank(status: MessageStatus) -> Option<u8> {
    match status {
        MessageStatus::Sent => Some(1),
        MessageStatus::Delivered => Some(2),
        MessageStatus::Read => Some(3),
        MessageStatus::Sending | MessageStatus::Failed | MessageStatus::Unknown => None,
    }
}

/// Applies the receipts of `instance`'s messages in the webhook's transaction. A receipt
/// for a message not recorded with that WhatsApp id (yet: the receipt may come in the
/// very moment Relevo records Evolution's answer) is kept for [`apply_kept`]. Answers
/// `None` when none of them is a recorded message, else whether any message changed.
pub fn apply(
    conn: &mut DbConnection,
    instance: &Instance,
    receipts: &[Receipt],
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<bool>> {
    let mut found = false;
    let mut changed = false;
    for receipt in receipts {
        match messages::find_sent_for_update(conn, instance.id, &receipt.message_id)? {
            Some(message) => {
                found = true;
                changed |= advance(conn, &message, status_of(receipt), now)?;
            }
            None => {
                messages::keep_receipt(
                    conn,
                    instance.id,
                    &receipt.message_id,
                    status_of(receipt),
                    now,
                )?;
            }
        }
    }
    Ok(found.then_some(changed))
}

/// Moves `message` on to `status`, with its `message.status_changed` event, when that is
/// further along than where it is.
fn advance(
    conn: &mut DbConnection,
    message: &Message,
    status: MessageStatus,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let moves_on = match (rank(message.status), rank(status)) {
        (Some(current), Some(new)) => new > current,
        _ => false,
    };
    if moves_on {
        messages::set_status(conn, message.id, status, now)?;
        status_changed(conn, message, status, now)?;
    }
    Ok(moves_on)
}

/// Applies the receipts kept for `message` (just recorded as sent), step by step, in the
/// caller's transaction; answers the message as it then stands.
pub fn apply_kept(
    conn: &mut DbConnection,
    mut message: Message,
    now: NaiveDateTime,
) -> diesel::QueryResult<Message> {
    let Some(whatsapp_id) = message.evolution_message_id.clone() else {
        return Ok(message);
    };
    let mut statuses = messages::take_receipts(conn, message.instance_id, &whatsapp_id)?;
    statuses.sort_by_key(|status| rank(*status));
    for status in statuses {
        if advance(conn, &message, status, now)? {
            message.status = status;
            message.updated_at = now;
        }
    }
    Ok(message)
}

/// The scheduler's sweep: applies every kept receipt whose message has been recorded
/// since (a receipt and its message recorded in the same instant on PostgreSQL can miss
/// each other), each in a transaction of its own, and drops receipts kept for a day.
pub fn apply_all_kept(conn: &mut DbConnection, now: NaiveDateTime) -> diesel::QueryResult<usize> {
    let mut applied = 0;
    for (instance_id, whatsapp_id) in messages::receipts_with_a_message(conn)? {
        applied +=
            crate::db::write_transaction(conn, |conn| {
                match messages::find_sent_for_update(conn, instance_id, &whatsapp_id)? {
                    Some(message) => apply_kept(conn, message, now).map(|_| 1),
                    None => Ok(0),
                }
            })?;
    }
    messages::drop_receipts(conn, now - chrono::Duration::days(1))?;
    Ok(applied)
}

fn status_changed(
    conn: &mut DbConnection,
    message: &Message,
    status: MessageStatus,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let data = events::message_status_changed_data(message, status, now);
    let key = format!("message.status_changed:{}:{status}", message.public_id);
    events::record(
        conn,
        message.tenant_id,
        EventType::MessageStatusChanged,
        data,
        Some(&key),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank(MessageStatus::Read) > rank(MessageStatus::Delivered));
        assert!(rank(MessageStatus::Delivered) > rank(MessageStatus::Sent));
        assert_eq!(rank(MessageStatus::Sending), None);
        assert_eq!(rank(MessageStatus::Failed), None);
        assert_eq!(rank(MessageStatus::Unknown), None);
    }
}
