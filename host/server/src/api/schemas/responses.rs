//! The answers every operation shares, each named once under
//! `components.responses`: an empty 204, and the errors with an `Error`
//! body.

use utoipa::ToResponse;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

/// A response answered with an `Error` body.
fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

/// The error answers every operation shares, each named once under
/// `components.responses`.
macro_rules! error_responses {
    ($($name:ident: $description:literal;)*) => {
        $(
            pub(crate) enum $name {}

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description).into())
                }
            }
        )*
    };
}

error_responses! {
    BadRequest: "Bad input; the message (and `fields`) names the field.";
    Forbidden: "The caller may not do this.";
    NotFound: "No such resource.";
    Conflict: "Wrong state, or a conflict with another resource.";
    Unavailable: "The engine is not running (its driver plugin did not load).";
}

pub(crate) enum NoContent {}

impl<'r> ToResponse<'r> for NoContent {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "NoContent",
            ResponseBuilder::new()
                .description("Done; empty body.")
                .build()
                .into(),
        )
    }
}

pub(crate) enum Unauthorized {}

impl<'r> ToResponse<'r> for Unauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = error_response("Missing or wrong credentials.");
        let header = utoipa::openapi::header::HeaderBuilder::new()
            .schema(super::verbatim(serde_json::json!({
                "type": "string",
                "examples": ["Basic realm=\"flotilla\""],
            })))
            .build();
        response
            .headers
            .insert("WWW-Authenticate".to_string(), header);
        ("Unauthorized", response.into())
    }
}
