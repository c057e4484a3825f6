//! The route table: one module per resource of API.md, merged here with
//! their auth and rate-limit layers. `/api/v1` and `/api/v2` serve the same
//! routes (the envelope layer gives v2 its shape); operations routes sit at
//! the root.

mod admin_audit;
mod admin_dashboard;
mod admin_impersonate;
mod admin_jobs;
mod admin_users;
mod ai;
mod api_keys;
mod auth;
mod chat;
mod console;
mod contact;
mod conversations;
mod documents;
mod files;
mod jobs;
mod notifications;
mod openai;
mod ops;
mod personas;
mod plugin_state;
mod projects;
mod setting_instances;
mod setting_types;
mod settings;
mod tags;
mod tickets;
mod usage;
pub mod users;
mod webhooks_in;
mod ws;

mod admin_flags;
mod admin_usage;
mod feature_flags;
mod settings_audit;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::check_ip;
use crate::auth::guard::{Callers, GuardLayer};
use crate::error::{ApiError, ErrorKind};
use crate::openapi::{self, ApiDoc, Layer};
use crate::rate_limit::RateClass;
use crate::state::AppState;

/// The `/api/v1` resources (also served under `/api/v2`), each group with
/// its auth and rate class.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    let public = per_ip(state, ai::public_router(), RateClass::Default);
    let public_auth = per_ip(state, auth::public_router(), RateClass::Auth);
    let public_contact = per_ip(state, contact::public_router(), RateClass::Contact);
    // Senders such as Stripe burst from a few IPs: the default class, not `auth`.
    let webhook_senders = per_ip(state, webhooks_in::public_router(), RateClass::Default);
    let signed_urls = per_ip(state, files::content_router(), RateClass::Default);
    let checks_a_password = signed_in(state, auth::password_router(), RateClass::Auth);
    let calls_a_model = signed_in(
        state,
        chat::ai_router()
            .merge(ai::ai_router())
            .merge(tickets::ai_router()),
        RateClass::Ai,
    );
    let everything_else = OpenApiRouter::new()
        .merge(auth::router())
        .merge(conversations::router())
        .merge(personas::router())
        .merge(tags::router())
        .merge(chat::router())
        .merge(ai::router())
        .merge(usage::router())
        .merge(users::router())
        .merge(api_keys::router())
        .merge(admin_users::router())
        .merge(jobs::router())
        .merge(documents::router(state.config.limits.upload_bytes))
        .merge(tickets::router())
        .merge(projects::router())
        .merge(contact::router())
        .merge(webhooks_in::router())
        .merge(settings::router())
        .merge(setting_instances::router())
        .merge(plugin_state::router())
        .merge(files::router())
        .merge(admin_jobs::router())
        .merge(admin_dashboard::router())
        .merge(admin_audit::router())
        .merge(admin_impersonate::router())
        .merge(admin_flags::router())
        .merge(feature_flags::router())
        .merge(admin_usage::router())
        .merge(notifications::router());
    let everything_else = signed_in(state, everything_else, RateClass::Default);
    let websocket = signed_in(state, ws::router(), RateClass::Default)
        .route_layer(axum::middleware::from_fn(ws::token_from_query));
    public
        .merge(public_auth)
        .merge(public_contact)
        .merge(webhook_senders)
        .merge(signed_urls)
        .merge(checks_a_password)
        .merge(calls_a_model)
        .merge(everything_else)
        .merge(websocket)
}

/// `router` for signed-in callers of rate class `class`; its document lists
/// what that layer answers.
fn signed_in(
    state: &AppState,
    mut router: OpenApiRouter<AppState>,
    class: RateClass,
) -> OpenApiRouter<AppState> {
    openapi::answers(router.get_openapi_mut(), Layer::SignedIn);
    router.route_layer(GuardLayer::new(state, class, Callers::SignedIn))
}

/// `router` for anyone, limited per IP in rate class `class`.
fn per_ip(
    state: &AppState,
    mut router: OpenApiRouter<AppState>,
    class: RateClass,
) -> OpenApiRouter<AppState> {
    openapi::answers(router.get_openapi_mut(), Layer::PerIp);
    router.route_layer(GuardLayer::new(state, class, Callers::Anyone))
}

/// Every route, the OpenAPI document at `/openapi.json` and the docs page at `/docs`.
pub fn router(state: &AppState) -> Router<AppState> {
    let openai = signed_in(state, openai::model_router(), RateClass::Default).merge(signed_in(
        state,
        openai::chat_router(),
        RateClass::Ai,
    ));
    let (documented, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(openai)
        .nest("/api/v1", api(state))
        .split_for_parts();
    let spec = openapi::finish(spec, state);
    let (v2, _) = api(state).split_for_parts();
    documented
        .nest("/api/v2", v2)
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", spec))
        .merge(console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Unknown paths: 404.
async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    let error = ApiError::new(ErrorKind::NotFound, "no such route");
    with_default_class(&state, req, error)
}

/// A known path asked with a method it does not take: 405.
async fn method_not_allowed(State(state): State<AppState>, req: Request) -> Response {
    let error = ApiError::from_code(ErrorKind::MethodNotAllowed);
    with_default_class(&state, req, error)
}

/// `error`, answered to a request no route took. Under `/api/` and `/v1/`
/// it carries the rate-limit headers of the default class, as every API
/// answer does, and counts against the client's IP (no credential is
/// checked for it).
fn with_default_class(state: &AppState, req: Request, error: ApiError) -> Response {
    let (parts, _) = req.into_parts();
    let path = parts.uri.path();
    if !(path.starts_with("/api/") || path.starts_with("/v1/")) {
        return error.into_response();
    }
    match check_ip(state, RateClass::Default, &parts) {
        Ok(info) => {
            let mut response = error.into_response();
            info.write_headers(response.headers_mut());
            response
        }
        Err(limited) => limited.into_response(),
    }
}

/// `?skip=&limit=` of a paged list (API.md 0.2).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Items to skip, from 0.
    #[param(schema_with = crate::openapi::fields::skip)]
    pub skip: Option<i64>,
    /// Items to answer, 1-100 (default 20).
    #[param(schema_with = crate::openapi::fields::limit)]
    pub limit: Option<i64>,
}
