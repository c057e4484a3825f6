//! The contact form (API.md 8): a public submit in its own rate class
//! (`rate_limits.contact`, per hour per IP) and the admins' list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chorus_actors::contacts::{Contacts, NewContact};
use chorus_actors::model::ContactSubmission;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::auth::{Admin, client_ip};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::fields;
use crate::pagination::{Page, bounds};
use crate::state::AppState;
use crate::time::rfc3339_ms;

/// `POST /public/contact`: public, for the `contact` rate class.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

/// `GET /admin/contacts`: signed in, admins only.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactBody {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = fields::contact_message)]
    pub message: String,
    #[schema(schema_with = fields::label_or_null)]
    pub subject: Option<String>,
    #[schema(schema_with = fields::phone_or_null)]
    pub phone: Option<String>,
    #[schema(schema_with = fields::label_or_null)]
    pub company: Option<String>,
    #[schema(schema_with = fields::extra_fields_or_null)]
    pub extra_fields: Option<Value>,
    /// Which page or form sent it.
    #[schema(schema_with = fields::label_or_null)]
    pub source: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactReceipt {
    pub success: bool,
    /// `CNT-` and 8 characters of `A-Z 2-9` without look-alikes: quote it in a reply.
    pub reference_id: String,
}

/// # `POST /api/v1/public/contact`
///
/// Sends a message through the contact form (no account needed; 5 per
/// hour per IP by default). Admins see it at `GET /admin/contacts`, and it
/// goes out as a `contact.submitted` webhook.
#[utoipa::path(post, path = "/public/contact", tag = "contact", request_body = ContactBody,
    responses((status = 201, body = ContactReceipt)))]
async fn submit(
    State(contacts): State<Contacts>,
    parts: Parts,
    Json(body): Json<ContactBody>,
) -> Result<(StatusCode, Json<ContactReceipt>), ApiError> {
    let new = NewContact {
        name: body.name,
        email: body.email,
        message: body.message,
        subject: body.subject,
        phone: body.phone,
        company: body.company,
        extra_fields: body.extra_fields,
        source: body.source,
    };
    let ip = client_ip(&parts).map(|ip| ip.to_string());
    let saved = contacts.submit(new, ip).await?;
    let receipt = ContactReceipt {
        success: true,
        reference_id: saved.reference_id,
    };
    Ok((StatusCode::CREATED, Json(receipt)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub reference_id: String,
    pub name: String,
    pub email: String,
    pub message: String,
    pub subject: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    #[schema(value_type = Object)]
    pub extra_fields: Value,
    pub source: Option<String>,
    /// The client address it came from.
    pub ip_address: Option<String>,
    pub created_at: String,
}

impl TryFrom<ContactSubmission> for ContactView {
    type Error = ApiError;

    fn try_from(s: ContactSubmission) -> Result<Self, ApiError> {
        Ok(Self {
            id: s.id,
            reference_id: s.reference_id,
            name: s.name,
            email: s.email,
            message: s.message,
            subject: s.subject,
            phone: s.phone,
            company: s.company,
            extra_fields: s.extra_fields_json.parse()?,
            source: s.source,
            ip_address: s.ip,
            created_at: rfc3339_ms(s.created_at),
        })
    }
}

/// # `GET /api/v1/admin/contacts`
///
/// Contact form submissions, newest first.
#[utoipa::path(get, path = "/admin/contacts", tag = "admin", params(PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ContactView>), (status = 403, description = "not an admin")))]
async fn list(
    State(contacts): State<Contacts>,
    _admin: Admin,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ContactView>>, ApiError> {
    let (skip, limit) = bounds(q.skip, q.limit)?;
    let (items, total) = contacts.list(skip, limit)?;
    let items = items
        .into_iter()
        .map(ContactView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(Page::new(items, total, skip, limit)))
}
