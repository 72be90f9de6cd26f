//! Phone numbers in E.164, checked against libphonenumber's metadata: the country code
//! must be one it knows, and the number after it one of the lengths it knows for that
//! code. The document states the same rule as a pattern generated from the same
//! metadata, so the two cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use phonenumber::metadata::DATABASE;
use phonenumber::Type;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type as JsonType};
use utoipa::openapi::RefOr;

use super::WHITESPACE;
use crate::i18n::Msg;

/// A phone number in E.164 (`+`, country code, number), known to be possible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

/// Characters written between the digits for readability, and dropped.
const SEPARATORS: &str = " ().-";

/// E.164 numbers have at most 15 digits; fewer than 7 is no number in any plan.
const DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// The kinds of number libphonenumber tells valid ones by (its `number_type`).
const KINDS: [Type; 10] = [
    Type::FixedLine,
    Type::Mobile,
    Type::TollFree,
    Type::PremiumRate,
    Type::SharedCost,
    Type::PersonalNumber,
    Type::Voip,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
];

/// Every country calling code libphonenumber knows, with the lengths of the national
/// number it knows for it (any kind, any region sharing the code) that keep the whole
/// number within [`DIGITS`].
static PLANS: LazyLock<BTreeMap<String, BTreeSet<usize>>> = LazyLock::new(|| {
    // By code, not by region: the non-geographic plans (+800, +808, +870, ...) all are
    // region `001`.
    (1..=999u16)
        .filter_map(|code| Some((code, DATABASE.by_code(&code)?)))
        .map(|(code, regions)| {
            let code = code.to_string();
            let lengths = regions
                .iter()
                .flat_map(|region| {
                    KINDS
                        .iter()
                        .filter_map(|kind| region.descriptors().get(*kind))
                })
                .flat_map(|descriptor| descriptor.possible_length().iter())
                .map(|length| usize::from(*length))
                .filter(|length| DIGITS.contains(&(code.len() + length)))
                .collect::<BTreeSet<usize>>();
            (code, lengths)
        })
        .filter(|(_, lengths)| !lengths.is_empty())
        .collect()
});

impl PhoneNumber {
    /// `+`, then the country code and the number, with spaces, dashes, dots and brackets
    /// anywhere (before the `+` too), and whitespace around it all.
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let is_separator = |c: char| SEPARATORS.contains(c);
        let (before, after) = raw.trim().split_once('+').ok_or(Msg::PhoneFormat)?;
        let well_formed = before.chars().all(is_separator)
            && after.chars().all(|c| c.is_ascii_digit() || is_separator(c));
        if !well_formed {
            return Err(Msg::PhoneFormat);
        }
        let digits: String = after.chars().filter(char::is_ascii_digit).collect();
        let possible = (1..=3).any(|split| {
            digits
                .get(..split)
                .and_then(|code| PLANS.get(code))
                .is_some_and(|lengths| lengths.contains(&(digits.len() - split)))
        });
        if possible {
            Ok(Self(format!("+{digits}")))
        } else {
            Err(Msg::PhoneFormat)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Without the `+`, as Evolution API takes a number.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// What [`PhoneNumber::parse`] takes, as a regular expression every engine reads
    /// alike: the whole string, whitespace around it included (a body's strings are
    /// trimmed first). Each part is written so that it can match in one way only, so
    /// that no backtracking engine takes long over any input.
    pub fn pattern() -> &'static str {
        static PATTERN: LazyLock<String> = LazyLock::new(|| {
            let separators = "[ ().-]*";
            let whitespace_but_space = WHITESPACE.replace(' ', "");
            format!(
                "^{WHITESPACE}*(?:[().-]{separators})?\\+{}{separators}(?:{whitespace_but_space}{WHITESPACE}*)?$",
                plan_pattern(&PLANS.keys().map(String::as_str).collect::<Vec<_>>(), "")
            )
        });
        &PATTERN
    }

    /// [`PhoneNumber::pattern`], or only whitespace (a blank string counts as `null`).
    pub fn pattern_or_blank() -> &'static str {
        static PATTERN: LazyLock<String> = LazyLock::new(|| {
            let pattern = PhoneNumber::pattern();
            let whitespace = format!("^{WHITESPACE}*");
            let number = &pattern[whitespace.len()..pattern.len() - 1];
            format!("{whitespace}(?:{number})?$")
        });
        &PATTERN
    }
}

/// The codes under `prefix` (their remaining digits in `codes`), each followed by the
/// national number lengths of its plan: `[ ().-]*` before every digit.
fn plan_pattern(codes: &[&str], prefix: &str) -> String {
    let mut children: BTreeMap<char, Vec<&str>> = BTreeMap::new();
    for code in codes {
        let mut chars = code.chars();
        if let Some(first) = chars.next() {
            children.entry(first).or_default().push(chars.as_str());
        }
    }
    // Digits whose continuations are written alike share a character class.
    let mut by_continuation: BTreeMap<String, Vec<char>> = BTreeMap::new();
    for (digit, rest) in children {
        let code = format!("{prefix}{digit}");
        let continuation = if rest == [""] {
            PLANS.get(&code).map(lengths_pattern).unwrap_or_default()
        } else {
            plan_pattern(&rest, &code)
        };
        by_continuation.entry(continuation).or_default().push(digit);
    }
    let branches: Vec<String> = by_continuation
        .into_iter()
        .map(|(continuation, digits)| format!("{}{continuation}", digit_class(&digits)))
        .collect();
    format!("[ ().-]*(?:{})", branches.join("|"))
}

/// `lengths` national digits, each after optional separators.
fn lengths_pattern(lengths: &BTreeSet<usize>) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &length in lengths {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == length => *last = length,
            _ => runs.push((length, length)),
        }
    }
    let counted: Vec<String> = runs
        .into_iter()
        .map(|(low, high)| match low == high {
            true => format!("(?:[ ().-]*[0-9]){{{low}}}"),
            false => format!("(?:[ ().-]*[0-9]){{{low},{high}}}"),
        })
        .collect();
    match counted.as_slice() {
        [one] => one.clone(),
        many => format!("(?:{})", many.join("|")),
    }
}

fn digit_class(digits: &[char]) -> String {
    match digits {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().collect::<String>()),
    }
}

/// What every field that takes a number admits (written inline: `value_type =
/// PhoneNumber, inline`, the field describing itself).
impl utoipa::PartialSchema for PhoneNumber {
    // `example`, as the fields' own examples are written: generators read it for samples.
    #[allow(deprecated)]
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(JsonType::String)
            .pattern(Some(Self::pattern()))
            .example(Some(serde_json::json!("+573001234567")))
            .into()
    }
}

impl utoipa::ToSchema for PhoneNumber {}

/// A [`PhoneNumber`], or none: `null` or a blank string.
pub struct OptionalPhoneNumber;

impl utoipa::PartialSchema for OptionalPhoneNumber {
    // `example`, as the fields' own examples are written: generators read it for samples.
    #[allow(deprecated)]
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([JsonType::String, JsonType::Null]))
            .pattern(Some(PhoneNumber::pattern_or_blank()))
            .example(Some(serde_json::json!("+573001234567")))
            .into()
    }
}

impl utoipa::ToSchema for OptionalPhoneNumber {}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn documented(raw: &str) -> bool {
        static DOCUMENTED: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(PhoneNumber::pattern()).unwrap());
        DOCUMENTED.is_match(raw)
    }

    #[test]
    fn numbers_are_normalised_to_e164() {
        for (raw, e164) in [
            ("+573001234567", "+573001234567"),
            ("+57 300 123 4567", "+573001234567"),
            ("  +57 (300) 123-45.67\t", "+573001234567"),
            ("(+57) 3001234567", "+573001234567"),
            ("+55 (11) 98765-4321", "+5511987654321"),
            ("+1 (202) 555-0123", "+12025550123"),
            ("+39 06 1234 5678", "+390612345678"),
        ] {
            let phone = PhoneNumber::parse(raw).unwrap();
            assert_eq!(phone.as_str(), e164, "{raw}");
            assert_eq!(phone.digits(), &e164[1..], "{raw}");
        }
    }

    /// The document's pattern and the parser agree, input by input.
    #[test]
    fn the_pattern_is_exactly_what_the_parser_takes() {
        let cases = [
            ("+573001234567", true),
            ("+57 300 123 4567", true),
            ("+57 (300) 123-45.67", true),
            ("(+57) 3001234567", true),
            (" \t+573001234567\u{a0}\n", true),
            ("\u{3000}+573001234567\u{2028}", true),
            ("+573001234567 \u{a0} ", true),
            ("( +573001234567", true),
            ("+5 7300 1234567", true),
            ("+57 300 123 4567 ()", true),
            ("+57 300 123 4567 )\t", true),
            ("+57 100 000 0000", true),
            ("+1 555 1234", true),
            ("+800 1234 5678", true),
            ("+1 202 555 0123", true),
            ("+.9003-.((.( --", false),
            ("+573001234567 x", false),
            ("+57 300 123 4567\t)", false),
            ("(\t+573001234567", false),
            ("\t(\t+573001234567", false),
            ("573001234567", false),
            ("3001234567", false),
            ("+", false),
            ("", false),
            ("  ", false),
            ("+57300", false),
            ("+57300123456", false),
            ("+57300123456789", false),
            ("+5730012345678901", false),
            ("+999123456789", false),
            ("+0573001234567", false),
            ("++573001234567", false),
            ("+57+3001234567", false),
            ("+57/300/1234567", false),
            ("+57\t3001234567", false),
            ("+57300123456a", false),
            ("+57 300 abc 4567", false),
            ("+٥٧٣٠٠١٢٣٤٥٦٧", false),
            ("tel:+573001234567", false),
            ("+1 555 12345", false),
            ("+49 1234", false),
            ("+573001234567\u{200b}", false),
            ("\u{feff}+573001234567", false),
            ("+57\u{a0}3001234567", false),
        ];
        for (raw, taken) in cases {
            assert_eq!(PhoneNumber::parse(raw).is_ok(), taken, "parser: {raw:?}");
            assert_eq!(documented(raw), taken, "document: {raw:?}");
        }
    }

    /// Every country code, every national length from 0 to 16 digits, with and without
    /// separators: the pattern and the parser give the same answer.
    #[test]
    fn the_pattern_follows_the_metadata_for_every_country_code() {
        let mut taken = 0;
        for code in PLANS.keys() {
            for length in 0..=16 {
                let national = "5".repeat(length);
                for raw in [
                    format!("+{code}{national}"),
                    format!(" (+{code}) {national}-"),
                    format!(
                        "+{}{national}",
                        code.chars().map(|c| format!("{c}.")).collect::<String>()
                    ),
                ] {
                    let parsed = PhoneNumber::parse(&raw).is_ok();
                    assert_eq!(documented(&raw), parsed, "{raw:?}");
                    taken += usize::from(parsed);
                }
            }
        }
        assert!(taken > 600, "{taken}");
        // A country code is never the start of another (the parser reads the first that
        // is one).
        for code in PLANS.keys() {
            for other in PLANS.keys() {
                assert!(
                    other == code || !other.starts_with(code.as_str()),
                    "{code} {other}"
                );
            }
        }
    }

    /// Every example number libphonenumber gives for its regions is taken, and reads as
    /// libphonenumber reads it: what its stricter validity check took before is still
    /// taken, and stored alike.
    #[test]
    fn libphonenumbers_valid_numbers_are_taken_alike() {
        let mut checked = 0;
        let regions = (1..=999u16)
            .filter_map(|code| DATABASE.by_code(&code))
            .flatten();
        for region in regions {
            for kind in KINDS {
                let Some(example) = region.descriptors().get(kind).and_then(|d| d.example()) else {
                    continue;
                };
                let raw = format!("+{}{example}", region.country_code());
                let Ok(number) = phonenumber::parse(None, &raw) else {
                    continue;
                };
                if !phonenumber::is_valid(&number) || !DIGITS.contains(&(raw.len() - 1)) {
                    continue;
                }
                let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
                assert_eq!(
                    PhoneNumber::parse(&raw).map(|phone| phone.as_str().to_string()),
                    Ok(e164),
                    "{raw}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn whitespace_or_nothing_is_the_optional_pattern() {
        let optional = Regex::new(PhoneNumber::pattern_or_blank()).unwrap();
        for blank in ["", " ", "\t\u{a0}\u{3000}"] {
            assert!(optional.is_match(blank), "{blank:?}");
            assert!(!documented(blank), "{blank:?}");
        }
        for raw in ["+57 300 123 4567 ", "+999123456789", "+57 300 12x"] {
            assert_eq!(optional.is_match(raw), documented(raw), "{raw:?}");
        }
    }
}
