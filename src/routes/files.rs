//! Files (API.md 8): upload URLs, confirm, list, download URLs, delete;
//! and the signed content routes of the local store, which need no other
//! auth and stream the bytes (never the whole file in memory).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chorus_actors::files::{Files, Link, NewFile, SignedLink};
use chorus_actors::model::FileRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// The signed-in routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_url))
        .routes(routes!(confirm))
        .routes(routes!(list))
        .routes(routes!(get_one, delete))
        .routes(routes!(download_url))
}

/// The content routes: authorized by their signature alone. The upload is
/// streamed, so the JSON body limit does not apply; the signed size does.
pub fn content_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_content, get_content).layer(DefaultBodyLimit::disable()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UploadUrlBody {
    #[schema(schema_with = fields::name)]
    pub filename: String,
    /// A media type such as `text/markdown`.
    #[schema(schema_with = fields::media_type)]
    pub content_type: String,
    /// The exact size in bytes; the upload must match it.
    #[schema(schema_with = fields::file_size)]
    #[serde(deserialize_with = "crate::extract::whole_required")]
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadUrlView {
    /// `PUT` the bytes here, with no other auth.
    pub upload_url: String,
    pub file_id: Uuid,
    /// Seconds the URL stays valid.
    pub expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadUrlView {
    /// `GET` the bytes here, with no other auth.
    pub download_url: String,
    pub expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmBody {
    pub file_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// pending or uploaded.
    pub status: &'static str,
    pub created_at: String,
    /// When it was confirmed; null while pending.
    pub uploaded_at: Option<String>,
}

impl From<FileRecord> for FileView {
    fn from(f: FileRecord) -> Self {
        Self {
            id: f.id,
            filename: f.filename,
            content_type: f.content_type,
            size: f.size,
            status: f.status.as_str(),
            created_at: rfc3339_ms(f.created_at),
            uploaded_at: f.uploaded_at.map(rfc3339_ms),
        }
    }
}

/// This server's origin as the client reached it (`Host`), for the URLs
/// of the local store.
fn origin(state: &AppState, uri: &Uri, headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| state.config.server.bind.to_string());
    let scheme = if state.config.server.tls_behind_proxy {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn url(state: &AppState, uri: &Uri, headers: &HeaderMap, link: SignedLink) -> String {
    match link.link {
        Link::Remote(url) => url,
        Link::Local { id, expires, sig } => format!(
            "{}/api/v1/files/{id}/content?expires={expires}&sig={sig}",
            origin(state, uri, headers)
        ),
    }
}

/// # `POST /api/v1/files/upload-url`
/// Announces an upload and answers the URL to `PUT` its bytes to.
#[utoipa::path(post, path = "/files/upload-url", tag = "files", request_body = UploadUrlBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = UploadUrlView), (status = 413, description = "over files.max_bytes"),
        (status = 429, description = "files.max_bytes_per_user reached (QUOTA_EXCEEDED)")))]
async fn upload_url(
    State(state): State<AppState>,
    me: CurrentUser,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<UploadUrlBody>,
) -> Result<(StatusCode, Json<UploadUrlView>), ApiError> {
    let new = NewFile {
        filename: body.filename,
        content_type: body.content_type,
        size: body.size,
    };
    let (file, link) = state.core.files().create_upload(me.user.id, new).await?;
    let expires_in = link.expires_in;
    let view = UploadUrlView {
        upload_url: url(&state, &uri, &headers, link),
        file_id: file.id,
        expires_in,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// # `POST /api/v1/files/confirm`
/// Checks the bytes arrived with the announced size; the file is then `uploaded`.
#[utoipa::path(post, path = "/files/confirm", tag = "files", request_body = ConfirmBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = FileView), (status = 404, description = "no such file of yours"),
        (status = 409, description = "not uploaded yet, or its size differs")))]
async fn confirm(
    State(files): State<Files>,
    me: CurrentUser,
    Json(body): Json<ConfirmBody>,
) -> Result<Json<FileView>, ApiError> {
    Ok(Json(files.confirm(me.user.id, body.file_id).await?.into()))
}

/// # `GET /api/v1/files`
/// Your files, newest first.
#[utoipa::path(get, path = "/files", tag = "files", params(PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<FileView>)))]
async fn list(
    State(files): State<Files>,
    me: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<FileView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = files.list(me.user.id, skip, limit)?;
    let items = items.into_iter().map(Into::into).collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// # `GET /api/v1/files/{id}`
/// One file.
#[utoipa::path(get, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = FileView), (status = 404, description = "no such file of yours")))]
async fn get_one(
    State(files): State<Files>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<FileView>, ApiError> {
    Ok(Json(files.get(me.user.id, id)?.into()))
}

/// # `DELETE /api/v1/files/{id}`
/// Deletes the file at once; its bytes are removed from the store in the background.
#[utoipa::path(delete, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such file of yours")))]
async fn delete(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let core = &state.core;
    core.files().delete(core.jobs(), me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/files/{id}/download-url`
/// A signed URL to `GET` an uploaded file's bytes.
#[utoipa::path(get, path = "/files/{id}/download-url", tag = "files", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DownloadUrlView), (status = 404, description = "no such file of yours"),
        (status = 409, description = "not confirmed yet")))]
async fn download_url(
    State(state): State<AppState>,
    me: CurrentUser,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<DownloadUrlView>, ApiError> {
    let link = state.core.files().download_link(me.user.id, id).await?;
    let expires_in = link.expires_in;
    Ok(Json(DownloadUrlView {
        download_url: url(&state, &uri, &headers, link),
        expires_in,
    }))
}

/// The signature of a content URL.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Signed {
    /// Unix seconds after which the URL is refused.
    pub expires: i64,
    /// Hex HMAC-SHA256 of the method, file id, expiry and size.
    pub sig: String,
}

/// # `PUT /api/v1/files/{id}/content`
/// Uploads the bytes of a pending file (local store). Authorized by the
/// signature alone; exactly the signed size must arrive.
#[utoipa::path(put, path = "/files/{id}/content", tag = "files", params(("id" = Uuid, Path), Signed),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204, description = "stored; confirm it next"), (status = 403, description = "bad or expired signature"),
        (status = 404, description = "no such file"), (status = 409, description = "already uploaded"),
        (status = 422, description = "the body's size is not the signed size")))]
async fn put_content(
    State(files): State<Files>,
    Path(id): Path<Uuid>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    files
        .receive(id, q.expires, &q.sig, length, body.into_data_stream())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /api/v1/files/{id}/content`
/// Downloads an uploaded file's bytes (local store), streamed.
#[utoipa::path(get, path = "/files/{id}/content", tag = "files", params(("id" = Uuid, Path), Signed),
    responses((status = 200, description = "the bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, description = "bad or expired signature"), (status = 404, description = "no such file")))]
async fn get_content(
    State(files): State<Files>,
    Path(id): Path<Uuid>,
    Query(q): Query<Signed>,
) -> Result<Response, ApiError> {
    let (file, bytes) = files.serve(id, q.expires, &q.sig).await?;
    let mut response = Body::from_stream(bytes).into_response();
    let headers = response.headers_mut();
    let octets = HeaderValue::from_static("application/octet-stream");
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type).unwrap_or(octets),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(file.size));
    if let Ok(value) = HeaderValue::from_str(&disposition(&file.filename)) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266).
fn disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
