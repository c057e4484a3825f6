//! The route table: one module per resource of API.md, merged here with
//! their auth and rate-limit layers. `/api/v1` and `/api/v2` serve the same
//! routes (the envelope layer gives v2 its shape); operations routes sit at
//! the root.

mod admin_users;
mod api_keys;
mod auth;
mod chat;
mod conversations;
mod ops;
pub mod users;

use axum::Router;
use axum::middleware::from_fn_with_state;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{limit_by_ip, require_user};
use crate::error::{ApiError, ErrorCode};
use crate::openapi::ApiDoc;
use crate::rate_limit::RateClass;
use crate::state::AppState;

/// The `/api/v1` resources (also served under `/api/v2`).
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    let public_auth = auth::public_router().route_layer(from_fn_with_state(
        (state.clone(), RateClass::Auth),
        limit_by_ip,
    ));
    let ai = chat::ai_router().route_layer(from_fn_with_state(
        (state.clone(), RateClass::Ai),
        require_user,
    ));
    let signed_in = OpenApiRouter::new()
        .merge(auth::router())
        .merge(conversations::router())
        .merge(chat::router())
        .merge(users::router())
        .merge(api_keys::router())
        .merge(admin_users::router())
        .route_layer(from_fn_with_state(
            (state.clone(), RateClass::Default),
            require_user,
        ));
    public_auth.merge(ai).merge(signed_in)
}

/// Every route, the OpenAPI document at `/openapi.json` and the docs page at `/docs`.
pub fn router(state: &AppState) -> Router<AppState> {
    let (documented, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .nest("/api/v1", api(state))
        .split_for_parts();
    let (v2, _) = api(state).split_for_parts();
    documented
        .nest("/api/v2", v2)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::from_code(ErrorCode::MethodNotAllowed)
}
