//! Documents (API.md 7): upload, ingestion status, chunks and search.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_TYPE};
use chorus_actors::documents::Documents;
use chorus_actors::model::Document;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorKind};
use crate::extract::{Json, Path, Query};
use crate::openapi::fields;
use crate::pagination::{LIMIT, Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// Multipart uploads may be up to `upload_bytes`; every other body, the
/// JSON form of an upload included, keeps the JSON limit.
pub fn router(upload_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(upload_bytes)))
        .routes(routes!(list))
        .routes(routes!(search))
        .routes(routes!(get_one, delete))
        .routes(routes!(chunks))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TextDocument {
    #[schema(schema_with = fields::name)]
    pub title: String,
    pub text: String,
    /// One of your live projects (422 otherwise).
    pub project_id: Option<Uuid>,
}

/// A document made of an uploaded text file (`POST /files/upload-url`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct FileDocument {
    pub file_id: Uuid,
}

/// The JSON forms of an upload: the text itself, or an uploaded file.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NewDocument {
    Text(TextDocument),
    File(FileDocument),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub title: String,
    /// processing, ready or failed.
    pub status: &'static str,
    pub size_bytes: u64,
    pub chunk_count: u32,
    pub error: Option<String>,
    /// The `document.ingest` job.
    pub job_id: Option<Uuid>,
    pub created_at: String,
    /// The project it belongs to; `null` for none.
    pub project_id: Option<Uuid>,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        Self {
            id: d.id,
            title: d.title,
            status: d.status.as_str(),
            size_bytes: d.size_bytes,
            chunk_count: d.chunk_count,
            error: d.error,
            job_id: d.job_id,
            created_at: rfc3339_ms(d.created_at),
            project_id: d.project_id,
        }
    }
}

fn unsupported(message: &'static str) -> ApiError {
    ApiError::new(ErrorKind::UnsupportedMediaType, message)
}

/// Reads the `file` field of a multipart upload: its title and UTF-8 text.
async fn read_file(mut form: Multipart) -> Result<(String, String), ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::from_code(ErrorKind::from_status(e.status().as_u16()))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("document.txt").to_string();
        chorus_actors::model::limits::name("file", &name)?;
        let lower = name.to_lowercase();
        if !(lower.ends_with(".txt") || lower.ends_with(".md")) {
            return Err(unsupported("only .txt and .md files"));
        }
        let bytes = field.bytes().await.map_err(bad)?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| unsupported("the file is not UTF-8 text"))?;
        return Ok((name, text));
    }
    Err(ApiError::validation("file", "a multipart field named file"))
}

/// Uploads a document: multipart with a `file` (.txt or .md, UTF-8), JSON
/// `{"title","text"}`, or JSON `{"file_id"}` of an uploaded text file.
/// Answers 202 while it is chunked and indexed.
#[utoipa::path(post, path = "/documents", tag = "documents", request_body = NewDocument, security(("bearer" = []), ("cookie" = [])),
    responses((status = 202, description = "{document_id, job_id, status: processing}"),
              (status = 404, description = "no such file of yours"), (status = 409, description = "the file is not confirmed yet"),
              (status = 413, description = "over limits.upload_bytes"), (status = 415, description = "not .txt/.md or not UTF-8")))]
async fn upload(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    req: Request,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (title, text, project_id) = if content_type.starts_with("multipart/form-data") {
        let form = Multipart::from_request(req, &state)
            .await
            .map_err(|_| ApiError::new(ErrorKind::BadRequest, "malformed multipart body"))?;
        let (title, text) = read_file(form).await?;
        (title, text, None)
    } else {
        // The upload limit is for files: a JSON body keeps the JSON limit
        // (an error of this inner limit is a 413 like the outer one).
        let limit = state.config.limits.json_body_bytes;
        let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
        let Json(body) = Json::<Value>::from_request(req, &state).await?;
        let names_a_file = body.get("file_id").is_some();
        let body = body.to_string();
        if names_a_file {
            let FileDocument { file_id } = crate::extract::parse_json(body.as_bytes())?;
            let core = &state.core;
            let (doc, job) = core
                .documents()
                .submit_file(core.jobs(), me.user.id, file_id)
                .await?;
            let body =
                json!({ "document_id": doc.id, "job_id": job.id, "status": doc.status.as_str() });
            return Ok((StatusCode::ACCEPTED, axum::Json(body)));
        }
        let body: TextDocument = crate::extract::parse_json(body.as_bytes())?;
        (body.title, body.text, body.project_id)
    };
    let core = &state.core;
    let (doc, job) = core
        .documents()
        .submit_to_project(
            core.jobs(),
            core.projects(),
            me.user.id,
            &title,
            text,
            project_id,
        )
        .await?;
    let body = json!({ "document_id": doc.id, "job_id": job.id, "status": doc.status.as_str() });
    Ok((StatusCode::ACCEPTED, axum::Json(body)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DocumentQuery {
    #[param(schema_with = fields::skip)]
    pub skip: Option<i64>,
    #[param(schema_with = fields::limit)]
    pub limit: Option<i64>,
    /// Only documents in this project.
    pub project_id: Option<Uuid>,
}

/// The caller's documents, newest first.
#[utoipa::path(get, path = "/documents", tag = "documents", params(DocumentQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<DocumentView>)))]
async fn list(
    State(documents): State<Documents>,
    me: CurrentUser,
    Query(q): Query<DocumentQuery>,
) -> Result<Json<Page<DocumentView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (docs, total) = match q.project_id {
        Some(project) => documents.list_in_project(me.user.id, project, skip, limit)?,
        None => documents.list(me.user.id, skip, limit)?,
    };
    let items = docs.into_iter().map(DocumentView::from).collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}

/// One document.
#[utoipa::path(get, path = "/documents/{id}", tag = "documents", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DocumentView), (status = 404, description = "no such document of yours")))]
async fn get_one(
    State(documents): State<Documents>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<DocumentView>, ApiError> {
    Ok(Json(documents.get(me.user.id, id)?.into()))
}

/// Deletes a document, its chunks and its search entries.
#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", params(("id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such document of yours")))]
async fn delete(
    State(documents): State<Documents>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    documents.delete(me.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkView {
    pub chunk_id: String,
    pub index: u32,
    pub text: String,
}

/// A document's chunks, in order.
#[utoipa::path(get, path = "/documents/{id}/chunks", tag = "documents", params(("id" = Uuid, Path), PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 404, description = "no such document of yours"), (status = 200, body = Page<ChunkView>)))]
async fn chunks(
    State(documents): State<Documents>,
    me: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ChunkView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (page, total) = documents.chunks(me.user.id, id, skip, limit)?;
    let items = page
        .into_iter()
        .map(|(index, text)| ChunkView {
            chunk_id: format!("{id}:{index}"),
            index,
            text,
        })
        .collect();
    Ok(Json(Page::new(items, total, skip, limit)))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// Plain text; any of its words may match.
    pub q: String,
    pub limit: Option<i64>,
}

/// By hand: `schema_with` on a derived parameter loses `required`.
impl IntoParams for SearchQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::Required;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        let param = |name, required, schema| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(required)
                .schema(Some(schema))
                .build()
        };
        vec![
            param("q", Required::True, fields::search_text()),
            param("limit", Required::False, search_limit()),
        ]
    }
}

/// Hits a search answers when it sets no `limit`.
const SEARCH_LIMIT: i64 = 10;

fn search_limit() -> utoipa::openapi::Schema {
    fields::integer_or_null(LIMIT.0, LIMIT.1, SEARCH_LIMIT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitView {
    pub document_id: Uuid,
    pub chunk_id: String,
    pub text: String,
    pub score: f32,
}

/// Full-text search over the caller's documents, best first.
#[utoipa::path(get, path = "/documents/search", tag = "documents", params(SearchQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [SearchHitView])))]
async fn search(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<SearchHitView>>, ApiError> {
    let (min, max) = LIMIT;
    let limit = q.limit.unwrap_or(SEARCH_LIMIT);
    if !(min..=max).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("must be {min}-{max}"),
        ));
    }
    let hits = state
        .core
        .documents()
        .search(me.user.id, &q.q, limit as usize)
        .await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| SearchHitView {
                chunk_id: format!("{}:{}", h.document_id, h.chunk),
                document_id: h.document_id,
                text: h.text,
                score: h.score,
            })
            .collect(),
    ))
}
