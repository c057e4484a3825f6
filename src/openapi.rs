//! The OpenAPI document's frame; the paths come from the handlers' annotations.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chorus",
        description = "A stateful backend for AI chat applications: accounts, conversations with streamed answers, jobs, real-time channels and an OpenAI-compatible endpoint.",
    ),
    tags(
        (name = "operations", description = "Liveness, readiness, version and metrics"),
    )
)]
pub struct ApiDoc;
