//! utoipa writes the type argument of a generic schema inline: `DataBody_User.data` is a
//! copy of `User`, not a `$ref` to it (juhaku/utoipa#1586). Generated clients would then
//! get one more class per envelope for the same shape. [`GenericArgumentRefs`] puts the
//! `$ref` back wherever a component's property (or array item) is an exact copy of
//! another named component.

use serde_json::Value;
use utoipa::openapi::schema::{ArrayItems, Ref, Schema};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

pub struct GenericArgumentRefs;

impl Modify for GenericArgumentRefs {
    fn modify(&self, document: &mut Document) {
        let Some(components) = document.components.as_mut() else {
            return;
        };
        let named: Vec<(String, Value)> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| {
                let value = serde_json::to_value(schema).ok()?;
                let is_shape = value.get("properties").is_some() || value.get("allOf").is_some();
                is_shape.then(|| (name.clone(), value))
            })
            .collect();
        for schema in components.schemas.values_mut() {
            if let RefOr::T(schema) = schema {
                refer_to_copies_within(schema, &named);
            }
        }
    }
}

/// Replaces by a `$ref` each subschema of `schema` (not `schema` itself) that is a copy
/// of a named component.
fn refer_to_copies_within(schema: &mut Schema, named: &[(String, Value)]) {
    let children: Vec<&mut RefOr<Schema>> = match schema {
        Schema::Object(object) => object.properties.values_mut().collect(),
        Schema::Array(array) => match &mut array.items {
            ArrayItems::RefOrSchema(items) => vec![items.as_mut()],
            _ => Vec::new(),
        },
        Schema::AllOf(all_of) => all_of.items.iter_mut().collect(),
        Schema::OneOf(one_of) => one_of.items.iter_mut().collect(),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        let RefOr::T(inner) = child else {
            continue;
        };
        let copy_of = serde_json::to_value(&*inner)
            .ok()
            .and_then(|value| named.iter().find(|(_, named)| *named == value));
        match copy_of {
            Some((name, _)) => *child = RefOr::Ref(Ref::from_schema_name(name.as_str())),
            None => refer_to_copies_within(inner, named),
        }
    }
}
