//! What utoipa writes in a way generated clients read wrongly, corrected once the
//! document is built.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::Modify;

/// utoipa copies the type argument of a generic envelope (`DataBody<Instance>`,
/// `Paginated<InstanceListItem>`) into the envelope's component instead of referring to
/// it, so clients would get one class per envelope rather than one per shape. Each such
/// copy of a named object schema becomes a `$ref` to it.
pub struct NamedTypeArguments;

impl Modify for NamedTypeArguments {
    fn modify(&self, document: &mut Document) {
        let Some(components) = document.components.as_mut() else {
            return;
        };
        let named: Vec<(String, Schema)> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| match schema {
                RefOr::T(schema) if is_object_like(schema) => Some((name.clone(), schema.clone())),
                _ => None,
            })
            .collect();
        for schema in components.schemas.values_mut() {
            if let RefOr::T(schema) = schema {
                refer_below(schema, &named);
            }
        }
    }
}

fn is_object_like(schema: &Schema) -> bool {
    match schema {
        Schema::Object(object) => !object.properties.is_empty(),
        Schema::AllOf(_) => true,
        _ => false,
    }
}

/// Points every copy of a named schema below `schema` (not `schema` itself) at its name.
fn refer_below(schema: &mut Schema, named: &[(String, Schema)]) {
    match schema {
        Schema::Object(object) => {
            for property in object.properties.values_mut() {
                refer(property, named);
            }
            if let Some(AdditionalProperties::RefOr(values)) =
                object.additional_properties.as_deref_mut()
            {
                refer(values, named);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                refer(items, named);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|i| refer(i, named)),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(|i| refer(i, named)),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|i| refer(i, named)),
        _ => {}
    }
}

fn refer(schema: &mut RefOr<Schema>, named: &[(String, Schema)]) {
    let RefOr::T(inner) = schema else {
        return;
    };
    match named.iter().find(|(_, candidate)| candidate == inner) {
        Some((name, _)) => *schema = RefOr::Ref(Ref::from_schema_name(name.as_str())),
        None => refer_below(inner, named),
    }
}

/// `request_body(content = Option<T>)` is how utoipa marks a body that may be left out,
/// but it also writes its schema as "`T` or `null`", and a body of JSON `null` is refused
/// (400). Such a body stays optional with the schema `T`.
pub struct OptionalBodiesAreNotNull;

impl Modify for OptionalBodiesAreNotNull {
    fn modify(&self, document: &mut Document) {
        let null = Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build());
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                let Some(body) = operation.request_body.as_mut() else {
                    continue;
                };
                if body.required.is_some() {
                    continue;
                }
                for content in body.content.values_mut() {
                    let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                        continue;
                    };
                    if let [RefOr::T(first), only] = one_of.items.as_slice() {
                        if *first == null {
                            content.schema = Some(only.clone());
                        }
                    }
                }
            }
        }
    }
}

/// A field of a named type written inline (`value_type = PhoneNumber, inline`) with a
/// description of its own comes out as a one-branch `oneOf` carrying the description;
/// clients read that as a union. The field becomes the type's schema with the field's
/// description.
pub struct InlineTypesAreNotUnions;

impl Modify for InlineTypesAreNotUnions {
    fn modify(&self, document: &mut Document) {
        let Some(components) = document.components.as_mut() else {
            return;
        };
        for schema in components.schemas.values_mut() {
            let RefOr::T(Schema::Object(object)) = schema else {
                continue;
            };
            for property in object.properties.values_mut() {
                let RefOr::T(Schema::OneOf(one_of)) = property else {
                    continue;
                };
                let [RefOr::T(Schema::Object(only))] = one_of.items.as_slice() else {
                    continue;
                };
                let mut only = only.clone();
                if one_of.description.is_some() {
                    only.description = one_of.description.clone();
                }
                *property = RefOr::T(Schema::Object(only));
            }
        }
    }
}

/// An operation that states no security needs none (login, the Evolution webhooks,
/// `/health`, `/ready`): it says so with `security: []`, so that generators do not apply
/// a document-wide default.
pub struct PublicOperationsSaySo;

impl Modify for PublicOperationsSaySo {
    fn modify(&self, document: &mut Document) {
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                operation.security.get_or_insert_with(Vec::new);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_states_its_security() {
        let document = crate::openapi::document();
        let mut public = Vec::new();
        for (path, item) in &document.paths.paths {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                let security = operation.security.as_ref();
                assert!(security.is_some(), "{path} states no security");
                if security.is_some_and(Vec::is_empty) {
                    public.push(path.clone());
                }
            }
        }
        public.sort();
        assert_eq!(
            public,
            [
                "/api/v1/auth/login",
                "/api/v1/webhooks/evolution/{token}",
                "/api/v1/webhooks/evolution/{token}/{event}",
                "/health",
                "/ready",
            ]
        );
    }

    #[test]
    fn no_operation_takes_a_null_body() {
        let document = crate::openapi::document();
        for item in document.paths.paths.values() {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                let Some(body) = &operation.request_body else {
                    continue;
                };
                for content in body.content.values() {
                    let json = serde_json::to_string(&content.schema).unwrap();
                    assert!(!json.contains(r#""type":"null""#), "{json}");
                }
            }
        }
    }

    #[test]
    fn no_component_holds_a_copy_of_another() {
        let schemas = &crate::openapi::document()
            .components
            .as_ref()
            .unwrap()
            .schemas;
        let json = |schema: &RefOr<Schema>| serde_json::to_string(schema).unwrap();
        for (name, schema) in schemas {
            for (other, copied) in schemas {
                let RefOr::T(copied_schema) = copied else {
                    continue;
                };
                if other != name && is_object_like(copied_schema) {
                    assert!(
                        !json(schema).contains(&json(copied)),
                        "{name} holds a copy of {other}"
                    );
                }
            }
        }
        let envelopes = schemas.keys().filter(|name| name.starts_with("DataBody_"));
        assert!(envelopes.count() > 0, "the check saw generic envelopes");
    }
}
