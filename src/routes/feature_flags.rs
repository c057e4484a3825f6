//! The caller's own feature flags (API.md 10): every flag, evaluated for
//! them from the in-memory snapshot, so clients can branch on `flags.<key>`.

use std::collections::BTreeMap;

use axum::extract::State;
use chorus_actors::flags::FeatureFlags;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentUser;
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(my_flags))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyFlags {
    /// Every flag's key, and whether it is on for the caller (a disabled
    /// flag is `false`). A key that is missing names no flag.
    pub flags: BTreeMap<String, bool>,
}

/// # `GET /api/v1/feature-flags`
/// The caller's evaluated flags.
#[utoipa::path(get, path = "/feature-flags", tag = "users",
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = MyFlags)))]
async fn my_flags(State(flags): State<FeatureFlags>, me: CurrentUser) -> Json<MyFlags> {
    let flags = flags
        .evaluate_all(me.user.id, me.user.role)
        .into_iter()
        .map(|(key, on, _)| (key, on))
        .collect();
    Json(MyFlags { flags })
}
