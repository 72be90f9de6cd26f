//! A period of time in query strings (`from`, `to`): ISO 8601 instants or whole days.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use regex::Regex;

use crate::error::FieldErrors;
use crate::i18n::Msg;
use crate::routes::wire::given;

/// Which end of a period a date stands for.
#[derive(Clone, Copy)]
pub enum Bound {
    Start,
    End,
}

/// The instant `raw` names (see [`parse_instant`]); a bad one goes to `errors`.
pub fn instant(
    raw: &Option<String>,
    field: &str,
    bound: Bound,
    errors: &mut FieldErrors,
) -> Option<NaiveDateTime> {
    let parsed = parse_instant(given(raw)?, bound);
    if parsed.is_none() {
        errors.add(field, Msg::DateTime);
    }
    parsed
}

/// The period `from` and `to` name (see [`instant`]): a date stands for its first moment
/// in `from` and its last in `to`, and `to` must not be before `from`. Every bad one goes
/// to `errors`.
pub fn period(
    from: &Option<String>,
    to: &Option<String>,
    errors: &mut FieldErrors,
) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let from = instant(from, "from", Bound::Start, errors);
    let to = instant(to, "to", Bound::End, errors);
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            errors.add("to", Msg::AfterOrEqual("from"));
        }
    }
    (from, to)
}

/// What `from` and `to` take, as the document states it: a date of the proleptic
/// Gregorian calendar from 0001 to 9999 that exists, alone or with a time of day and
/// an optional offset.
pub const INSTANT_PATTERN: &str = r"^[ \t\n\r\f]*((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?[ \t\n\r\f]*$";

#[allow(
    clippy::expect_used,
    reason = "a constant pattern, compiled by the unit tests"
)]
static INSTANT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(INSTANT_PATTERN).expect("INSTANT_PATTERN is a valid regex"));

/// An ISO 8601 date and time (with an offset, or UTC without one) or a date, which
/// stands for its first or last moment in UTC, written as [`INSTANT_PATTERN`] says. A
/// moment its offset moves out of the years 1..=9999 (`0001-01-01T00:00:00+01:00`)
/// stands for the first or last moment of that range: no change was made before or
/// after it, and both databases compare such moments correctly.
pub fn parse_instant(raw: &str, bound: Bound) -> Option<NaiveDateTime> {
    if !INSTANT.is_match(raw) {
        return None;
    }
    // The pattern lets the only letters be the separator and `Z`: both in upper case
    // are what chrono's formats read.
    let raw = &raw.to_ascii_uppercase();
    let instant = if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        at.naive_utc()
    } else if let Some(at) = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
    {
        at
    } else {
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
        match bound {
            Bound::Start => date.and_hms_opt(0, 0, 0)?,
            Bound::End => date.and_hms_micro_opt(23, 59, 59, 999_999)?,
        }
    };
    let first = NaiveDate::from_ymd_opt(1, 1, 1)?.and_hms_opt(0, 0, 0)?;
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)?.and_hms_micro_opt(23, 59, 59, 999_999)?;
    Some(instant.clamp(first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn bounds_are_timestamps_in_any_offset_or_whole_days() {
        let cases = [
            ("2025-11-17", Bound::Start, "2025-11-17 00:00:00"),
            ("2025-11-17", Bound::End, "2025-11-17 23:59:59.999999"),
            ("2025-11-17T06:30:00Z", Bound::End, "2025-11-17 06:30:00"),
            (
                "2025-11-17T06:30:00.000000Z",
                Bound::Start,
                "2025-11-17 06:30:00",
            ),
            (
                "2025-11-17T01:30:00-05:00",
                Bound::Start,
                "2025-11-17 06:30:00",
            ),
            ("2025-11-17T06:30:00", Bound::Start, "2025-11-17 06:30:00"),
            (
                "2025-11-17 06:30:00.5",
                Bound::Start,
                "2025-11-17 06:30:00.5",
            ),
        ];
        for (raw, bound, expected) in cases {
            assert_eq!(parse_instant(raw, bound), Some(at(expected)), "{raw}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for raw in [
            "yesterday",
            "2025-13-01",
            "2025-02-30",
            "17/11/2025",
            "2025-11-17T25:00:00Z",
            "0000-01-01",
            "+10000-01-01",
            "10000-01-01",
            "2023-02-29",
            "1900-02-29",
            "2025-04-31",
            "2025-11-17T24:00:00Z",
            "2025-11-17T06:30",
            "2025-11-17T06:30:00+5:00",
            "2025-11-17T06:30:00+0500",
            "2025-11-17T06:30:00+24:00",
            "2025-11-17T6:30:00",
            "2025-11-17T06:30:00.",
            "",
            "2025-11-17T06:30:00 05:00",
            "1731825000",
        ] {
            assert_eq!(parse_instant(raw, Bound::Start), None, "{raw}");
        }
    }

    /// Every shape the pattern admits is a moment the parser takes (the pattern is
    /// checked first, so the two agree exactly).
    #[test]
    fn every_instant_the_pattern_admits_is_parsed() {
        let dates = [
            "2025-11-17",
            "2024-02-29",
            "2000-02-29",
            "0004-02-29",
            "0400-02-29",
            "0001-01-01",
            "9999-12-31",
            "2025-04-30",
            "2025-01-31",
            "2025-02-28",
        ];
        let times = [
            "00:00:00",
            "23:59:59",
            "23:59:60",
            "06:30:60",
            "12:00:00.5",
            "12:00:00.123456789",
            "12:00:00.1234567891234",
        ];
        let offsets = [
            "", "Z", "z", "+00:00", "-00:00", "-23:59", "+23:59", "+05:30",
        ];
        for date in dates {
            assert!(INSTANT.is_match(date), "{date}");
            assert!(parse_instant(date, Bound::End).is_some(), "{date}");
            for separator in ["T", "t", " "] {
                for time in times {
                    for offset in offsets {
                        let raw = format!("{date}{separator}{time}{offset}");
                        assert!(INSTANT.is_match(&raw), "{raw}");
                        assert!(parse_instant(&raw, Bound::Start).is_some(), "{raw}");
                    }
                }
            }
        }
    }

    #[test]
    fn offsets_beyond_the_years_stand_for_their_ends() {
        assert_eq!(
            parse_instant("0001-01-01T00:30:00+01:00", Bound::Start),
            Some(at("0001-01-01 00:00:00"))
        );
        assert_eq!(
            parse_instant("9999-12-31T23:30:00-01:00", Bound::End),
            Some(at("9999-12-31 23:59:59.999999"))
        );
    }
}
