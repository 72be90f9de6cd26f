//! The patterns the document states for request fields agree with the parsers that
//! check those fields: a value the pattern allows is accepted (and, where the pattern is
//! exact, a value it refuses is refused).

use regex::Regex;
use serde_json::Value;

use crate::domain::{Email, HttpUrl, TenantSlug};
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
        ("CreateTenantBody", "callback_url"),
        ("UpdateTenantBody", "callback_url"),
        ("CreateEvolutionServerBody", "base_url"),
        ("UpdateEvolutionServerBody", "base_url"),
    ] {
        let regex = pattern(schema, field);
        for allowed in [
            "http://evo.example.com",
            "HTTPS://evo.example.com:8443/path?q=1#f",
            "http://127.0.0.1:65535/",
            "https://a-b.example/x/y/",
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
