//! The patterns the document states for request fields agree with the parsers that
//! check those fields: a value the pattern allows is accepted (and, where the pattern is
//! exact, a value it refuses is refused).

use regex::Regex;
use serde_json::Value;

use crate::domain::{Email, HttpUrl, PhoneNumber, TenantSlug};
use crate::routes::evolution_servers::api_key;

fn property(schema: &str, field: &str) -> Value {
    let document: Value = serde_json::from_str(&super::pretty_json()).unwrap();
    document["components"]["schemas"][schema]["properties"][field].clone()
}

fn pattern(schema: &str, field: &str) -> Regex {
    let property = property(schema, field);
    let pattern = property["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{schema}.{field} has no pattern"));
    Regex::new(pattern).unwrap()
}

/// What a nullable string field's pattern admits besides its values: a blank string,
/// which counts as `null` (crate::input::Input).
const BLANK: &str = r"^[ \t\n\r\f]*$";

#[test]
fn nullable_urls_are_blank_or_the_url_pattern() {
    for (schema, field) in [
        ("CreateTenantBody", "callback_url"),
        ("UpdateTenantBody", "callback_url"),
        ("CreateInstanceBody", "evolution_api_url"),
        ("UpdateInstanceBody", "evolution_api_url"),
    ] {
        assert_eq!(
            property(schema, field)["pattern"].as_str(),
            Some(format!("{BLANK}|{}", HttpUrl::PATTERN).as_str()),
            "{schema}.{field}: blank (null) or what HttpUrl::PATTERN admits"
        );
        let regex = pattern(schema, field);
        for blank in ["", " ", "\t \r\n"] {
            assert!(regex.is_match(blank), "{schema}.{field} {blank:?}");
            let input: crate::input::Input =
                serde_json::from_value(serde_json::json!(blank)).unwrap();
            assert!(matches!(input, crate::input::Input::Null), "{blank:?}");
        }
    }
}

fn fits_length(property: &Value, value: &str) -> bool {
    let chars = value.chars().count() as u64;
    property["minLength"]
        .as_u64()
        .is_none_or(|min| chars >= min)
        && property["maxLength"]
            .as_u64()
            .is_none_or(|max| chars <= max)
}

#[test]
fn slug_pattern_is_exactly_what_the_parser_takes() {
    for schema in ["CreateTenantBody", "UpdateTenantBody"] {
        let (regex, property) = (pattern(schema, "slug"), property(schema, "slug"));
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        for slug in [
            "a",
            "a-b",
            "1a",
            "a1",
            "1-2",
            "12",
            "0",
            "-a",
            "a-",
            "A",
            "a_b",
            "a--b",
            "9-",
            "-9",
            "candidato-alcaldia",
            &long,
            &too_long,
            "é",
            "",
        ] {
            let documented = regex.is_match(slug) && fits_length(&property, slug);
            assert_eq!(
                documented,
                TenantSlug::parse(slug).is_ok(),
                "{schema} {slug:?}"
            );
        }
    }
}

#[test]
fn email_pattern_only_allows_addresses_the_parser_takes() {
    let (regex, property) = (
        pattern("CreateUserBody", "email"),
        property("CreateUserBody", "email"),
    );
    for allowed in [
        "ana@example.com",
        "Ana.Maria@Example.COM",
        "a+b@sub.example.co",
        "x_y-z@1.2",
        "o'brien@example.ie",
        "a.b.c@d-e.f-g.com",
    ] {
        assert!(
            regex.is_match(allowed) && fits_length(&property, allowed),
            "{allowed}"
        );
        assert!(Email::parse(allowed).is_ok(), "{allowed}");
    }
    for refused in [
        "ana@localhost",
        "ana@example.com.",
        "ana.@example.com",
        ".ana@example.com",
        "a..b@example.com",
        "ana@[10.0.0.1]",
        "ana@-example.com",
        "ana@example-.com",
        "\"Ana\" <ana@example.com>",
        "no-at-sign",
    ] {
        assert!(!regex.is_match(refused), "{refused}");
        assert!(Email::parse(refused).is_err(), "{refused}");
    }
}

#[test]
fn url_pattern_only_allows_urls_the_parser_takes() {
    for (schema, field) in [
        ("CreateEvolutionServerBody", "base_url"),
        ("UpdateEvolutionServerBody", "base_url"),
        ("WebhookBody", "url"),
    ] {
        assert_eq!(
            property(schema, field)["pattern"].as_str(),
            Some(HttpUrl::PATTERN),
            "{schema}.{field}: the parser checks HttpUrl::PATTERN"
        );
        let regex = pattern(schema, field);
        for allowed in [
            "http://evo.example.com",
            "HTTPS://evo.example.com:8443/path?q=1#f",
            "http://127.0.0.1:65535/",
            "https://a-b.example/x/y/",
            "hTTps://140.223.237.3:65004/%dd%6b%FEr%53%b7@%c5",
            "Http://wxrvdrV49584306wX80sK73.Mcx.:43670#?",
            "https://0.0.0.0?x=1&y='(z)'??",
            "https://-.a9-/~!$&*+,;=:@//#/?%00",
            "http://localhost",
        ] {
            assert!(regex.is_match(allowed), "{schema}.{field} {allowed}");
            assert!(HttpUrl::parse(allowed).is_ok(), "{allowed}");
        }
        for refused in [
            "ftp://evo.example.com",
            "https://user:pass@evo.example.com",
            "https://user@evo.example.com",
            "http://evo.example.com:65536",
            "http://",
            "evo.example.com",
            "https://evo.example.com#\u{ac}w",
            "https://évolution.example.com",
            "https://evo.example.com/a b",
            "https://evo.example.com/%zz",
            "https://evo.example.com/#a#b",
            "https://evo.example.123",
            "https://999.1.1.1",
            "https://01.2.3.4",
            "https://[::1]:8080",
            "https://evo_x.example.com",
        ] {
            assert!(!regex.is_match(refused), "{schema}.{field} {refused}");
            assert!(HttpUrl::parse(refused).is_err(), "{refused}");
        }
    }
}

#[test]
fn api_key_and_currency_patterns_are_exactly_what_the_parsers_take() {
    let key = pattern("CreateEvolutionServerBody", "api_key");
    let long = "k".repeat(255);
    let too_long = "k".repeat(256);
    for value in ["k", "B6D9F2E8-A3C4", "a b", "ñ", "!~", &long, &too_long] {
        assert_eq!(key.is_match(value), api_key(value).is_ok(), "{value:?}");
    }
    let currency = pattern("CreateTenantBody", "currency");
    for (value, valid) in [
        ("COP", true),
        ("usd", true),
        ("US", false),
        ("USDT", false),
        ("U$D", false),
    ] {
        assert_eq!(currency.is_match(value), valid, "{value}");
    }
}

#[test]
fn phone_patterns_are_the_parsers_shape() {
    for (schema, field) in [
        ("CreateInstanceBody", "phone_number"),
        ("UpdateInstanceBody", "phone_number"),
        ("SendMessageBody", "to"),
    ] {
        assert_eq!(
            property(schema, field)["pattern"].as_str(),
            Some(PhoneNumber::PATTERN),
            "{schema}.{field}: the parser checks PhoneNumber::PATTERN"
        );
    }
    for (schema, field) in [
        ("ProvisionBody", "phone_number"),
        ("ConnectBody", "phone_number"),
        ("ClaimBody", "recipient"),
    ] {
        assert_eq!(
            property(schema, field)["pattern"].as_str(),
            Some(format!("{BLANK}|{}", PhoneNumber::PATTERN).as_str()),
            "{schema}.{field}: blank (null) or what PhoneNumber::PATTERN admits"
        );
    }
    let regex = pattern("CreateInstanceBody", "phone_number");
    // The shape admits these, and they exist: the parser takes them.
    for allowed in [
        "+573001234567",
        "+57 300 123 4567",
        "+57 (300) 123-45.67",
        "(+57) 3001234567",
        "+1 (202) 555-0123",
    ] {
        assert!(regex.is_match(allowed), "{allowed}");
        assert!(PhoneNumber::parse(allowed).is_ok(), "{allowed}");
    }
    // The shape refuses these, and so does the parser (some libphonenumber alone takes).
    for refused in [
        "573001234567",
        "+57/300/1234567",
        "+57\t3001234567",
        "+57300123456a",
        "+0573001234567",
        "+123456",
        "+1234567890123456",
        "+٥٧٣٠٠١٢٣٤٥٦٧",
        "tel:+573001234567",
    ] {
        assert!(!regex.is_match(refused), "{refused}");
        assert!(PhoneNumber::parse(refused).is_err(), "{refused}");
    }
}

#[test]
fn every_period_parameter_states_the_parsers_pattern() {
    let document: Value = serde_json::from_str(&super::pretty_json()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let parameters = item["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for parameter in parameters {
            if matches!(parameter["name"].as_str(), Some("from" | "to")) {
                assert_eq!(
                    parameter["schema"]["pattern"].as_str(),
                    Some(crate::routes::period::INSTANT_PATTERN),
                    "{path} {}: the parser checks INSTANT_PATTERN",
                    parameter["name"]
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "the audit log and the message log take a period"
    );
}

/// The closed set of error keys (`crate::error::ErrorKey`) is the document's, on both error bodies.
#[test]
fn the_document_lists_every_key_and_both_bodies_use_the_list() {
    let document = serde_json::to_value(crate::openapi::document()).unwrap();
    let schemas = &document["components"]["schemas"];
    let listed: Vec<&str> = schemas["ErrorKey"]["enum"]
        .as_array()
        .expect("ErrorKey is an enum in the document")
        .iter()
        .map(|key| key.as_str().unwrap())
        .collect();
    let keys: Vec<&str> = crate::error::ErrorKey::ALL
        .iter()
        .map(|key| key.as_str())
        .collect();
    assert_eq!(listed, keys);
    for body in ["ErrorBody", "ValidationErrorBody"] {
        let field = schemas[body]["properties"]["error_key"].to_string();
        assert!(
            field.contains("#/components/schemas/ErrorKey"),
            "{body}: {field}"
        );
    }
}
