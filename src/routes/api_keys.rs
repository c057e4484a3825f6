//! API keys (API.md 2.4): made here, shown once, accepted as bearer tokens.

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::accounts::Accounts;
use chorus_actors::model::ApiKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::openapi::fields;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(delete_key))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKeyBody {
    /// To tell keys apart.
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// RFC 3339, in the future; the key stops working then. Omit for a key that does not expire.
    #[schema(min_length = 20)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// The key itself: present only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeyView {
    fn new(k: &ApiKey, key: Option<String>) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: rfc3339_ms(k.created_at),
            expires_at: k.expires_at.map(rfc3339_ms),
            key,
        }
    }
}

/// Makes an API key. The key is in this answer only; chorus keeps a hash.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = NewKeyBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = KeyView), (status = 422, description = "bad name or expiry"),
        (status = 429, description = "limits.max_api_keys_per_user reached")))]
async fn create_key(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<NewKeyBody>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let made = state
        .core
        .accounts()
        .create_api_key(
            me.user.id,
            &body.name,
            body.expires_at.map(|t| t.timestamp_millis()),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyView::new(&made.record, Some(made.key))),
    ))
}

/// The caller's keys, newest first, without the keys themselves.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [KeyView])))]
async fn list_keys(
    State(accounts): State<Accounts>,
    me: CurrentUser,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = accounts.api_keys(me.user.id)?;
    Ok(Json(keys.iter().map(|k| KeyView::new(k, None)).collect()))
}

/// Deletes a key; requests with it are refused from now on.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path, description = "key id")),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such key of yours")))]
async fn delete_key(
    State(accounts): State<Accounts>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    accounts.delete_api_key(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
