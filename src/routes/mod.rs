//! The route table: one module per resource of API.md, merged here.
//! `/api/v1` and `/api/v2` serve the same routes (the envelope layer gives
//! v2 its shape); operations routes sit at the root.

mod ops;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, ErrorCode};
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// The `/api/v1` resources (also served under `/api/v2`).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Every route, the OpenAPI document at `/openapi.json` and the docs page at `/docs`.
pub fn router() -> Router<AppState> {
    let (documented, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .nest("/api/v1", api())
        .split_for_parts();
    let (v2, _) = api().split_for_parts();
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
