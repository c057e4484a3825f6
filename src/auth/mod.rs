//! Authentication at the edge: access tokens, API keys and cookies become a
//! `CurrentUser`; rate limits are applied per user (or per IP before login).
//!
//! The hot path takes no mailbox round trip: a JWT is verified in place, the
//! session's revocation is a lookup in the accounts' in-memory set, and the
//! user (current role, active flag) comes from the accounts' user cache.

pub mod audited;
pub mod client_addr;
pub mod cookies;
pub mod guard;
pub mod jwt;
pub mod oidc;
pub mod origin;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chorus_actors::CoreError;
use chorus_actors::accounts::Accounts;
use chorus_actors::accounts::secrets::API_KEY_PREFIX;
use chorus_actors::connections::Credential;
use chorus_actors::model::User;
use uuid::Uuid;

use crate::error::{ApiError, ErrorKind};
use crate::rate_limit::{RateClass, RateInfo, RateKey};
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: Arc<User>,
    /// The login session, for access tokens; `None` for API keys.
    pub session_id: Option<Uuid>,
    /// The API key, when one was used.
    pub api_key_id: Option<Uuid>,
    /// When the access token expires (unix seconds); `None` for API keys.
    pub expires_at: Option<i64>,
    /// Under impersonation, the admin acting as `user` (the token's `act`).
    pub impersonator: Option<Uuid>,
}

impl CurrentUser {
    /// What a stream opened by this caller is closed by (revocation, expiry).
    pub fn credential(&self) -> Credential {
        Credential {
            user: self.user.id,
            session: self.session_id,
            api_key: self.api_key_id,
            expires_at: self.expires_at,
        }
    }
}

/// A caller with role `admin` or `superadmin`, signed in as themselves: an
/// impersonation token is refused (403) whatever the target's role.
#[derive(Debug, Clone)]
pub struct Admin(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route reads CurrentUser but is not behind auth"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.impersonator.is_some() {
            return Err(ApiError::new(
                ErrorKind::Authorization,
                "an impersonation token cannot use admin routes",
            ));
        }
        if current.user.role.is_admin() {
            Ok(Admin(current))
        } else {
            Err(ApiError::new(
                ErrorKind::Authorization,
                "admin role required",
            ))
        }
    }
}

/// The client's IP address: the listener's peer, or the client behind a
/// trusted proxy (see [`client_addr`]).
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    if let Some(client_addr::ClientIp(ip)) = parts.extensions.get() {
        return Some(*ip);
    }
    parts
        .extensions
        .get::<crate::server::Connection>()
        .map(|c| c.peer.ip())
}

/// A token a request presents, and where it came from.
pub struct Presented {
    pub token: String,
    /// Sent by the browser on its own (the access cookie), so open to
    /// cross-site request forgery.
    pub from_cookie: bool,
}

/// The credential a request carries: bearer header first, then the cookie
/// (`__Host-` prefixed when `secure_cookies`).
pub fn credential(parts: &Parts, secure_cookies: bool) -> Option<Presented> {
    if let Some(header) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = header.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| Presented {
            token: token.trim().to_string(),
            from_cookie: false,
        });
    }
    cookies::get(&parts.headers, cookies::access_name(secure_cookies)).map(|token| Presented {
        token,
        from_cookie: true,
    })
}

/// 403 for a cookie-authenticated unsafe request from a foreign origin.
fn check_origin(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    let server = &state.config.server;
    let foreign = origin::cross_site(parts, &server.allowed_origins)
        && origin::cross_site(parts, &server.cors_origins);
    if foreign {
        metrics::counter!("chorus_cross_site_refused_total").increment(1);
        return Err(ApiError::new(
            ErrorKind::Authorization,
            "cross-site request refused: this origin may not use the session cookie",
        ));
    }
    Ok(())
}

/// Resolves a token (access JWT or API key) to its user.
pub fn authenticate(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    authenticate_with(state.core.accounts(), &state.jwt, token).map_err(ApiError::from)
}

/// [`authenticate`] from its parts (a socket's `auth` message is checked
/// with it, in the core).
pub fn authenticate_with(
    accounts: &Accounts,
    keys: &jwt::JwtKeys,
    token: &str,
) -> Result<CurrentUser, CoreError> {
    if token.starts_with(API_KEY_PREFIX) {
        let (user, key) = accounts.authenticate_api_key_id(token)?;
        return Ok(CurrentUser {
            user,
            session_id: None,
            api_key_id: Some(key),
            expires_at: None,
            impersonator: None,
        });
    }
    let claims = keys.verify(token).map_err(|refused| match refused {
        jwt::TokenRefused::Expired => unauthenticated("expired", "access token expired"),
        jwt::TokenRefused::Invalid => unauthenticated("invalid", "invalid access token"),
    })?;
    if accounts.is_revoked(claims.sid) {
        return Err(unauthenticated("revoked", "session revoked"));
    }
    let user = accounts.user(claims.sub).map_err(|e| match e {
        CoreError::NotFound { .. } => unauthenticated("invalid", "invalid access token"),
        other => other,
    })?;
    if !user.is_active {
        return Err(unauthenticated("revoked", "account is deactivated"));
    }
    let impersonator = claims.act.map(|act| act.sub);
    if let Some(admin) = impersonator {
        check_impersonation(accounts, claims.sid, admin)?;
    }
    accounts.note_activity(claims.sid);
    Ok(CurrentUser {
        user,
        session_id: Some(claims.sid),
        api_key_id: None,
        expires_at: Some(claims.exp),
        impersonator,
    })
}

/// 401 `revoked` unless impersonation session `sid` is live and its admin
/// still an active admin (a demoted or deactivated admin's impersonation
/// ends with their rights).
fn check_impersonation(accounts: &Accounts, sid: Uuid, admin: Uuid) -> Result<(), CoreError> {
    let admin_ok = accounts
        .user(admin)
        .is_ok_and(|a| a.is_active && a.role.is_admin());
    if !admin_ok || !accounts.impersonation_live(sid, admin)? {
        return Err(unauthenticated("revoked", "impersonation ended"));
    }
    Ok(())
}

fn unauthenticated(reason: &'static str, message: &'static str) -> CoreError {
    CoreError::unauthenticated(reason, message)
}

/// Takes one token of `class` from the bucket of the request's client IP.
pub fn check_ip(state: &AppState, class: RateClass, parts: &Parts) -> Result<RateInfo, ApiError> {
    state.rate_limits.check(class, ip_key(parts))
}

fn ip_key(parts: &Parts) -> RateKey {
    RateKey::ip(client_ip(parts).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])))
}
