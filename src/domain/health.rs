//! Why an instance cannot be handed to a sender right now (SPEC §6b, "Explain").

/// Why an instance is not eligible for a claim made now: the closed set the explain
/// endpoint lists per instance (`reasons`), in the order SPEC §6b names them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An admin switched it off (`is_active` is false).
    Inactive,
    /// Its link to WhatsApp is not one that may send (disconnected, error, connecting).
    NotConnected,
    /// Relevo provisioned it and its first QR code was never scanned.
    NeverPaired,
    /// Nothing left of today's (effective, warm-up aware) limit.
    QuotaExhausted,
    /// Still inside the gap its `min_interval_seconds` keeps after its last grant.
    Pacing,
    /// Set aside after a ban or repeated failures, until `quarantined_until` or an admin
    /// lifts it.
    Quarantined,
    /// The tenant's quiet hours hold: no instance of the tenant sends now.
    QuietHours,
}

wire_names!(Reason {
    Inactive => "inactive",
    NotConnected => "not_connected",
    NeverPaired => "never_paired",
    QuotaExhausted => "quota_exhausted",
    Pacing => "pacing",
    Quarantined => "quarantined",
    QuietHours => "quiet_hours",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Msg;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        assert_eq!(Reason::ALL.len(), Reason::NAMES.len());
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Ok(reason));
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
            assert_eq!(
                serde_json::from_value::<Reason>(serde_json::json!(reason.as_str())).unwrap(),
                reason
            );
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert_eq!(Reason::QuietHours.as_str(), "quiet_hours");
        assert_eq!(Reason::parse("banned"), Err(Msg::OneOf(Reason::NAMES)));
    }

    #[test]
    fn the_document_lists_the_same_names() {
        let schema = serde_json::to_value(<Reason as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(Reason::NAMES), "{schema}");
    }
}
