//! Request and response bodies the handlers read and build by hand, as
//! JSON Schema for the OpenAPI document, one file per group of routes,
//! and the error answers every route shares (`responses.rs`). Kept out of
//! the handlers' files so those read as code; each schema names the
//! handler field by field, and the route-table test checks the document
//! against the routes served.
//!
//! A leaf of the API's modules: it imports no route file, so the route
//! files and `openapi.rs` (which lists them) can both import it.

pub mod accounts;
pub mod common;
pub mod documents;
pub mod hosts;
pub mod networks;
pub mod plugins;
pub mod resources;
pub mod responses;
pub mod services;
pub mod templates;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType};

/// A body schema written in JSON Schema next to the code that reads or
/// builds that body by hand. utoipa's schema types cannot state some of
/// what the API promises (`const`, a `oneOf` beside `properties`), so the
/// schema is carried through as written: its keys go out as the members
/// of an otherwise empty schema object.
macro_rules! json_schema {
    ($name:ident, { $($schema:tt)* }) => {
        json_schema!($name as stringify!($name), { $($schema)* });
    };
    // A name other than the type's, for a type whose name is taken.
    ($name:ident as $title:expr, { $($schema:tt)* }) => {
        // Never a value: it only names a schema.
        pub(crate) enum $name {}

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::api::schemas::verbatim(serde_json::json!({ $($schema)* }))
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($title)
            }
        }
    };
}
pub(crate) use json_schema;

/// `schema` (a JSON object) as a utoipa schema that serializes to exactly
/// `schema`.
pub(crate) fn verbatim(schema: serde_json::Value) -> RefOr<Schema> {
    // `json_schema!` takes only an object literal.
    let serde_json::Value::Object(members) = schema else {
        return RefOr::T(Schema::default());
    };
    let mut object = ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .build();
    object.extensions = Some(members.into_iter().collect());
    RefOr::T(Schema::Object(object))
}
