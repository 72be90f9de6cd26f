//! What Relevo knows of an instance's link to WhatsApp.

/// An instance's link to WhatsApp as Relevo last knew it: `unknown` (registered by hand,
/// never checked), `connecting` (waiting for a QR scan or reconnecting), `connected`,
/// `disconnected` (closed, logged out or banned) or `error` (Evolution no longer has it,
/// or provisioning failed half-way). Senders are given only `connected` instances, and
/// `unknown` ones (registered by hand, never checked: seed 001's registry).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Registered by hand and never checked against Evolution.
    Unknown,
    /// Waiting for a QR scan or reconnecting.
    Connecting,
    Connected,
    /// Closed, logged out or banned: it cannot send until paired again.
    Disconnected,
    /// Evolution no longer has it, or provisioning failed half-way.
    Error,
}

wire_names!(ConnectionStatus {
    Unknown => "unknown",
    Connecting => "connecting",
    Connected => "connected",
    Disconnected => "disconnected",
    Error => "error",
});

impl ConnectionStatus {
    /// The states in which an instance may be handed to a sender (SPEC §6, §7: a
    /// connection that is not open, even one reconnecting, sends nothing).
    pub const SENDABLE: [ConnectionStatus; 2] = [Self::Connected, Self::Unknown];

    /// Whether an instance in this state may be handed to a sender.
    pub fn may_send(self) -> bool {
        Self::SENDABLE.contains(&self)
    }

    /// [`SENDABLE`](Self::SENDABLE) as an SQL list: `('connected', 'unknown')`.
    pub fn sendable_sql() -> String {
        let names: Vec<String> = Self::SENDABLE
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        format!("({})", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_live_states_may_send() {
        for status in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(status.as_str()), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!(ConnectionStatus::parse("open").is_err());
        assert!(ConnectionStatus::Connected.may_send() && ConnectionStatus::Unknown.may_send());
        assert!(!ConnectionStatus::Disconnected.may_send() && !ConnectionStatus::Error.may_send());
    }
}
