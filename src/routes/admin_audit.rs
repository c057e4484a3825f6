//! Admin: the audit log (API.md 10), newest first. Read-only: no route
//! changes or deletes a record; retention (`audit.retention_days`) is the
//! only thing that removes one.

use axum::extract::State;
use chorus_actors::audit::{AuditFilter, AuditPage};
use chorus_actors::model::AuditRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::fields;
use crate::pagination::Page;
use crate::state::AppState;
use crate::time::rfc3339_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_logs))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Records of this acting user.
    pub actor_id: Option<Uuid>,
    /// Records of exactly this action, e.g. `admin.request`, `user.role_changed`.
    #[param(max_length = 200)]
    pub action: Option<String>,
    /// Records of exactly this resource type, e.g. `user`.
    #[param(max_length = 200)]
    pub resource_type: Option<String>,
    #[serde(default)]
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[serde(default)]
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    /// The acting user; null for an anonymous action (failed sign-ins on an unknown email).
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// What the action did, e.g. `from` and `to` of a change, or the
    /// `method`, `route` and `status` of a request.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub ip_address: Option<String>,
    pub created_at: String,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        Self {
            details: r.details_json.parse().unwrap_or_default(),
            id: r.id,
            actor_id: r.actor_id,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            ip_address: r.ip_address,
            created_at: rfc3339_ms(r.created_at),
        }
    }
}

/// # `GET /api/v1/admin/audit-logs`
/// Audit records, newest first, filtered by actor, action and resource type.
#[utoipa::path(get, path = "/admin/audit-logs", tag = "admin", params(AuditQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<AuditView>), (status = 403, description = "not an admin")))]
async fn list_audit_logs(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Page<AuditView>>, ApiError> {
    let (skip, limit) = crate::pagination::bounds(q.skip, q.limit)?;
    for (field, value) in [("action", &q.action), ("resource_type", &q.resource_type)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
            return Err(ApiError::validation(field, "at most 200 characters"));
        }
    }
    let filter = AuditFilter {
        actor_id: q.actor_id,
        action: q.action,
        resource_type: q.resource_type,
    };
    let AuditPage { items, total } = state.core.audit().list(&filter, skip, limit)?;
    let items = items.into_iter().map(AuditView::from).collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}
