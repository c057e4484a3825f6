//! Setting values (API.md 8): the caller's values of user and page scope,
//! and everyone's of system scope (written by admins only). One value per
//! (user, definition, scope, page): `POST` of an existing one replaces its value.
//! And the effective value of a setting for the caller (`/settings/resolve/{definition_id}`).

use axum::extract::State;
use axum::http::StatusCode;
use chorus_actors::model::SettingInstance;
use chorus_actors::settings::{InstanceFilter, NewInstance, Settings};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::settings::{
    ScopeName, caller, id_or_null, id_schema, page_id_schema_or_null, page_id_value,
};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set, list))
        .routes(routes!(get_one, replace, patch, delete))
        .routes(routes!(resolve))
}

#[derive(Debug, Deserialize)]
pub struct InstanceBody {
    pub definition_id: String,
    pub scope: ScopeName,
    pub page_id: Option<String>,
    pub value: Value,
}

impl ToSchema for InstanceBody {}
impl utoipa::PartialSchema for InstanceBody {
    /// `page_id` with scope `page` only, and then required.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let shape = |scopes: Value, page: Value, required: Value| {
            json!({"type": "object", "required": required, "properties": {
                "definition_id": id_schema(),
                "scope": {"type": "string", "enum": scopes},
                "page_id": page,
                "value": {"description": "Of the definition's type, passing its validation."},
            }})
        };
        let page = shape(
            json!(["page"]),
            page_id_value(),
            json!(["definition_id", "scope", "page_id", "value"]),
        );
        let wide = shape(
            json!(["system", "user"]),
            json!({"type": "null"}),
            json!(["definition_id", "scope", "value"]),
        );
        utoipa::openapi::RefOr::T(fields::raw(json!({"oneOf": [page, wide]})))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValueBody {
    #[schema(schema_with = fields::any)]
    pub value: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    pub id: Uuid,
    pub definition_id: String,
    pub scope: ScopeName,
    pub page_id: Option<String>,
    #[schema(schema_with = fields::any)]
    pub value: Value,
    /// The owner; null for a system value, which applies to everyone.
    pub user_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<SettingInstance> for InstanceView {
    type Error = ApiError;
    fn try_from(i: SettingInstance) -> Result<Self, ApiError> {
        Ok(Self {
            value: i.value.parse()?,
            id: i.id,
            definition_id: i.definition_id,
            scope: i.scope.into(),
            page_id: i.page_id,
            user_id: (!i.user_id.is_nil()).then_some(i.user_id),
            created_at: rfc3339_ms(i.created_at),
            updated_at: rfc3339_ms(i.updated_at),
        })
    }
}

/// # `POST /api/v1/settings/instances`
/// Sets a value: 201 when new, 200 when it replaced the value of the
/// caller's existing one for the same definition, scope and page.
#[utoipa::path(post, path = "/settings/instances", tag = "settings", request_body = InstanceBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = InstanceView), (status = 200, body = InstanceView, description = "the existing value replaced"),
        (status = 403, description = "scope system without the admin role"),
        (status = 404, description = "no such setting definition"),
        (status = 422, description = "a scope the definition does not allow, or a rule the value fails (`details.rule`)"),
        (status = 429, description = "limits.max_setting_instances_per_user reached")))]
async fn set(
    State(settings): State<Settings>,
    me: CurrentUser,
    Json(body): Json<InstanceBody>,
) -> Result<(StatusCode, Json<InstanceView>), ApiError> {
    let new = NewInstance {
        definition_id: body.definition_id,
        scope: body.scope.into(),
        page_id: body.page_id,
        value: body.value,
    };
    let (inst, created) = settings.set(caller(&me), new).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(inst.try_into()?)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InstanceQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Only values of this definition.
    #[param(schema_with = id_or_null)]
    pub definition_id: Option<String>,
    /// Only values of this scope.
    pub scope: Option<ScopeName>,
}

/// # `GET /api/v1/settings/instances`
/// The values that apply to the caller: theirs and the system's, newest first.
#[utoipa::path(get, path = "/settings/instances", tag = "settings", params(InstanceQuery),
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = Page<InstanceView>)))]
async fn list(
    State(settings): State<Settings>,
    me: CurrentUser,
    Query(q): Query<InstanceQuery>,
) -> Result<Json<Page<InstanceView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let filter = InstanceFilter {
        definition_id: q.definition_id,
        scope: q.scope.map(Into::into),
    };
    let (items, total) = settings.instances_page(caller(&me), &filter, skip, limit)?;
    let items = items
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// # `GET /api/v1/settings/instances/{id}`
/// One of the caller's values, or a system value.
#[utoipa::path(get, path = "/settings/instances/{id}", tag = "settings", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = InstanceView), (status = 404, description = "no such value of yours")))]
async fn get_one(
    State(settings): State<Settings>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(settings.instance(caller(&me), id)?.try_into()?))
}

async fn update(
    settings: &Settings,
    me: &CurrentUser,
    id: Uuid,
    value: Value,
) -> Result<Json<InstanceView>, ApiError> {
    Ok(Json(
        settings.update(caller(me), id, value).await?.try_into()?,
    ))
}

/// # `PUT /api/v1/settings/instances/{id}`
/// Replaces the value.
#[utoipa::path(put, path = "/settings/instances/{id}", tag = "settings", params(("id" = Uuid, Path)), request_body = ValueBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = InstanceView), (status = 403, description = "a system value without the admin role"),
        (status = 404, description = "no such value of yours"), (status = 422, description = "a rule the value fails (`details.rule`)")))]
async fn replace(
    State(settings): State<Settings>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ValueBody>,
) -> Result<Json<InstanceView>, ApiError> {
    update(&settings, &me, id, body.value).await
}

/// # `PATCH /api/v1/settings/instances/{id}`
/// Replaces the value (the one field a value has to change).
#[utoipa::path(patch, path = "/settings/instances/{id}", tag = "settings", params(("id" = Uuid, Path)), request_body = ValueBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = InstanceView), (status = 403, description = "a system value without the admin role"),
        (status = 404, description = "no such value of yours"), (status = 422, description = "a rule the value fails (`details.rule`)")))]
async fn patch(
    State(settings): State<Settings>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ValueBody>,
) -> Result<Json<InstanceView>, ApiError> {
    update(&settings, &me, id, body.value).await
}

/// # `DELETE /api/v1/settings/instances/{id}`
#[utoipa::path(delete, path = "/settings/instances/{id}", tag = "settings", params(("id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 403, description = "a system value without the admin role"),
        (status = 404, description = "no such value of yours")))]
async fn delete(
    State(settings): State<Settings>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    settings.delete(caller(&me), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResolveQuery {
    /// The page to resolve for; without it the page scope is skipped.
    #[param(schema_with = page_id_schema_or_null)]
    pub page_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Resolved {
    pub definition_id: String,
    #[schema(schema_with = fields::any)]
    pub value: Value,
    /// `page`, `user`, `system` or `default`: where `value` came from.
    #[schema(schema_with = source_schema)]
    pub source: &'static str,
}

fn source_schema() -> utoipa::openapi::Schema {
    fields::one_of(["page", "user", "system", "default"].into_iter())
}

/// # `GET /api/v1/settings/resolve/{definition_id}`
/// The effective value for the caller: their page value over their user
/// value over the system value over the default.
#[utoipa::path(get, path = "/settings/resolve/{definition_id}", tag = "settings",
    params(("definition_id" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$"), ResolveQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Resolved), (status = 404, description = "no such definition")))]
async fn resolve(
    State(settings): State<Settings>,
    me: CurrentUser,
    Path(definition_id): Path<String>,
    Query(q): Query<ResolveQuery>,
) -> Result<Json<Resolved>, ApiError> {
    let (value, source) = settings.resolve(caller(&me), &definition_id, q.page_id.as_deref())?;
    Ok(Json(Resolved {
        definition_id,
        value,
        source: source.as_str(),
    }))
}
