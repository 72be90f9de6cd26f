//! Where an outbound event to a tenant stands in its delivery.

use crate::i18n::Msg;

/// Where an event stands.
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
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its first attempt or for a retry.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// No more attempts: the receiver answered 410 Gone, or every attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Delivered, Self::Failed];
    /// `pending`, `delivered`, `failed`: also the values of the delivery log's `status`
    /// filter.
    pub const NAMES: &'static [&'static str] = &["pending", "delivered", "failed"];
    /// Done with: no attempt is due. Only these are ever pruned.
    pub const SETTLED: [DeliveryStatus; 2] = [Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(raw: &str) -> Result<Self, Msg> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or(Msg::OneOf(Self::NAMES))
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_text_and_as_json() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(
            DeliveryStatus::parse("sent"),
            Err(Msg::OneOf(DeliveryStatus::NAMES))
        );
    }
}
