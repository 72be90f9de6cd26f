//! `messages.update`: delivery receipts of messages the instance sent.
//!
//! The reference gives no `data` shape for `messages.update`; Evolution v2's Baileys
//! channel sends one object per update, `{"messageId", "keyId", "remoteJid", "fromMe",
//! "participant", "status": "DELIVERY_ACK", "instanceId"}` (status names of §2.12's
//! `renderStatus`). Read leniently: an array of them too, the id as `keyId` or `key.id`,
//! and the status as a name or Baileys' number, also under `update`.

use serde_json::Value;

/// One message's new status, as Evolution reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The message's WhatsApp id (`key.id`), as `sendText` answered it.
    pub message_id: String,
    pub status: ReceiptStatus,
}

/// How far a sent message got, by a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// `DELIVERY_ACK` (Baileys' 3): on the recipient's phone.
    Delivered,
    /// `READ` or `PLAYED` (Baileys' 4 and 5): seen.
    Read,
}

/// The receipts in a `messages.update` event's `data`; updates that are no receipt for
/// a message the instance sent (incoming messages, edits, deletions, server acks) are
/// left out.
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
        Value::String(name) => status_named(name)?,
        Value::Number(number) => match number.as_u64()? {
            3 => ReceiptStatus::Delivered,
            4 | 5 => ReceiptStatus::Read,
            _ => return None,
        },
        _ => return None,
    };
    Some(Receipt {
        message_id: message_id.to_string(),
        status,
    })
}

fn status_named(name: &str) -> Option<ReceiptStatus> {
    match name {
        "DELIVERY_ACK" => Some(ReceiptStatus::Delivered),
        "READ" | "PLAYED" => Some(ReceiptStatus::Read),
        _ => None,
    }
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
                status: ReceiptStatus::Delivered
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
        let ids: Vec<(String, ReceiptStatus)> = parse(&batch)
            .into_iter()
            .map(|receipt| (receipt.message_id, receipt.status))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("A".into(), ReceiptStatus::Read),
                ("B".into(), ReceiptStatus::Read)
            ]
        );
        assert!(parse(&Value::Null).is_empty());
    }
}
