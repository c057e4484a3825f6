//! `GET /api/v1/ws` (API.md 6): authenticate, then upgrade. The socket's
//! life is in [`crate::ws`].

use axum::Extension;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::server::Connection;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect))
}

/// Opens a WebSocket. Authenticated by the access cookie, a bearer header,
/// or `?token=<access token or API key>` for browsers, which cannot set
/// headers on a WebSocket. A bad token is refused with 401 before the upgrade,
/// a user holding `limits.max_streams_per_user` streams with 429.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    params(("token" = Option<String>, Query, description = "access token or API key; the `Authorization` header wins when both are sent"),
           ("Connection" = String, Header, pattern = "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]", description = "a WebSocket handshake (RFC 6455)"),
           ("Upgrade" = String, Header, pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
           ("Sec-WebSocket-Version" = String, Header, pattern = "^13$"),
           ("Sec-WebSocket-Key" = String, Header)),
    responses((status = 101, description = "switching protocols; JSON text frames as in API.md 6"),
              (status = 400, description = "not a WebSocket handshake"),
              (status = 401, description = "missing or invalid credentials"),
              (status = 426, description = "the connection cannot be upgraded (HTTP/2)"),
              (status = 429, description = "QUOTA_EXCEEDED: too many open streams")))]
async fn connect(
    State(state): State<AppState>,
    me: CurrentUser,
    connection: Option<Extension<Connection>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let slot = crate::sse::take_slot(&state, &me)?;
    let connection = connection.and_then(|Extension(c)| c.slot());
    let config = &state.config.ws;
    let max = config.max_frame_bytes;
    // Small buffers keep an idle socket cheap (CRATES.md: tungstenite's
    // defaults cost ~135 KB per socket). Frames queued while a socket is busy
    // go out together, up to 8 KiB per write.
    Ok(ws
        .read_buffer_size(4096)
        .write_buffer_size(8 * 1024)
        .max_frame_size(max)
        .max_message_size(max)
        .on_upgrade(move |socket| async move {
            // The listener slot and the stream slot live as long as the socket.
            let _connection = connection;
            crate::ws::run(socket, state, me, slot).await;
        }))
}

/// Moves `?token=` into the `Authorization` header, for this route only, so
/// the ordinary authentication (and its rate limit) applies.
pub async fn token_from_query(mut req: Request, next: Next) -> Response {
    let has_header = req.headers().contains_key(AUTHORIZATION);
    let token = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    if let (false, Some(token)) = (has_header, token)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        req.headers_mut().insert(AUTHORIZATION, value);
    }
    next.run(req).await
}
