//! Request and response bodies the handlers read and build by hand, as
//! JSON Schema for the OpenAPI document, one file per group of routes.
//! Kept out of the handlers' files so those read as code; each schema
//! names the handler field by field, and the route-table test checks the
//! document against the routes served.

pub mod accounts;
pub mod common;
pub mod documents;
pub mod networks;
pub mod plugins;
pub mod resources;
pub mod services;
pub mod templates;
