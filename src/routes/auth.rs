//! Accounts and sessions (API.md 2.1, 2.2): register, login, refresh, OIDC,
//! logout, me, the session list and profile changes.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chorus_actors::accounts::Accounts;
use chorus_actors::accounts::{LoginContext, LoginOutcome, NewUser, OidcClaims};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::users::UserView;
use crate::auth::{CurrentUser, client_ip, cookies};
use crate::error::ApiError;
use crate::extract::{Json, Path, parse_json};
use crate::openapi::fields;
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// Public routes, rate class `auth` (per IP).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(oidc))
}

/// Routes for a signed-in caller.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(change_username))
}

/// Routes that check a password for a signed-in caller: rate class `auth`.
pub fn password_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_password))
}

/// No `Debug`: it carries a secret and must never be logged.
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(schema_with = fields::username)]
    pub username: String,
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = fields::password)]
    pub password: String,
    #[schema(schema_with = fields::full_name_or_null)]
    pub full_name: Option<String>,
}

/// Creates an account. The first account ever registered is `superadmin`.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 409, description = "email or username taken"),
              (status = 422, description = "invalid field; `details.field` names it")))]
async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = state
        .core
        .accounts()
        .register(NewUser {
            username: body.username,
            email: body.email,
            password: body.password,
            full_name: body.full_name,
            role: None,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&*user))))
}

/// No `Debug`: it carries a secret and must never be logged.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// Tokens of a login or refresh (also set as HttpOnly cookies).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserView,
}

/// The request's path before nesting stripped `/api/v{N}`.
fn original_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |OriginalUri(uri)| uri.path())
}

fn login_context(parts: &Parts) -> LoginContext {
    LoginContext {
        user_agent: parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ip: client_ip(parts).map(|ip| ip.to_string()),
    }
}

/// The login answer: tokens in the body and in cookies. `path` is the
/// request's (the refresh cookie is scoped to its API version's auth routes).
fn tokens(state: &AppState, outcome: LoginOutcome, path: &str) -> Result<Response, ApiError> {
    let ttl = state.access_ttl();
    let (access, _) = state
        .jwt
        .issue(&outcome.user, outcome.session.id, ttl)
        .map_err(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    let refresh_ttl = std::time::Duration::from_secs(state.config.auth.refresh_ttl_s);
    cookies::set_login(
        &mut headers,
        (&access, ttl),
        (&outcome.refresh_token, refresh_ttl),
        state.config.server.secure_cookies,
        path,
    );
    let body = TokenView {
        access_token: access,
        refresh_token: outcome.refresh_token,
        token_type: "bearer",
        expires_in: ttl.as_secs(),
        user: UserView::from(&*outcome.user),
    };
    Ok((headers, Json(body)).into_response())
}

/// Signs in with email and password. A wrong email and a wrong password get the same answer.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenView), (status = 401, description = "wrong credentials or inactive account"),
              (status = 429, description = "rate class `auth` (per IP), or the account is locked after repeated failed sign-ins")))]
async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let outcome = state
        .core
        .accounts()
        .login(&body.email, &body.password, login_context(&parts))
        .await?;
    tokens(&state, outcome, original_path(&parts))
}

/// No `Debug`: it carries a secret and must never be logged.
#[derive(Default, Deserialize, ToSchema)]
pub struct RefreshBody {
    /// Optional: the `chorus_refresh` cookie is used when absent.
    pub refresh_token: Option<String>,
}

/// Trades a refresh token for new tokens. The old one is spent; presenting
/// it again revokes the whole session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body(content = RefreshBody, description = "optional when the refresh cookie is sent"),
    responses((status = 200, body = TokenView), (status = 401, description = "invalid, expired or reused refresh token")))]
async fn refresh(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RefreshBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshBody::default()
    } else {
        parse_json(&body)?
    };
    let token = body
        .refresh_token
        .or_else(|| {
            let secure = state.config.server.secure_cookies;
            cookies::get(&headers, cookies::refresh_name(secure))
        })
        .ok_or_else(|| {
            ApiError::from(chorus_actors::CoreError::unauthenticated(
                "missing",
                "refresh token required",
            ))
        })?;
    let outcome = state.core.accounts().refresh(&token).await?;
    tokens(&state, outcome, uri.path())
}

/// No `Debug`: it carries a secret and must never be logged.
#[derive(Deserialize, ToSchema)]
pub struct OidcBody {
    /// An OIDC ID token from an issuer in `auth.oidc_issuers`.
    pub id_token: String,
}

/// Signs in with an OIDC ID token (RS256/ES256); creates the account on first login.
#[utoipa::path(post, path = "/auth/oidc", tag = "auth", request_body = OidcBody,
    responses((status = 200, body = TokenView), (status = 401, description = "the token did not verify")))]
async fn oidc(
    State(state): State<AppState>,
    parts: Parts,
    Json(body): Json<OidcBody>,
) -> Result<Response, ApiError> {
    let identity = state.oidc.verify(&body.id_token).await?;
    let accounts = state.core.accounts();
    let user = accounts
        .user_for_oidc(OidcClaims {
            iss: identity.iss,
            sub: identity.sub,
            email: identity.email.unwrap_or_default(),
            name: identity.name,
            picture: identity.picture,
        })
        .await?;
    let outcome = accounts.open_session(user, login_context(&parts)).await?;
    tokens(&state, outcome, original_path(&parts))
}

/// Signs out: revokes this session at once and clears the cookies.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "signed out")))]
async fn logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    me: CurrentUser,
    parts: Parts,
) -> Result<Response, ApiError> {
    let accounts = state.core.accounts();
    if let (Some(admin), Some(sid)) = (me.impersonator, me.session_id) {
        // Logging out of an impersonation is stopping it (and audited so);
        // the browser's cookies are the admin's own, so they stay.
        let ip = client_ip(&parts).map(|ip| ip.to_string());
        accounts.stop_impersonation(admin, sid, ip).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if let Some(sid) = me.session_id {
        accounts.revoke_session(sid).await?;
    }
    let mut headers = HeaderMap::new();
    cookies::clear(&mut headers, state.config.server.secure_cookies, uri.path());
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// `GET /auth/me`: the caller, and under impersonation who is acting.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthMeView {
    #[serde(flatten)]
    pub user: UserView,
    /// The admin acting as this user, when the token is an impersonation
    /// token (a console shows a banner); null otherwise.
    pub impersonated_by: Option<ImpersonatorView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonatorView {
    pub id: Uuid,
    pub username: String,
}

/// The caller.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AuthMeView), (status = 401, description = "not signed in")))]
async fn me(State(accounts): State<Accounts>, me: CurrentUser) -> Json<AuthMeView> {
    let impersonated_by = me
        .impersonator
        .and_then(|id| accounts.user(id).ok())
        .map(|admin| ImpersonatorView {
            id: admin.id,
            username: admin.username.clone(),
        });
    Json(AuthMeView {
        user: UserView::from(&*me.user),
        impersonated_by,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: String,
    pub last_seen_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session of the request.
    pub current: bool,
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/auth/sessions", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [SessionView])))]
async fn sessions(
    State(accounts): State<Accounts>,
    me: CurrentUser,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let list = accounts.live_sessions(me.user.id)?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionView {
                current: Some(s.id) == me.session_id,
                id: s.id,
                created_at: rfc3339_ms(s.created_at),
                last_seen_at: rfc3339_ms(s.last_seen_at),
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    ))
}

/// Revokes one of the caller's sessions; its access tokens stop working at once.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such session of yours")))]
async fn revoke_session(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .accounts()
        .revoke_own_session(me.user.id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UsernameBody {
    #[schema(schema_with = fields::username)]
    pub username: String,
}

/// Changes the caller's username.
#[utoipa::path(put, path = "/auth/profile/username", tag = "auth", request_body = UsernameBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserView), (status = 409, description = "username taken")))]
async fn change_username(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<UsernameBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = state
        .core
        .accounts()
        .change_username(me.user.id, &body.username)
        .await?;
    Ok(Json(UserView::from(&*user)))
}

/// No `Debug`: it carries a secret and must never be logged.
#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    pub current_password: String,
    #[schema(schema_with = fields::password)]
    pub new_password: String,
    /// Keep the caller's API keys; by default a password change deletes them.
    #[serde(default)]
    pub keep_api_keys: bool,
}

/// Changes the caller's password and revokes every other session, and every
/// API key unless `keep_api_keys` is true. Rate class `auth`; wrong current
/// passwords count towards the account's sign-in lock-out.
#[utoipa::path(put, path = "/auth/profile/password", tag = "auth", request_body = PasswordBody,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "changed"), (status = 401, description = "current password is wrong"),
              (status = 429, description = "rate class `auth`, or the account is locked by failed attempts")))]
async fn change_password(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .accounts()
        .change_password(
            me.user.id,
            me.session_id,
            &body.current_password,
            &body.new_password,
            body.keep_api_keys,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
