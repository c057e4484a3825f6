//! The OpenAPI document: its frame here, the paths from the handlers'
//! annotations, the error answers from [`errors`], the field rules from
//! [`fields`] and [`bodies`] (the core's own limits), and what the
//! configuration decides (providers, models, templates) from [`fill`].

pub mod bodies;
mod errors;
pub mod fields;
mod fill;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use errors::{Layer, answers};

use crate::state::AppState;

/// The document as served: the error answers completed, the schemas
/// written as JSON and the configured values filled in.
pub fn finish(mut doc: utoipa::openapi::OpenApi, state: &AppState) -> serde_json::Value {
    errors::complete(&mut doc);
    let mut json = serde_json::to_value(&doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "serializing the OpenAPI document");
        serde_json::Value::Null
    });
    fill::fill(&mut json, state);
    json
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chorus",
        description = "A stateful backend for AI chat applications: accounts, conversations with streamed answers, jobs, real-time channels and an OpenAI-compatible endpoint.\n\nErrors always have the shape `{\"error\":{\"code\",\"message\",\"details\"},\"request_id\"}`. Rate-limited routes answer `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.",
    ),
    modifiers(&Security),
    tags(
        (name = "operations", description = "Liveness, readiness, version and metrics"),
        (name = "auth", description = "Accounts, login sessions and tokens"),
        (name = "users", description = "The caller's profile and usage"),
        (name = "api-keys", description = "API keys for programs"),
        (name = "conversations", description = "Conversations and their messages"),
        (name = "chat", description = "Streamed answers in a conversation"),
        (name = "personas", description = "Reusable system prompts and model settings"),
        (name = "tags", description = "Labels for conversations"),
        (name = "ai", description = "Stateless completions, analysis templates, providers"),
        (name = "openai", description = "OpenAI-compatible surface for existing SDKs"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "jobs", description = "Durable background jobs with progress, events and logs"),
        (name = "documents", description = "Uploaded text: chunks, full-text search, retrieval for chat"),
        (name = "projects", description = "Groups of conversations and documents, with a `project:{id}` channel"),
        (name = "contact", description = "The public contact form"),
        (name = "realtime", description = "WebSocket: channels, presence, notifications and chat (API.md 6)"),
        (name = "webhooks", description = "Incoming webhooks: signed events from configured senders (API.md 8)"),
        (name = "settings", description = "Two-tier settings: definitions (admins write) and values per user, page or system"),
        (name = "plugin-state", description = "JSON state of client-side plugins per user, page and key, with expiry"),
        (name = "notifications", description = "What the server told you (jobs, documents, quota, account changes), also sent live to your sockets"),
    )
)]
pub struct ApiDoc;

/// The two ways to authenticate: a bearer token (access JWT or `ck_` API
/// key) or the `chorus_access` cookie set by login.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or ck_ API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("chorus_access"))),
        );
    }
}
