//! How Relevo writes an instant on the wire, in answers and in the events it sends.

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

/// UTC with microseconds: `2025-11-17T06:30:00.000000Z`.
#[derive(Clone, Copy, Debug, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2025-11-17T06:30:00.000000Z")]
pub struct Timestamp(pub NaiveDateTime);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }
}

/// Reads what [`Timestamp`] writes (stored JSON, such as a message's attempts).
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.fZ")
            .map(Timestamp)
            .map_err(serde::de::Error::custom)
    }
}

impl From<NaiveDateTime> for Timestamp {
    fn from(value: NaiveDateTime) -> Self {
        Timestamp(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let t = chrono::NaiveDate::from_ymd_opt(2025, 11, 17)
            .unwrap()
            .and_hms_opt(6, 30, 0)
            .unwrap();
        assert_eq!(
            serde_json::to_string(&Timestamp(t)).unwrap(),
            "\"2025-11-17T06:30:00.000000Z\""
        );
    }
}
