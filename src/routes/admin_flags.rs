//! Admin: feature flags (API.md 10). CRUD by key, and the check of one
//! flag for one user with the reason of its answer. Admin role required.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chorus_actors::accounts::Accounts;
use chorus_actors::flags::{
    Actor, FeatureFlag, FeatureFlags, FlagType, check_key, flag::KEY_CHARS,
};
use chorus_actors::model::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::{Admin, client_ip};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, double_option};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(check))
}

/// The admin as the flags' audit records name them.
pub fn actor(admin: &Admin, parts: &Parts) -> Actor {
    Actor {
        user_id: admin.0.user.id,
        ip: client_ip(parts).map(|ip| ip.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagTypeName {
    Boolean,
    Percentage,
    UserList,
    RoleBased,
}

impl From<FlagTypeName> for FlagType {
    fn from(t: FlagTypeName) -> Self {
        match t {
            FlagTypeName::Boolean => FlagType::Boolean,
            FlagTypeName::Percentage => FlagType::Percentage,
            FlagTypeName::UserList => FlagType::UserList,
            FlagTypeName::RoleBased => FlagType::RoleBased,
        }
    }
}

impl From<FlagType> for FlagTypeName {
    fn from(t: FlagType) -> Self {
        match t {
            FlagType::Boolean => FlagTypeName::Boolean,
            FlagType::Percentage => FlagTypeName::Percentage,
            FlagType::UserList => FlagTypeName::UserList,
            FlagType::RoleBased => FlagTypeName::RoleBased,
        }
    }
}

/// `user`, `admin` or `superadmin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    User,
    Admin,
    Superadmin,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::User => Role::User,
            RoleName::Admin => Role::Admin,
            RoleName::Superadmin => Role::Superadmin,
        }
    }
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::User => RoleName::User,
            Role::Admin => RoleName::Admin,
            Role::Superadmin => RoleName::Superadmin,
        }
    }
}

/// `POST /admin/feature-flags`.
#[derive(Debug, Deserialize)]
pub struct NewFlag {
    pub key: String,
    /// Default: the key.
    pub name: Option<String>,
    pub description: Option<String>,
    pub flag_type: FlagTypeName,
    /// Default: false (a new flag is off until it is turned on).
    pub is_enabled: Option<bool>,
    pub percentage: Option<f64>,
    pub user_ids: Option<Vec<Uuid>>,
    pub roles: Option<Vec<RoleName>>,
}

impl From<NewFlag> for FeatureFlag {
    fn from(b: NewFlag) -> Self {
        FeatureFlag {
            name: b.name.unwrap_or_else(|| b.key.clone()),
            key: b.key,
            description: b.description,
            flag_type: b.flag_type.into(),
            is_enabled: b.is_enabled.unwrap_or(false),
            percentage: b.percentage,
            user_ids: b.user_ids.unwrap_or_default(),
            roles: (b.roles.unwrap_or_default().into_iter())
                .map(Into::into)
                .collect(),
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// The key's rule, as a JSON Schema string.
pub fn key_value() -> Value {
    json!({"type": "string", "pattern": format!("^[a-z0-9][a-z0-9._-]{{0,{}}}$", KEY_CHARS - 1),
        "description": "1-64 of a-z 0-9 . _ -, starting with a letter or digit."})
}

/// The shared fields of a flag's body; `required` lists those its type needs.
fn flag_properties(t: FlagType) -> Value {
    let mut p = json!({
        "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": "\\S"},
        "description": {"type": ["string", "null"], "maxLength": 2000},
        "flag_type": {"type": "string", "enum": [t.as_str()]},
        "is_enabled": {"type": ["boolean", "null"]},
        "percentage": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "user_ids": {"type": ["array", "null"], "maxItems": 1000, "items": {"type": "string", "format": "uuid"}},
        "roles": {"type": ["array", "null"], "items": {"type": "string", "enum": ["user", "admin", "superadmin"]}},
    });
    match t {
        FlagType::Percentage => {
            p["percentage"] = json!({"type": "number", "minimum": 0, "maximum": 100})
        }
        FlagType::UserList => {
            p["user_ids"] = json!({"type": "array", "minItems": 1, "maxItems": 1000,
                "items": {"type": "string", "format": "uuid"}})
        }
        FlagType::RoleBased => {
            p["roles"] = json!({"type": "array", "minItems": 1,
                "items": {"type": "string", "enum": ["user", "admin", "superadmin"]}})
        }
        FlagType::Boolean => {}
    }
    p
}

impl ToSchema for NewFlag {}
impl utoipa::PartialSchema for NewFlag {
    /// One shape per `flag_type`, each requiring the field its rule reads.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        let variants: Vec<Value> = FlagType::ALL
            .into_iter()
            .map(|t| {
                let mut required = vec!["key", "flag_type"];
                match t {
                    FlagType::Percentage => required.push("percentage"),
                    FlagType::UserList => required.push("user_ids"),
                    FlagType::RoleBased => required.push("roles"),
                    FlagType::Boolean => {}
                }
                let mut properties = flag_properties(t);
                properties["key"] = key_value();
                json!({"type": "object", "required": required, "properties": properties})
            })
            .collect();
        utoipa::openapi::RefOr::T(fields::raw(json!({ "oneOf": variants })))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub flag_type: FlagTypeName,
    pub is_enabled: bool,
    pub percentage: Option<f64>,
    pub user_ids: Vec<Uuid>,
    pub roles: Vec<RoleName>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&FeatureFlag> for FlagView {
    fn from(f: &FeatureFlag) -> Self {
        Self {
            key: f.key.clone(),
            name: f.name.clone(),
            description: f.description.clone(),
            flag_type: f.flag_type.into(),
            is_enabled: f.is_enabled,
            percentage: f.percentage,
            user_ids: f.user_ids.clone(),
            roles: f.roles.iter().copied().map(Into::into).collect(),
            created_at: rfc3339_ms(f.created_at),
            updated_at: rfc3339_ms(f.updated_at),
        }
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// # `POST /api/v1/admin/feature-flags`
/// Creates a flag; 409 if the key is taken.
#[utoipa::path(post, path = "/admin/feature-flags", tag = "admin", request_body = NewFlag,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = FlagView), (status = 403, description = "not an admin"),
        (status = 409, description = "a flag with this key exists"),
        (status = 422, description = "a field, or the field its flag_type needs")))]
async fn create(
    State(flags): State<FeatureFlags>,
    admin: Admin,
    parts: Parts,
    Json(body): Json<NewFlag>,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    let saved = flags.create(&actor(&admin, &parts), body.into()).await?;
    Ok((StatusCode::CREATED, Json(FlagView::from(&*saved))))
}

/// # `GET /api/v1/admin/feature-flags`
/// Every flag, in key order.
#[utoipa::path(get, path = "/admin/feature-flags", tag = "admin", params(PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<FlagView>), (status = 403, description = "not an admin")))]
async fn list(
    State(flags): State<FeatureFlags>,
    _admin: Admin,
    Query(q): Query<PageQuery>,
) -> Answer<Page<FlagView>> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = flags.page(skip, limit);
    let items = items.iter().map(|f| FlagView::from(&**f)).collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// A path's key, checked (422 naming `key`) before it is looked up.
fn path_key(key: String) -> Result<String, ApiError> {
    check_key(&key)?;
    Ok(key)
}

/// # `GET /api/v1/admin/feature-flags/{key}`
#[utoipa::path(get, path = "/admin/feature-flags/{key}", tag = "admin",
    params(("key" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = FlagView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such flag")))]
async fn get_one(
    State(flags): State<FeatureFlags>,
    _admin: Admin,
    Path(key): Path<String>,
) -> Answer<FlagView> {
    Ok(Json(FlagView::from(&*flags.get(&path_key(key)?)?)))
}

/// `PATCH`: the fields given replace the stored ones; the key never changes.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FlagPatch {
    #[schema(schema_with = fields::name_or_null)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::text_or_null)]
    pub description: Option<Option<String>>,
    pub flag_type: Option<FlagTypeName>,
    pub is_enabled: Option<bool>,
    /// `null` clears it (not allowed while `flag_type` is `percentage`).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = percentage_or_null)]
    pub percentage: Option<Option<f64>>,
    #[schema(max_items = 1000)]
    pub user_ids: Option<Vec<Uuid>>,
    pub roles: Option<Vec<RoleName>>,
}

fn percentage_or_null() -> utoipa::openapi::Schema {
    fields::raw(json!({"type": ["number", "null"], "minimum": 0, "maximum": 100}))
}

impl FlagPatch {
    fn apply(self, f: &mut FeatureFlag) {
        f.name = self.name.unwrap_or(std::mem::take(&mut f.name));
        if let Some(d) = self.description {
            f.description = d;
        }
        f.flag_type = self.flag_type.map_or(f.flag_type, Into::into);
        f.is_enabled = self.is_enabled.unwrap_or(f.is_enabled);
        if let Some(p) = self.percentage {
            f.percentage = p;
        }
        if let Some(ids) = self.user_ids {
            f.user_ids = ids;
        }
        if let Some(roles) = self.roles {
            f.roles = roles.into_iter().map(Into::into).collect();
        }
    }
}

/// # `PATCH /api/v1/admin/feature-flags/{key}`
/// Changes some fields of a flag; checks see the change once it is durable.
#[utoipa::path(patch, path = "/admin/feature-flags/{key}", tag = "admin",
    params(("key" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")), request_body = FlagPatch,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = FlagView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such flag"),
        (status = 422, description = "a field, or the field the resulting flag_type needs")))]
async fn patch(
    State(flags): State<FeatureFlags>,
    admin: Admin,
    parts: Parts,
    Path(key): Path<String>,
    Json(p): Json<FlagPatch>,
) -> Answer<FlagView> {
    let key = path_key(key)?;
    let saved = flags
        .update(&actor(&admin, &parts), &key, |f| p.apply(f))
        .await?;
    Ok(Json(FlagView::from(&*saved)))
}

/// # `DELETE /api/v1/admin/feature-flags/{key}`
#[utoipa::path(delete, path = "/admin/feature-flags/{key}", tag = "admin",
    params(("key" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 403, description = "not an admin"),
        (status = 404, description = "no such flag")))]
async fn delete(
    State(flags): State<FeatureFlags>,
    admin: Admin,
    parts: Parts,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = path_key(key)?;
    flags.delete(&actor(&admin, &parts), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CheckQuery {
    /// The user to evaluate the flag for (required).
    #[param(required = true, value_type = String, format = Uuid)]
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub flag_key: String,
    pub is_enabled: bool,
    /// `disabled`, `enabled`, `percentage`, `percentage_excluded`,
    /// `user_list`, `not_in_user_list`, `role` or `role_excluded`.
    pub reason: String,
}

/// # `GET /api/v1/admin/feature-flags/{key}/check?user_id=`
/// Whether the flag is on for that user, and why.
#[utoipa::path(get, path = "/admin/feature-flags/{key}/check", tag = "admin",
    params(("key" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"), CheckQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CheckView), (status = 403, description = "not an admin"),
        (status = 404, description = "no such flag, or no such user"),
        (status = 422, description = "no user_id, or a key that breaks the rule")))]
async fn check(
    State(flags): State<FeatureFlags>,
    State(accounts): State<Accounts>,
    _admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<CheckQuery>,
) -> Answer<CheckView> {
    let key = path_key(key)?;
    let user_id = q
        .user_id
        .ok_or_else(|| ApiError::validation("user_id", "required"))?;
    flags.get(&key)?;
    let user = accounts.user(user_id)?;
    let (on, why) = flags.check(&key, user.id, user.role)?;
    Ok(Json(CheckView {
        flag_key: key,
        is_enabled: on,
        reason: why.as_str().to_string(),
    }))
}
