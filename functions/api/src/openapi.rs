//! The OpenAPI document. Paths come from the handlers' `#[utoipa::path]`
//! through `utoipa-axum`, so a route is documented where it is mounted.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "PodOps API", description = "Podcast hosting and publishing: productions, shows, episodes, assets, uploads."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail, podops_core::service::UploadIntent)),
    tags(
        (name = "meta", description = "Version and API description"),
        (name = "auth", description = "Tokens"),
        (name = "productions", description = "Productions (shows' workspaces) and their members"),
        (name = "resources", description = "Shows, episodes and assets of a production"),
        (name = "media", description = "Uploads and signed media URLs"),
        (name = "feeds", description = "Published feeds (public)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The shape of every error response.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Machine-readable, stable: e.g. `resource.not_found`, `name.length`.
    #[schema(example = "resource.not_found")]
    code: String,
    /// For humans; may change between versions.
    message: String,
    /// Details such as the offending `field`.
    #[schema(value_type = Object)]
    params: serde_json::Value,
}
