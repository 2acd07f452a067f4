//! The OpenAPI document served at `/openapi.json`, generated from the
//! `#[utoipa::path]` declarations on the handlers and the body schemas in
//! `schemas/`, so that it cannot drift from the routes. It lists every
//! route file's handlers, so no route file imports it: what they share
//! (schemas, the error answers) is in `schemas/`.

use super::schemas::common::GetOpenApiResponse;
use super::schemas::responses::{
    BadRequest, Conflict, Forbidden, NoContent, NotFound, Unauthorized, Unavailable,
};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Flotilla API",
        description = "Flotilla speaks OneFlow's routes and shapes (/service, /service_template), plus VM templates, images, users, groups and plugins. HTTP Basic authentication on every route except /health, /ready, /metrics and /openapi.json. Request bodies are read as JSON whatever their Content-Type. Errors are JSON {\"error\": string, \"fields\"?: [{\"field\": string, \"reason\": string}]}: 400 bad input (naming the field), 401 missing or wrong credentials (with WWW-Authenticate: Basic, except to the dashboard: a request with its session cookie or X-Requested-With), 403 no permission, 404 not found, 409 wrong state or conflict, 503 engine not running."
    ),
    servers((url = "http://127.0.0.1:2474")),
    security(("basic" = [])),
    modifiers(&Components),
    tags(
        (name = "system"),
        (name = "plugins"),
        (name = "service_template"),
        (name = "service"),
        (name = "vm_template"),
        (name = "image"),
        (name = "vnet"),
        (name = "vntemplate"),
        (name = "host"),
        (name = "user"),
        (name = "group")
    ),
    paths(
        super::system::health,
        super::system::metrics,
        serve,
        super::plugins::list,
        super::plugins::install,
        super::plugins::remove,
        super::system::ready,
        super::plugins::reload,
        super::plugins::show,
        super::templates::list,
        super::templates::create,
        super::templates::show,
        super::templates::update,
        super::templates::delete,
        super::templates::action,
        super::simulate::simulate,
        super::services::list,
        super::services::show,
        super::services::update,
        super::services::delete,
        super::services::action,
        super::services::scale,
        super::explain::explain,
        super::services::role_action,
        super::services::role_vm_action,
        super::services::delete_sched_action,
        super::services::delete_role_sched_action,
        super::services::purge_done,
        super::resources::list_vm_templates,
        super::resources::create_vm_template,
        super::resources::show_vm_template,
        super::resources::update_vm_template,
        super::resources::delete_vm_template,
        super::resources::vm_template_action,
        super::resources::list_images,
        super::resources::create_image,
        super::resources::show_image,
        super::resources::update_image,
        super::resources::delete_image,
        super::resources::image_action,
        super::vnets::list_vnets,
        super::vnets::create_vnet,
        super::vnets::show_vnet,
        super::vnets::update_vnet,
        super::vnets::delete_vnet,
        super::vnets::vnet_action,
        super::vnets::reserve_vnet,
        super::vnets::list_vntemplates,
        super::vnets::create_vntemplate,
        super::vnets::show_vntemplate,
        super::vnets::update_vntemplate,
        super::vnets::vntemplate_action,
        super::vnets::delete_vntemplate,
        super::vnets::instantiate_vntemplate,
        super::hosts::list,
        super::hosts::create,
        super::hosts::show,
        super::hosts::action,
        super::hosts::delete,
        super::accounts::list_users,
        super::accounts::create_user,
        super::accounts::show_user,
        super::accounts::delete_user,
        super::accounts::user_action,
        super::accounts::list_groups,
        super::accounts::create_group,
        super::accounts::show_group,
        super::accounts::delete_group,
    ),
    components(
        responses(NoContent, BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable)
    )
)]
struct ApiDoc;

/// The named schemas (those the others refer to by `$ref`, which utoipa
/// does not follow), and HTTP Basic for every route but the open ones
/// (which say `security(())`).
struct Components;

impl Modify for Components {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        fn add<T: ToSchema>(components: &mut utoipa::openapi::Components) {
            components
                .schemas
                .insert(T::name().into_owned(), T::schema());
        }
        let components = openapi.components.get_or_insert_default();
        add::<super::error::Error>(components);
        add::<super::system::Health>(components);
        add::<super::schemas::plugins::PluginSummary>(components);
        add::<super::schemas::hosts::Host>(components);
        add::<super::schemas::hosts::HostCapacity>(components);
        add::<super::schemas::plugins::LinkSummary>(components);
        add::<super::schemas::common::RenameAction>(components);
        add::<super::schemas::common::ChmodAction>(components);
        add::<super::schemas::common::ChownAction>(components);
        add::<super::schemas::common::ChgrpAction>(components);
        add::<super::schemas::common::ActionRequest>(components);
        add::<super::schemas::documents::PermissionsSchema>(components);
        add::<super::schemas::documents::Document>(components);
        add::<super::schemas::documents::ServiceTemplateDocument>(components);
        add::<super::schemas::documents::ServiceDocument>(components);
        add::<super::schemas::documents::DocumentResponse>(components);
        add::<super::schemas::documents::DocumentPool>(components);
        add::<super::schemas::documents::VmNode>(components);
        add::<super::schemas::documents::ScheduledAction>(components);
        add::<super::schemas::documents::ServiceRole>(components);
        add::<super::schemas::documents::ServiceBody>(components);
        add::<super::schemas::templates::ElasticityPolicy>(components);
        add::<super::schemas::templates::ScheduledPolicy>(components);
        add::<super::schemas::templates::Role>(components);
        add::<super::schemas::templates::ServiceTemplateBody>(components);
        add::<super::schemas::services::BatchParams>(components);
        add::<super::schemas::resources::AttributesDocument>(components);
        add::<super::schemas::resources::VmTemplateResponse>(components);
        add::<super::schemas::resources::VmTemplatePool>(components);
        add::<super::schemas::resources::ImageResponse>(components);
        add::<super::schemas::resources::ImagePool>(components);
        add::<super::schemas::resources::Disk>(components);
        add::<super::schemas::resources::VmTemplateCreate>(components);
        add::<super::schemas::resources::ImageCreate>(components);
        add::<super::schemas::resources::AttributesUpdate>(components);
        add::<super::schemas::networks::VnetResponse>(components);
        add::<super::schemas::networks::VnetPool>(components);
        add::<super::schemas::networks::VntemplateResponse>(components);
        add::<super::schemas::networks::VntemplatePool>(components);
        add::<super::schemas::networks::VnetCreate>(components);
        add::<super::schemas::networks::ReserveRequest>(components);
        add::<super::schemas::networks::InstantiateNetwork>(components);
        add::<super::schemas::accounts::User>(components);
        add::<super::schemas::accounts::UserResponse>(components);
        add::<super::schemas::accounts::UserPool>(components);
        add::<super::schemas::accounts::Group>(components);
        add::<super::schemas::accounts::GroupResponse>(components);
        add::<super::schemas::accounts::GroupPool>(components);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.put, &mut item.post, &mut item.delete] {
                if let Some(body) = operation.as_mut().and_then(|o| o.request_body.as_mut()) {
                    may_be_left_out(body);
                }
            }
        }
    }
}

/// utoipa states a body that may be left out (an `Option` one, not
/// required) as "null or the schema"; the handlers refuse a `null` body,
/// so such a body is stated as the schema alone.
fn may_be_left_out(body: &mut utoipa::openapi::request_body::RequestBody) {
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &mut content.schema else {
            continue;
        };
        let is_null = |schema: &RefOr<Schema>| matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
        if let [null, schema] = one_of.items.as_mut_slice()
            && is_null(null)
        {
            content.schema = Some(std::mem::take(schema));
        }
    }
}

/// The document, as served.
fn document() -> String {
    // Through `serde_json::Value`, whose objects keep their keys sorted, so
    // that the document is the same from one start to the next (the
    // verbatim schemas' members are hashed).
    serde_json::to_value(ApiDoc::openapi())
        .and_then(|value| serde_json::to_string(&value))
        .unwrap_or_else(|e| format!("{{\"error\": \"the OpenAPI document: {e}\"}}"))
}

/// The OpenAPI document of this API, generated once.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApi",
    tag = "system",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "OpenAPI 3.1 document.", body = inline(GetOpenApiResponse))
    ),
    security(())
)]
pub(super) async fn serve() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(document);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}
