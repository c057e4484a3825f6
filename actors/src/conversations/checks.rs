//! The checks a conversation's fields and chat requests pass before
//! anything is stored or a provider is called.

use crate::error::CoreError;
use crate::llm::LlmError;
use crate::model::limits;

/// The stored settings of a conversation within their caps.
pub(super) fn check_settings(
    provider: Option<&str>,
    model: Option<&str>,
    system_prompt: Option<&str>,
    metadata_json: Option<&str>,
) -> Result<(), CoreError> {
    limits::chars("provider", provider, limits::NAME_CHARS)?;
    limits::chars("model", model, limits::NAME_CHARS)?;
    limits::prompt("system_prompt", system_prompt)?;
    match metadata_json {
        Some(json) => limits::metadata("metadata", json),
        None => Ok(()),
    }
}

/// The provider and model a request will use, with the API's errors.
pub(crate) fn resolve(
    llm: &crate::llm::Llm,
    provider: Option<&str>,
    model: Option<&str>,
) -> Result<(String, String), CoreError> {
    llm.resolve(provider, model).map_err(model_error)
}

/// An unknown model is the request's fault (422 naming `model`); any other
/// provider error stays one.
pub(super) fn model_error(e: LlmError) -> CoreError {
    match e {
        LlmError::UnknownModel { .. } => CoreError::validation("model", e.to_string()),
        other => CoreError::Llm(other),
    }
}

/// A message's content: 1-[`limits::MESSAGE_CHARS`] characters.
pub(crate) fn check_content(content: &str) -> Result<(), CoreError> {
    if content.is_empty() {
        return Err(CoreError::validation(
            "content",
            format!("1-{} characters", limits::MESSAGE_CHARS),
        ));
    }
    limits::message("content", content)
}
