//! What the document states for request fields is what the parsers take, input by input:
//! a value the document admits is accepted, and a value it refuses is refused. Body
//! strings are read as `Input` reads them (trimmed; a blank one is `null`), so each probe
//! is also tried with whitespace around it.

use regex::Regex;
use serde_json::Value;

use crate::domain::{Email, HttpUrl, InstanceName, PhoneNumber, TenantSlug, WHITESPACE};
use crate::routes::evolution_servers::api_key;
use crate::routes::whatsapp_instances::fields::evolution_api_key;

fn document() -> Value {
    serde_json::from_str(&super::pretty_json()).unwrap()
}

/// A body field as the document states it, its `$ref` (if any) followed.
struct Field {
    name: String,
    regex: Option<Regex>,
    min: Option<u64>,
    max: Option<u64>,
    nullable: bool,
}

impl Field {
    fn of(schema: &str, field: &str) -> Self {
        let document = document();
        let mut property = document["components"]["schemas"][schema]["properties"][field].clone();
        assert!(property.is_object(), "{schema}.{field} is documented");
        if let Some(name) = property["$ref"].as_str() {
            let name = name.trim_start_matches("#/components/schemas/");
            property = document["components"]["schemas"][name].clone();
        }
        let nullable = property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&Value::from("null")));
        Field {
            name: format!("{schema}.{field}"),
            regex: property["pattern"].as_str().map(|p| Regex::new(p).unwrap()),
            min: property["minLength"].as_u64(),
            max: property["maxLength"].as_u64(),
            nullable,
        }
    }

    fn admits(&self, raw: &str) -> bool {
        let chars = raw.chars().count() as u64;
        self.regex.as_ref().is_none_or(|regex| regex.is_match(raw))
            && self.min.is_none_or(|min| chars >= min)
            && self.max.is_none_or(|max| chars <= max)
    }

    /// Whether the server takes `raw`, read as `Input` reads a body string and then by
    /// `parse` (a blank one is `null`: taken where the field is nullable; `maxLength` counts
    /// every character sent, `crate::input::at_most`).
    fn taken(&self, raw: &str, parse: &impl Fn(&str) -> bool) -> bool {
        match raw.trim() {
            "" => self.nullable,
            _ if self.max.is_some_and(|max| raw.chars().count() as u64 > max) => false,
            trimmed => parse(trimmed),
        }
    }

    /// The document and the server agree on every probe, bare and padded with whitespace.
    fn agrees(&self, probes: &[&str], parse: impl Fn(&str) -> bool) {
        for probe in probes {
            for (before, after) in PADDINGS {
                let raw = format!("{before}{probe}{after}");
                assert_eq!(
                    self.admits(&raw),
                    self.taken(&raw, &parse),
                    "{}: {raw:?}",
                    self.name
                );
            }
        }
    }
}

const PADDINGS: [(&str, &str); 6] = [
    ("", ""),
    (" ", ""),
    ("", "\t"),
    ("\u{a0}", "\n"),
    ("\u{3000} ", "\u{2028}"),
    ("\u{b}\u{85}", "\r\n"),
];

/// Probes every non-blank text field gets, besides its own.
const TEXT: [&str; 9] = [
    "",
    " ",
    "\u{a0}\u{2003}",
    "a",
    "a b",
    "\u{200b}",
    "\u{feff}",
    "😀",
    "línea\nnueva",
];

#[test]
fn phone_numbers_are_exactly_what_the_parser_takes() {
    let probes = [
        "+573001234567",
        "+57 (300) 123-45.67",
        "(+57) 3001234567",
        "+1 555 1234",
        "+1 555 12345",
        "+999123456789",
        "+.9003-.((.( --",
        "573001234567",
        "+57\t3001234567",
        "+57/300/1234567",
        "+٥٧٣٠٠١٢٣٤٥٦٧",
        "",
    ];
    for (schema, field) in [
        ("CreateInstanceBody", "phone_number"),
        ("UpdateInstanceBody", "phone_number"),
        ("SendMessageBody", "to"),
        ("ProvisionBody", "phone_number"),
        ("ConnectBody", "phone_number"),
        ("ClaimBody", "recipient"),
    ] {
        Field::of(schema, field).agrees(&probes, |raw| PhoneNumber::parse(raw).is_ok());
    }
}

#[test]
fn urls_are_exactly_what_the_parser_takes() {
    let probes = [
        "http://evo.example.com",
        "HTTPS://evo.example.com:8443/path?q=1#f",
        "http://127.0.0.1:65535/",
        "hTTps://140.223.237.3:65004/%dd%6b%FEr%53%b7@%c5",
        "Http://wxrvdrV49584306wX80sK73.Mcx.:43670#?",
        "https://0.0.0.0?x=1&y='(z)'??",
        "https://-.a9-/~!$&*+,;=:@//#/?%00",
        "ftp://evo.example.com",
        "https://user:pass@evo.example.com",
        "http://evo.example.com:65536",
        "http://",
        "evo.example.com",
        "https://évolution.example.com",
        "https://evo.example.com/a b",
        "https://evo.example.com/%zz",
        "https://evo.example.com/#a#b",
        "https://evo.example.123",
        "https://01.2.3.4",
        "https://[::1]:8080",
        "https://evo_x.example.com",
        "",
    ];
    for (schema, field) in [
        ("CreateEvolutionServerBody", "base_url"),
        ("UpdateEvolutionServerBody", "base_url"),
        ("WebhookBody", "url"),
        ("CreateTenantBody", "callback_url"),
        ("UpdateTenantBody", "callback_url"),
        ("CreateInstanceBody", "evolution_api_url"),
        ("UpdateInstanceBody", "evolution_api_url"),
    ] {
        Field::of(schema, field).agrees(&probes, |raw| HttpUrl::parse(raw).is_ok());
    }
}

#[test]
fn slugs_names_keys_and_currencies_are_exactly_what_the_parsers_take() {
    let (long, too_long) = ("a".repeat(64), "a".repeat(65));
    let slugs = [
        "a", "a-b", "1a", "a1", "1-2", "12", "0", "-a", "a-", "A", "a_b", "a--b", "9-", "-9", "é",
        "", &long, &too_long,
    ];
    for schema in ["CreateTenantBody", "UpdateTenantBody"] {
        Field::of(schema, "slug").agrees(&slugs, |raw| TenantSlug::parse(raw).is_ok());
    }
    let (long, too_long) = ("n".repeat(50), "n".repeat(51));
    let names = [
        "principal_campana",
        "a-1",
        "con espacio",
        "ñandú",
        "a/b",
        "",
        &long,
        &too_long,
    ];
    for (schema, field) in [
        ("CreateInstanceBody", "instance_name"),
        ("UpdateInstanceBody", "instance_name"),
        ("ProvisionBody", "instance_name"),
    ] {
        Field::of(schema, field).agrees(&names, |raw| InstanceName::parse(raw).is_ok());
    }
    let (long, too_long) = ("k".repeat(255), "k".repeat(256));
    let keys = ["k", "B6D9F2E8-A3C4", "a b", "ñ", "!~", "", &long, &too_long];
    for schema in ["CreateEvolutionServerBody", "UpdateEvolutionServerBody"] {
        Field::of(schema, "api_key").agrees(&keys, |raw| api_key(raw).is_ok());
    }
    for schema in ["CreateInstanceBody", "UpdateInstanceBody"] {
        let probes: Vec<&str> = keys.iter().chain(&TEXT).copied().collect();
        Field::of(schema, "evolution_api_key")
            .agrees(&probes, |raw| evolution_api_key(raw).is_ok());
    }
    // The rule of `crate::routes::tenants::fields`: three ASCII letters, any case.
    let currency = |raw: &str| raw.len() == 3 && raw.chars().all(|c| c.is_ascii_alphabetic());
    for schema in ["CreateTenantBody", "UpdateTenantBody"] {
        Field::of(schema, "currency")
            .agrees(&["COP", "usd", "US", "USDT", "U$D", "ÇOP", ""], currency);
    }
}

/// A field that takes any text but a blank one: the document says "something besides
/// whitespace", exactly what is left once `Input` trimmed it.
#[test]
fn required_text_is_anything_but_blank() {
    for (schema, field) in [
        ("CreateTenantBody", "nombre"),
        ("UpdateTenantBody", "nombre"),
        ("CreateTenantBody", "timezone"),
        ("CreateEvolutionServerBody", "name"),
        ("UpdateEvolutionServerBody", "name"),
        ("CreateSenderTokenBody", "name"),
        ("LoginBody", "email"),
        ("LoginBody", "password"),
        ("SendMessageBody", "text"),
    ] {
        Field::of(schema, field).agrees(&TEXT, |raw| !raw.is_empty());
    }
}

/// The document states the usual ASCII form of an address; the parser (RFC 5322, by the
/// `email_address` crate) takes a few more, such as quoted local parts. Every address
/// the document admits is taken.
#[test]
fn emails_the_document_admits_are_taken() {
    let field = Field::of("CreateUserBody", "email");
    for allowed in [
        "ana@example.com",
        " Ana.Maria@Example.COM\t",
        "a+b@sub.example.co",
        "x_y-z@1.2",
        "o'brien@example.ie",
        "a.b.c@d-e.f-g.com",
    ] {
        assert!(field.admits(allowed), "{allowed:?}");
        assert!(Email::parse(allowed.trim()).is_ok(), "{allowed:?}");
    }
    for refused in [
        "ana@localhost",
        "ana@example.com.",
        "ana.@example.com",
        ".ana@example.com",
        "a..b@example.com",
        "ana@[10.0.0.1]",
        "ana@-example.com",
        "\"Ana\" <ana@example.com>",
        "no-at-sign",
    ] {
        assert!(!field.admits(refused), "{refused:?}");
        assert!(Email::parse(refused).is_err(), "{refused:?}");
    }
}

/// Every string of every request body states what `Input` does with it: whitespace around
/// a value, a blank string for `null` where `null` is taken and nowhere else.
#[test]
fn every_body_string_states_its_trimming() {
    let document = document();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut bodies = std::collections::BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(name) = body["$ref"].as_str() {
                bodies.insert(name.trim_start_matches("#/components/schemas/").to_string());
            }
        }
    }
    let padding = format!("^{WHITESPACE}*");
    let mut checked = 0;
    for body in bodies {
        if body.starts_with("EvolutionWebhook") {
            continue;
        }
        for (field, property) in schemas[&body]["properties"].as_object().unwrap() {
            let resolved = match property["$ref"].as_str() {
                Some(name) => &schemas[name.trim_start_matches("#/components/schemas/")],
                None => property,
            };
            let string = resolved["type"] == "string"
                || resolved["type"]
                    .as_array()
                    .is_some_and(|types| types.contains(&Value::from("string")));
            if !string || resolved.get("enum").is_some() {
                continue;
            }
            let nullable = resolved["type"].is_array();
            // The pattern says it; `minLength` and `maxLength` count any string (README).
            let blank = Field::of(&body, field)
                .regex
                .is_none_or(|regex| regex.is_match(" \t"));
            assert_eq!(
                blank, nullable,
                "{body}.{field}: blank only where null is taken"
            );
            if let Some(pattern) = resolved["pattern"].as_str() {
                assert!(pattern.starts_with(&padding), "{body}.{field}: {pattern}");
                let rest = pattern[padding.len()..].trim_start_matches("(?:");
                assert!(
                    !rest.starts_with(WHITESPACE),
                    "{body}.{field} is padded twice"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "{checked}");
}

/// Every pattern in the document matches the whole value (`^…$`, nothing outside), so
/// that engines which search and engines which match from the start agree.
#[test]
fn every_pattern_is_anchored_at_both_ends() {
    fn patterns(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(pattern)) = object.get("pattern") {
                    found.push(pattern.clone());
                }
                object.values().for_each(|v| patterns(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| patterns(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    patterns(&document(), &mut found);
    assert!(found.len() > 30, "{}", found.len());
    for pattern in found {
        assert!(
            pattern.starts_with('^') && pattern.ends_with('$'),
            "{pattern}"
        );
        // No `|` outside a group or a class: `^a|b$` would leave both ends half open.
        let (mut depth, mut class, mut escaped) = (0, false, false);
        for c in pattern.chars() {
            match (escaped, class, c) {
                (true, _, _) => escaped = false,
                (false, _, '\\') => escaped = true,
                (false, true, ']') => class = false,
                (false, false, '[') => class = true,
                (false, false, '(') => depth += 1,
                (false, false, ')') => depth -= 1,
                (false, false, '|') => assert!(depth > 0, "a top-level `|` in {pattern}"),
                _ => {}
            }
        }
        for construct in [r"\d", r"\w", r"\b", "(?=", "(?!", "(?<"] {
            assert!(!pattern.contains(construct), "{construct} in {pattern}");
        }
    }
}

#[test]
fn every_period_parameter_states_the_parsers_pattern() {
    let document = document();
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

/// A 409 or a 429 is the shared answer everywhere; when an operation gives it is said
/// in the operation's description.
#[test]
fn every_conflict_and_throttle_is_the_shared_answer() {
    let document = crate::openapi::document();
    let mut seen = 0;
    for (path, item) in &document.paths.paths {
        let mut item = item.clone();
        for operation in crate::openapi::responses::operations(&mut item) {
            for (status, name) in [("409", "Conflict"), ("429", "TooManyRequests")] {
                let Some(response) = operation.responses.responses.get(status) else {
                    continue;
                };
                seen += 1;
                assert!(
                    response
                        == &utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_response_name(
                            name
                        )),
                    "{path} {status} is not the shared {name}"
                );
                let description = operation.description.as_deref().unwrap_or_default();
                assert!(
                    description.contains(&format!("{status}: ")),
                    "{path}: its description says when it answers {status}"
                );
            }
        }
    }
    assert!(seen > 20, "the operations that answer 409 or 429");
}
