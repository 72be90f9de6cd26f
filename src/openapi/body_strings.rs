//! Relevo trims every string of a JSON body before reading it, and reads a blank one as
//! `null` ([`crate::input::Input`]). [`TrimmedBodyStrings`] says so on every string
//! property of a request body, so that the document admits exactly what the server
//! takes: a pattern admits whitespace around its values, a nullable string admits a blank
//! one, and a string that may not be `null` may not be blank either. Handlers state each
//! field's own rule, anchored (`^…$`); the named types (`PhoneNumber`, `HttpUrl`) state
//! theirs already padded.

use std::collections::BTreeSet;

use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

use crate::domain::{not_blank, padded, padded_or_blank, WHITESPACE};

/// Bodies read as they come, not through `Input`: Evolution's webhook envelopes.
const NOT_TRIMMED: &[&str] = &[
    "EvolutionWebhookEnvelope",
    "EvolutionWebhookByEventEnvelope",
];

pub struct TrimmedBodyStrings;

impl Modify for TrimmedBodyStrings {
    fn modify(&self, document: &mut Document) {
        let bodies = request_bodies(document);
        let Some(components) = document.components.as_mut() else {
            return;
        };
        for name in bodies {
            if NOT_TRIMMED.contains(&name.as_str()) {
                continue;
            }
            let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut(&name) else {
                continue;
            };
            for property in body.properties.values_mut() {
                if let RefOr::T(Schema::Object(property)) = property {
                    state_trimming(property);
                }
            }
        }
    }
}

fn state_trimming(property: &mut Object) {
    let (string, nullable) = match &property.schema_type {
        SchemaType::Type(Type::String) => (true, false),
        SchemaType::Array(types) => (types.contains(&Type::String), types.contains(&Type::Null)),
        _ => (false, false),
    };
    // An `enum` lists its values exactly; `format`s have no room for whitespace.
    if !string || property.enum_values.is_some() {
        return;
    }
    let padding = format!("^{WHITESPACE}*");
    property.pattern = match (property.pattern.take(), nullable) {
        // A named type's pattern (`PhoneNumber`, `HttpUrl`) says so already.
        (Some(pattern), _) if pattern.starts_with(&padding) => Some(pattern),
        (Some(pattern), false) => Some(padded(&pattern)),
        (Some(pattern), true) => Some(padded_or_blank(&pattern)),
        (None, false) => Some(not_blank()),
        (None, true) => None,
    };
}

/// The names of the components that are request bodies.
fn request_bodies(document: &Document) -> BTreeSet<String> {
    document
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.get, &item.put, &item.post, &item.delete, &item.patch])
        .flatten()
        .filter_map(|operation| operation.request_body.as_ref())
        .flat_map(|body| body.content.values())
        .filter_map(|content| match &content.schema {
            Some(RefOr::Ref(reference)) => reference
                .ref_location
                .strip_prefix("#/components/schemas/")
                .map(str::to_string),
            _ => None,
        })
        .collect()
}
