//! Delivery receipts: Evolution's `messages.update` events for messages sent through
//! Relevo move them `sent` → `delivered` → `read`, and each move is a
//! `message.status_changed` event to the tenant.
//!
//! The reference gives no `data` shape for `messages.update`; Evolution v2's Baileys
//! channel sends one object per update, `{"messageId", "keyId", "remoteJid", "fromMe",
//! "participant", "status": "DELIVERY_ACK", "instanceId"}` (status names of §2.12's
//! `renderStatus`). Read leniently: an array of them too, the id as `keyId` or `key.id`,
//! and the status as a name or Baileys' number, also under `update`.
//!
//! A receipt can arrive in the very moment Relevo records Evolution's answer to the send,
//! before the message has its WhatsApp id: it is kept, and applied when the message is
//! recorded ([`apply_kept`]) or by the scheduler's sweep ([`apply_all_kept`]).

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::db::instances::Instance;
use crate::db::messages::{self, Message};
use crate::db::DbConnection;
use crate::events::{self, EventType};

/// One message's new status, as Evolution reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The message's WhatsApp id (`key.id`), as `sendText` answered it.
    pub message_id: String,
    /// `delivered` or `read` (Relevo's names).
    pub status: &'static str,
}

/// The receipts in a `messages.update` event's `data`; updates that are no receipt for
/// a message Relevo sent (incoming messages, edits, deletions, server acks) are left out.
pub fn parse(data: &Value) -> Vec<Receipt> {
    match data {
        Value::Array(updates) => updates.iter().filter_map(receipt).collect(),
        update => receipt(update).into_iter().collect(),
    }
}

fn receipt(update: &Value) -> Option<Receipt> {
    let key = update.get("key");
    let from_me = update
        .get("fromMe")
        .or_else(|| key.and_then(|key| key.get("fromMe")))
        .and_then(Value::as_bool);
    if from_me == Some(false) {
        return None;
    }
    let message_id = update
        .get("keyId")
        .or_else(|| key.and_then(|key| key.get("id")))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())?;
    let status = update
        .get("status")
        .or_else(|| update.get("update").and_then(|inner| inner.get("status")))?;
    let status = match status {
        Value::String(name) => relevo_status(name)?,
        Value::Number(number) => match number.as_u64()? {
            3 => messages::DELIVERED,
            4 | 5 => messages::READ,
            _ => return None,
        },
        _ => return None,
    };
    Some(Receipt {
        message_id: message_id.to_string(),
        status,
    })
}

fn relevo_status(name: &str) -> Option<&'static str> {
    match name {
        "DELIVERY_ACK" => Some(messages::DELIVERED),
        "READ" | "PLAYED" => Some(messages::READ),
        _ => None,
    }
}

/// How far along a status is; a receipt never moves a message back.
fn rank(status: &str) -> Option<u8> {
    match status {
        messages::SENT => Some(1),
        messages::DELIVERED => Some(2),
        messages::READ => Some(3),
        _ => None,
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
                changed |= advance(conn, &message, receipt.status, now)?;
            }
            None => {
                messages::keep_receipt(
                    conn,
                    instance.id,
                    &receipt.message_id,
                    receipt.status,
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
    status: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let moves_on = match (rank(&message.status), rank(status)) {
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
    statuses.sort_by_key(|status| rank(status));
    for status in statuses {
        if advance(conn, &message, &status, now)? {
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
    status: &str,
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
    use serde_json::json;

    #[test]
    fn evolution_updates_become_receipts() {
        let delivered = json!({
            "messageId": "cm3xyz", "keyId": "3EB0A1", "remoteJid": "573001112233@s.whatsapp.net",
            "fromMe": true, "participant": null, "status": "DELIVERY_ACK", "instanceId": "uuid",
        });
        assert_eq!(
            parse(&delivered),
            vec![Receipt {
                message_id: "3EB0A1".into(),
                status: messages::DELIVERED
            }]
        );
        let batch = json!([
            {"key": {"id": "A", "fromMe": true}, "update": {"status": 4}},
            {"keyId": "B", "fromMe": true, "status": "PLAYED"},
            {"keyId": "C", "fromMe": true, "status": "SERVER_ACK"},
            {"keyId": "D", "fromMe": false, "status": "READ"},
            {"keyId": "", "fromMe": true, "status": "READ"},
            {"fromMe": true, "status": "READ"},
        ]);
        let ids: Vec<(String, &str)> = parse(&batch)
            .into_iter()
            .map(|receipt| (receipt.message_id, receipt.status))
            .collect();
        assert_eq!(
            ids,
            vec![("A".into(), messages::READ), ("B".into(), messages::READ)]
        );
        assert!(parse(&Value::Null).is_empty());
    }

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank(messages::READ) > rank(messages::DELIVERED));
        assert!(rank(messages::DELIVERED) > rank(messages::SENT));
        assert_eq!(rank(messages::FAILED), None);
        assert_eq!(rank(messages::UNKNOWN), None);
    }
}
