//! Quiet hours (SPEC §6b): a daily window, in the tenant's time zone, in which none of its
//! numbers sends, because messages at night get numbers reported and banned.

use chrono::{DateTime, Days, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::ser::SerializeStruct;

use crate::i18n::Msg;

/// A tenant's quiet hours: every day from `start` (inclusive) to `end` (exclusive), on the
/// tenant's wall clock; `22:00`–`07:00` wraps midnight. Never empty: [`QuietHours::parse`]
/// refuses a window that ends where it starts. Written `{"start": "HH:MM", "end": "HH:MM"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

/// A time of day as the quiet hours are written: `HH:MM`, `00:00` to `23:59`, two digits
/// each, nothing around them.
pub const CLOCK_TIME_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// A time of day written `HH:MM` ([`CLOCK_TIME_PATTERN`]): `07:30`, not `7:30`, `07:30:00`
/// or `24:00`.
pub fn parse_clock_time(raw: &str) -> Result<NaiveTime, Msg> {
    let bytes = raw.as_bytes();
    let digit = |at: usize| {
        bytes
            .get(at)
            .filter(|byte| byte.is_ascii_digit())
            .map(|byte| u32::from(byte - b'0'))
    };
    match (
        bytes.len(),
        bytes.get(2),
        digit(0),
        digit(1),
        digit(3),
        digit(4),
    ) {
        (5, Some(b':'), Some(h1), Some(h2), Some(m1), Some(m2)) => {
            NaiveTime::from_hms_opt(h1 * 10 + h2, m1 * 10 + m2, 0).ok_or(Msg::ClockTime)
        }
        _ => Err(Msg::ClockTime),
    }
}

impl QuietHours {
    /// The window from the `start` and `end` of `{"start": "HH:MM", "end": "HH:MM"}`.
    /// Each problem comes back with the part it is about (`"start"` or `"end"`; the caller
    /// names the field, as `quiet_hours.start`). An `end` equal to `start` is refused
    /// ([`Msg::EmptyWindow`], on `"end"`): read as empty it would be a setting that does
    /// nothing, read as the whole day one that stops every send, and neither is what
    /// someone typing it means.
    pub fn parse(start: &str, end: &str) -> Result<Self, Vec<(&'static str, Msg)>> {
        match (parse_clock_time(start), parse_clock_time(end)) {
            (Ok(start), Ok(end)) if start == end => Err(vec![("end", Msg::EmptyWindow)]),
            (Ok(start), Ok(end)) => Ok(Self { start, end }),
            (start, end) => Err([
                start.err().map(|msg| ("start", msg)),
                end.err().map(|msg| ("end", msg)),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }

    /// When the window opens each day, on the tenant's wall clock.
    pub fn start(&self) -> NaiveTime {
        self.start
    }

    /// When the window closes each day (the first minute outside it).
    pub fn end(&self) -> NaiveTime {
        self.end
    }

    /// Whether the tenant's wall clock reading `local` is inside the window: from `start`
    /// (included) up to `end` (not included), across midnight when `end` comes first.
    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            self.start <= local || local < self.end
        }
    }

    /// When the window that holds `now` closes, as a UTC instant (what a refused claim
    /// counts `Retry-After` to); `None` when `now` is outside the window in `tz`.
    ///
    /// That is the first instant after `now` at which the tenant's clock reads `end`. On a
    /// day the clocks skip `end` (spring forward), the window closes when they skip past
    /// it: at the first instant after the gap. On a day they read `end` twice (fall back),
    /// at the first of the two still ahead of `now`.
    pub fn ends_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz).naive_local();
        if !self.contains(local.time()) {
            return None;
        }
        // The close is on the local date of `now` or the next one; a day before and after
        // cover every offset change around midnight.
        let today = local.date();
        let dates = [
            today.pred_opt(),
            Some(today),
            today.succ_opt(),
            today.checked_add_days(Days::new(2)),
        ];
        dates
            .into_iter()
            .flatten()
            .flat_map(|date| instants_reading(tz, date.and_time(self.end)))
            .filter(|instant| *instant > now)
            .min()
    }
}

/// The instants at which a clock in `tz` reads `local`: one, two in a repeated hour (fall
/// back), or none in a skipped one (spring forward), where the first instant after the gap
/// stands in. Every zone has changed its offset on whole minutes since 1972 (a few older
/// changes moved by odd seconds), so the first valid minute after `local` is where the gap
/// ends.
fn instants_reading(tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(instant) => vec![instant.to_utc()],
        LocalResult::Ambiguous(first, second) => vec![first.to_utc(), second.to_utc()],
        LocalResult::None => (1..=2 * 24 * 60)
            .filter_map(|minutes| local.checked_add_signed(Duration::minutes(minutes)))
            .find_map(|later| tz.from_local_datetime(&later).earliest())
            .map(|instant| instant.to_utc())
            .into_iter()
            .collect(),
    }
}

/// `{"start": "22:00", "end": "07:00"}`.
impl serde::Serialize for QuietHours {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut window = serializer.serialize_struct("QuietHours", 2)?;
        window.serialize_field("start", &self.start.format("%H:%M").to_string())?;
        window.serialize_field("end", &self.end.format("%H:%M").to_string())?;
        window.end()
    }
}

/// The window as the document states it: two `HH:MM` times, both required.
impl utoipa::PartialSchema for QuietHours {
    // `example`, as the fields' own examples are written: generators read it for samples.
    #[allow(deprecated)]
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, Type};
        let time = |example: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(CLOCK_TIME_PATTERN))
                .example(Some(serde_json::json!(example)))
        };
        ObjectBuilder::new()
            .property("start", time("22:00"))
            .property("end", time("07:00"))
            .required("start")
            .required("end")
            .into()
    }
}

impl utoipa::ToSchema for QuietHours {}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use regex::Regex;

    use super::*;

    fn time(raw: &str) -> NaiveTime {
        NaiveTime::parse_from_str(raw, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M"))
            .unwrap()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> QuietHours {
        QuietHours::parse(start, end).unwrap()
    }

    #[test]
    fn times_are_strict_hh_mm_and_the_pattern_says_the_same() {
        let pattern = Regex::new(CLOCK_TIME_PATTERN).unwrap();
        for hours in 0..=99 {
            for minutes in 0..=99 {
                let raw = format!("{hours:02}:{minutes:02}");
                assert_eq!(
                    parse_clock_time(&raw).is_ok(),
                    pattern.is_match(&raw),
                    "{raw}"
                );
                assert_eq!(
                    parse_clock_time(&raw).is_ok(),
                    hours < 24 && minutes < 60,
                    "{raw}"
                );
            }
        }
        assert_eq!(parse_clock_time("07:05"), Ok(time("07:05")));
        assert_eq!(parse_clock_time("23:59"), Ok(time("23:59")));
        for bad in [
            "7:05",
            "07:5",
            "07:05:00",
            " 07:05",
            "07:05 ",
            "0705",
            "07-05",
            "24:00",
            "",
            "+7:05",
            "٠٧:٠٥",
            "07:0５",
        ] {
            assert_eq!(parse_clock_time(bad), Err(Msg::ClockTime), "{bad}");
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn a_window_needs_two_times_that_differ() {
        assert_eq!(
            QuietHours::parse("22:00", "22:00"),
            Err(vec![("end", Msg::EmptyWindow)])
        );
        assert_eq!(
            QuietHours::parse("10pm", "7:00"),
            Err(vec![("start", Msg::ClockTime), ("end", Msg::ClockTime)])
        );
        assert_eq!(
            QuietHours::parse("22:00", "x"),
            Err(vec![("end", Msg::ClockTime)])
        );
        let night = window("22:00", "07:00");
        assert_eq!((night.start(), night.end()), (time("22:00"), time("07:00")));
        assert_eq!(
            serde_json::to_value(night).unwrap(),
            serde_json::json!({"start": "22:00", "end": "07:00"})
        );
    }

    #[test]
    fn start_is_inside_and_end_is_not() {
        let day = window("09:00", "17:30");
        for (at, inside) in [
            ("08:59:59", false),
            ("09:00", true),
            ("12:00", true),
            ("17:29:59", true),
            ("17:30", false),
            ("00:00", false),
        ] {
            assert_eq!(day.contains(time(at)), inside, "{at}");
        }
        let night = window("22:00", "07:00");
        for (at, inside) in [
            ("21:59:59", false),
            ("22:00", true),
            ("23:59:59", true),
            ("00:00", true),
            ("06:59:59", true),
            ("07:00", false),
            ("12:00", false),
        ] {
            assert_eq!(night.contains(time(at)), inside, "{at}");
        }
        let all_but_a_minute = window("00:01", "00:00");
        assert!(all_but_a_minute.contains(time("23:59:59")));
        assert!(!all_but_a_minute.contains(time("00:00:30")));
    }

    #[test]
    fn in_bogota_the_night_ends_at_seven_local_noon_utc() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        let night = window("21:00", "07:00");
        // 22:00 on the 17th in Bogota (UTC-5): ends at 07:00 on the 18th.
        assert_eq!(
            night.ends_after(utc("2025-11-18T03:00:00Z"), bogota),
            Some(utc("2025-11-18T12:00:00Z"))
        );
        // 02:00 local, after midnight: the same close.
        assert_eq!(
            night.ends_after(utc("2025-11-18T07:00:00Z"), bogota),
            Some(utc("2025-11-18T12:00:00Z"))
        );
        // Exactly at the start: inside, a whole night to go.
        assert_eq!(
            night.ends_after(utc("2025-11-18T02:00:00Z"), bogota),
            Some(utc("2025-11-18T12:00:00Z"))
        );
        // A second before the close, and at the close.
        assert_eq!(
            night.ends_after(utc("2025-11-18T11:59:59Z"), bogota),
            Some(utc("2025-11-18T12:00:00Z"))
        );
        assert_eq!(night.ends_after(utc("2025-11-18T12:00:00Z"), bogota), None);
        assert_eq!(night.ends_after(utc("2025-11-18T01:59:59Z"), bogota), None);
        // In UTC it is 03:00 there too, but the window is on the tenant's clock.
        assert_eq!(
            night.ends_after(utc("2025-11-18T17:00:00Z"), chrono_tz::UTC),
            None
        );
    }

    #[test]
    fn a_day_window_closes_the_same_day() {
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let siesta = window("14:00", "16:00");
        assert_eq!(
            siesta.ends_after(utc("2025-07-01T12:30:00Z"), madrid),
            Some(utc("2025-07-01T14:00:00Z"))
        );
        assert_eq!(siesta.ends_after(utc("2025-07-01T14:00:00Z"), madrid), None);
    }

    #[test]
    fn a_close_the_clocks_skip_moves_to_the_end_of_the_gap() {
        // Madrid, 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 never happens.
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let night = window("22:00", "02:30");
        assert_eq!(
            night.ends_after(utc("2025-03-29T23:00:00Z"), madrid),
            Some(utc("2025-03-30T01:00:00Z"))
        );
        // 01:59:59 CET, the last second before the jump: still inside, closes a second later.
        assert_eq!(
            night.ends_after(utc("2025-03-30T00:59:59Z"), madrid),
            Some(utc("2025-03-30T01:00:00Z"))
        );
        // 03:00 CEST: out.
        assert_eq!(night.ends_after(utc("2025-03-30T01:00:00Z"), madrid), None);

        // São Paulo, 2018-11-04: midnight became 01:00 (UTC-3 to UTC-2); 00:00 never happened.
        let sao_paulo: Tz = "America/Sao_Paulo".parse().unwrap();
        let evening = window("22:00", "00:00");
        assert_eq!(
            evening.ends_after(utc("2018-11-04T01:30:00Z"), sao_paulo),
            Some(utc("2018-11-04T03:00:00Z"))
        );
        // A window opening in the gap opens when the clocks land after it.
        let early = window("00:30", "06:00");
        assert_eq!(
            early.ends_after(utc("2018-11-04T02:59:59Z"), sao_paulo),
            None
        );
        assert_eq!(
            early.ends_after(utc("2018-11-04T03:00:00Z"), sao_paulo),
            Some(utc("2018-11-04T08:00:00Z"))
        );
    }

    #[test]
    fn a_close_the_clocks_read_twice_is_the_first_still_ahead() {
        // Madrid, 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens at
        // 00:30 UTC and again at 01:30 UTC.
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let night = window("22:00", "02:30");
        assert_eq!(
            night.ends_after(utc("2025-10-25T22:00:00Z"), madrid),
            Some(utc("2025-10-26T00:30:00Z"))
        );
        // 02:45 CEST, between the two: out (the window closed at the first 02:30).
        assert_eq!(night.ends_after(utc("2025-10-26T00:45:00Z"), madrid), None);
        // 02:10 CET, the repeated hour: the clock is inside again, until the second 02:30.
        assert_eq!(
            night.ends_after(utc("2025-10-26T01:10:00Z"), madrid),
            Some(utc("2025-10-26T01:30:00Z"))
        );

        // São Paulo, 2019-02-17: midnight went back to 23:00 on the 16th (UTC-2 to UTC-3);
        // 23:30 on the 16th happened at 01:30 and at 02:30 UTC.
        let sao_paulo: Tz = "America/Sao_Paulo".parse().unwrap();
        let evening = window("21:00", "23:30");
        assert_eq!(
            evening.ends_after(utc("2019-02-17T00:00:00Z"), sao_paulo),
            Some(utc("2019-02-17T01:30:00Z"))
        );
    }

    #[test]
    fn the_close_is_never_more_than_a_day_away_in_any_zone() {
        let night = window("22:00", "07:00");
        let start = NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        for tz in [
            "America/Bogota",
            "America/Sao_Paulo",
            "Europe/Madrid",
            "Pacific/Chatham",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ] {
            let tz: Tz = tz.parse().unwrap();
            for step in 0..(365 * 24 * 4) {
                let now = start + Duration::minutes(15 * step);
                let inside = night.contains(now.with_timezone(&tz).time());
                match night.ends_after(now, tz) {
                    Some(close) => {
                        assert!(
                            inside && close > now && close - now <= Duration::hours(10),
                            "{tz} {now} {close}"
                        );
                        let local = close.with_timezone(&tz);
                        assert!(!night.contains(local.time()), "{tz} {now} {close}");
                    }
                    None => assert!(!inside, "{tz} {now}"),
                }
            }
        }
    }
}
