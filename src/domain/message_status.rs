//! Where a message sent through Relevo stands.

/// Where a message stands.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Relevo is calling Evolution API for it right now (or the process died while it
    /// was).
    Sending,
    /// Evolution API took it (it has `evolution_message_id`); counted once.
    Sent,
    /// WhatsApp delivered it to the recipient's phone.
    Delivered,
    /// The recipient read it (or played it).
    Read,
    /// It was not sent: every instance tried failed, or the number is not on WhatsApp.
    /// Nothing stays counted for it.
    Failed,
    /// The send timed out: it may have gone out, so it stays counted and is never sent
    /// again.
    Unknown,
}

wire_names!(MessageStatus {
    Sending => "sending",
    Sent => "sent",
    Delivered => "delivered",
    Read => "read",
    Failed => "failed",
    Unknown => "unknown",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Msg;

    #[test]
    fn names_round_trip_as_text_and_as_json() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(
            MessageStatus::parse("queued"),
            Err(Msg::OneOf(MessageStatus::NAMES))
        );
    }
}
