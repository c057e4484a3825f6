//! The audit records the auth layer writes for whole route groups, so no
//! handler has to remember them: every request an admin makes to an
//! `/admin/...` route (`admin.request`), and every request made with an
//! impersonation token (`impersonation.request`), each with the method,
//! the route template, the status and the path's ids.
//!
//! Keyed on the matched route template, so routes other modules add under
//! `/admin` are covered the day they are merged.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use chorus_actors::audit::AuditEvent;

use super::{CurrentUser, client_ip};
use crate::state::AppState;

/// What the records say about a request, read before it is handled.
pub struct RequestFacts {
    method: Method,
    /// The matched template, e.g. `/api/v1/admin/users/{id}`.
    route: Option<String>,
    /// The path's parameters, in order.
    params: Vec<(String, String)>,
    ip: Option<String>,
}

/// The prefixes of the admin routes, in both API versions.
const ADMIN_PREFIXES: [&str; 2] = ["/api/v1/admin/", "/api/v2/admin/"];

/// Routes an impersonation token may not use (method, template below the
/// version prefix): whatever would make a credential that outlives the
/// impersonation, or lock the real user out.
const REFUSED_UNDER_IMPERSONATION: [(Method, &str); 2] = [
    (Method::POST, "/api-keys"),
    (Method::PUT, "/auth/profile/password"),
];

/// Whether `parts` is a request to an `/admin/...` route.
pub fn is_admin_route(parts: &Parts) -> bool {
    parts
        .extensions
        .get::<MatchedPath>()
        .is_some_and(|p| ADMIN_PREFIXES.iter().any(|a| p.as_str().starts_with(a)))
}

impl RequestFacts {
    /// Reads method, route, path parameters and client address of `parts`.
    pub async fn of(parts: &mut Parts) -> Self {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string());
        let params = match RawPathParams::from_request_parts(parts, &()).await {
            Ok(raw) => raw
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
        Self {
            method: parts.method.clone(),
            route,
            params,
            ip: client_ip(parts).map(|ip| ip.to_string()),
        }
    }

    /// The route below `/api/v1` or `/api/v2`, if it is under one.
    fn versioned_route(&self) -> Option<&str> {
        let route = self.route.as_deref()?;
        route
            .strip_prefix("/api/v1")
            .or_else(|| route.strip_prefix("/api/v2"))
    }

    /// `admin/<segment>/...`: the segment names the resource type.
    fn admin_resource(&self) -> Option<&str> {
        let route = self.route.as_deref()?;
        let rest = ADMIN_PREFIXES.iter().find_map(|p| route.strip_prefix(p))?;
        Some(rest.split('/').next().unwrap_or(rest))
    }

    /// Whether an impersonation token is refused here.
    pub fn refused_under_impersonation(&self) -> bool {
        let Some(route) = self.versioned_route() else {
            return false;
        };
        REFUSED_UNDER_IMPERSONATION
            .iter()
            .any(|(m, r)| *m == self.method && *r == route)
    }

    fn details(&self, status: StatusCode) -> serde_json::Value {
        let params: serde_json::Map<String, serde_json::Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        serde_json::json!({
            "method": self.method.as_str(),
            "route": self.route,
            "status": status.as_u16(),
            "params": params,
        })
    }
}

/// Records `current`'s request, answered `status`, if it is one the log
/// keeps: any request under impersonation, and an admin's request to an
/// admin route (refused callers who are not admins are not recorded: they
/// did nothing, and recording them would let any user grow the log).
pub async fn record(
    state: &AppState,
    facts: &RequestFacts,
    current: &CurrentUser,
    status: StatusCode,
) {
    let event = if let Some(admin) = current.impersonator {
        let mut details = facts.details(status);
        details["admin_id"] = admin.to_string().into();
        details["impersonated_user_id"] = current.user.id.to_string().into();
        AuditEvent {
            actor_id: Some(admin),
            action: "impersonation.request",
            resource_type: "user",
            resource_id: Some(current.user.id.to_string()),
            details,
            ip_address: facts.ip.clone(),
        }
    } else if let Some(resource) = facts.admin_resource()
        && current.user.role.is_admin()
    {
        AuditEvent {
            actor_id: Some(current.user.id),
            action: "admin.request",
            resource_type: resource,
            resource_id: facts.params.first().map(|(_, v)| v.clone()),
            details: facts.details(status),
            ip_address: facts.ip.clone(),
        }
    } else {
        return;
    };
    state.core.audit().record_or_log(event).await;
}
