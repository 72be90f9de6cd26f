//! Where an outbound event to a tenant stands in its delivery.

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

wire_names!(DeliveryStatus {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

impl DeliveryStatus {
    /// Done with: no attempt is due. Only these are ever pruned.
    pub const SETTLED: [DeliveryStatus; 2] = [Self::Delivered, Self::Failed];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Msg;

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
