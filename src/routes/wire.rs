//! Shapes shared by every endpoint: envelopes, pagination, timestamps and numbers
//! written the way seed 001 writes them.

use serde::{Deserialize, Serialize, Serializer};
use utoipa::{IntoParams, ToSchema};

use crate::db::Page;
use crate::error::FieldErrors;
use crate::i18n::Msg;

/// `{"data": ...}`: one resource.
#[derive(Serialize, ToSchema)]
pub struct DataBody<T> {
    pub data: T,
}

impl<T> DataBody<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// `{"data": ..., "message": ...}`: a resource a change produced, with seed 001's message.
#[derive(Serialize, ToSchema)]
pub struct MessageDataBody<T> {
    pub data: T,
    #[schema(example = "WhatsApp instance created successfully")]
    pub message: String,
}

impl<T> MessageDataBody<T> {
    pub fn new(data: T, message: &str) -> Self {
        Self {
            data,
            message: message.to_string(),
        }
    }
}

/// `{"message": ...}` alone, as after a delete.
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    #[schema(example = "WhatsApp instance deleted successfully")]
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub meta: PageMeta,
}

#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    pub total: i64,
    pub current_page: i64,
    pub last_page: i64,
    pub per_page: i64,
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, total: i64, page: Page) -> Self {
        Self {
            data,
            meta: PageMeta {
                total,
                current_page: page.number,
                last_page: ((total + page.per_page - 1) / page.per_page).max(1),
                per_page: page.per_page,
            },
        }
    }

    /// One page of database rows, each read into what the API shows; a row that cannot
    /// be read fails the page.
    pub fn try_from_rows<R, E>(rows: Vec<R>, total: i64, page: Page) -> Result<Self, E>
    where
        T: TryFrom<R, Error = E>,
    {
        let data = rows
            .into_iter()
            .map(T::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Self::new(data, total, page))
    }
}

/// A number written without a fraction when it has none (`100`, `24.5`), as seed 001 shows.
#[derive(Clone, Copy, Debug, PartialEq, ToSchema)]
#[schema(value_type = f64)]
pub struct Decimal(pub f64);

impl Decimal {
    /// Rounded to two decimals.
    pub fn percentage(part: f64, whole: f64) -> Self {
        if whole <= 0.0 {
            return Decimal(0.0);
        }
        Decimal((part * 10_000.0 / whole).round() / 100.0)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

/// An exact amount of money, kept in millionths of the currency and written as a plain
/// JSON number with no more decimals than it has (`90000`, `0.1234`), however large.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, ToSchema)]
#[schema(value_type = f64)]
pub struct Money(pub i128);

impl Money {
    pub fn from_micros(micros: i128) -> Self {
        Money(micros)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let (whole, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
        let mut number = format!("{sign}{whole}");
        if fraction > 0 {
            let digits = format!("{fraction:06}");
            number.push('.');
            number.push_str(digits.trim_end_matches('0'));
        }
        serde_json::value::RawValue::from_string(number)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// The highest page number, so that the offset `(page - 1) * per_page` cannot overflow.
pub const PAGE_MAX: i64 = i64::MAX / 1000;

/// `page` (from 1) and `per_page` (default 15, at most 100).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9223372036854775_i64)]
    pub page: Option<String>,
    /// Items per page, 1 to 100 (default 15).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub per_page: Option<String>,
}

impl PageQuery {
    pub fn parse(&self, errors: &mut FieldErrors) -> Page {
        let number = query_integer(&self.page, "page", 1, PAGE_MAX, errors).unwrap_or(1);
        let per_page = query_integer(&self.per_page, "per_page", 1, 100, errors).unwrap_or(15);
        Page { number, per_page }
    }
}

pub fn query_integer(
    raw: &Option<String>,
    field: &str,
    min: i64,
    max: i64,
    errors: &mut FieldErrors,
) -> Option<i64> {
    let raw = given(raw)?;
    let Ok(value) = raw.parse::<i64>() else {
        errors.add(field, Msg::NotInteger);
        return None;
    };
    if (min..=max).contains(&value) {
        Some(value)
    } else {
        errors.add(field, Msg::Between(min, max));
        None
    }
}

/// `true`/`false`, and the forms Laravel's `boolean` rule takes in a query string:
/// `1`, `0`, `"1"`, `"0"`.
pub fn query_boolean(raw: &Option<String>, field: &str, errors: &mut FieldErrors) -> Option<bool> {
    match given(raw)? {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => {
            errors.add(field, Msg::NotBoolean);
            None
        }
    }
}

/// A typed query parameter's value without surrounding ASCII white space (space, tab,
/// line feed, form feed, carriage return), `None` when it is not in the query. An empty
/// value (`?per_page=`) is given, and refused by every typed parameter's parser like
/// any other value that is not of its type: the document types these parameters
/// `integer`, `boolean`, an `enum` or a pattern, none of which admits an empty string.
/// To not filter, leave the parameter out.
pub fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim_ascii)
}

/// A value of a domain type, read by the type's own parser (`ConnectionStatus::parse`,
/// ...); what the parser refuses (an empty value too) is a 422 on `field` with its
/// message. `raw` is the value as the caller takes it ([`given`]: trimmed).
pub fn query_parsed<T>(
    raw: Option<&str>,
    field: &str,
    parse: fn(&str) -> Result<T, Msg>,
    errors: &mut FieldErrors,
) -> Option<T> {
    match parse(raw?) {
        Ok(value) => Some(value),
        Err(message) => {
            errors.add(field, message);
            None
        }
    }
}

/// One of `allowed`, as given; anything else (an empty value too) is a 422 listing them.
pub fn query_one_of(
    raw: &Option<String>,
    field: &str,
    allowed: &'static [&'static str],
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = given(raw)?;
    if allowed.contains(&value) {
        Some(value.to_string())
    } else {
        errors.add(field, Msg::OneOf(allowed));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_exactly() {
        let written = |micros: i128| serde_json::to_string(&Money::from_micros(micros)).unwrap();
        assert_eq!(written(90_000_000_000), "90000");
        assert_eq!(written(123_400), "0.1234");
        assert_eq!(written(0), "0");
        assert_eq!(written(-1_500_000), "-1.5");
        assert_eq!(
            written(i64::MAX as i128 * 1_000_000_000_000),
            "9223372036854775807000000"
        );
    }

    #[test]
    fn decimals_print_like_the_seed() {
        assert_eq!(
            serde_json::to_string(&Decimal::percentage(245.0, 1000.0)).unwrap(),
            "24.5"
        );
        assert_eq!(
            serde_json::to_string(&Decimal::percentage(450.0, 2450.0)).unwrap(),
            "18.37"
        );
        assert_eq!(
            serde_json::to_string(&Decimal::percentage(10.0, 10.0)).unwrap(),
            "100"
        );
        assert_eq!(
            serde_json::to_string(&Decimal::percentage(1.0, 0.0)).unwrap(),
            "0"
        );
    }

    #[test]
    fn last_page_is_at_least_one() {
        let page = Page {
            number: 1,
            per_page: 10,
        };
        assert_eq!(Paginated::<()>::new(vec![], 0, page).meta.last_page, 1);
        assert_eq!(Paginated::<()>::new(vec![], 21, page).meta.last_page, 3);
    }
}
