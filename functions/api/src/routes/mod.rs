//! The route groups, and `router`, which mounts them all behind the shared
//! middleware (request ids, tracing, body limit, error-shaped fallback).

pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod backups;
pub mod build;
pub mod channels;
pub mod external_ids;
pub mod feed_imports;
pub mod feeds;
pub mod imports;
pub mod live;
pub mod media;
pub mod meta;
pub mod productions;
pub mod public;
pub mod recordings;
pub mod renditions;
pub mod resources;
pub mod schedules;
pub mod streams;
pub mod system;
pub mod tokens;
pub mod upload;
pub mod users;
pub mod webhooks;

use axum::{
    extract::DefaultBodyLimit,
    http::{HeaderName, Request},
    response::IntoResponse,
    Router,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ApiError, openapi::ApiDoc, state::AppState};

/// Every route group, with its OpenAPI paths.
pub fn all_groups() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(meta::routes())
        .merge(tokens::routes())
        .merge(accounts::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(public::routes())
        .merge(productions::routes())
        .merge(resources::routes())
        .merge(upload::routes())
        .merge(media::routes())
        .merge(build::routes())
        .merge(feeds::routes())
        .merge(renditions::routes())
        .merge(external_ids::routes())
        .merge(imports::routes())
        .merge(feed_imports::routes())
        .merge(backups::routes())
        .merge(analytics::routes())
        .merge(streams::routes())
        .merge(recordings::routes())
        .merge(streams::event_routes())
        .merge(live::routes())
        .merge(system::routes())
        .merge(webhooks::routes())
        .merge(schedules::routes())
        .merge(channels::routes())
}

/// The OpenAPI document of `all_groups`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = all_groups().split_for_parts().1;
    crate::contract::complete(&mut doc);
    doc
}

/// The whole API as one router, as `podops serve` mounts it.
pub fn router(state: AppState) -> Router {
    finish(all_groups(), state)
}

/// One group (or any merge of groups) with the shared middleware: what a
/// Lambda function serves.
pub fn finish(groups: OpenApiRouter<AppState>, state: AppState) -> Router {
    let (routes, _) = groups.split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    let json_limit = state.limits.json_body;
    routes
        .fallback(|| async { ApiError::not_found_route().into_response() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "route.method_not_allowed", "method not allowed here")
                .into_response()
        })
        // Per matched route (its pattern is the label), so only after routing.
        .route_layer(axum::middleware::from_fn(crate::metrics::record))
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::from_fn(crate::auth::logged_in_as))
        .layer(axum::middleware::from_fn(crate::negotiate::Format::errors_as_asked))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }).on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
