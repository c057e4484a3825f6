//! Storage limits: how long each free-text field a user can store may be,
//! and how many records of each kind one user may keep. Every check of a
//! stored field goes through here, so a cap is changed in one place.
//!
//! Lengths of names and prose are counted in characters (what a user sees);
//! prompts and metadata, which may be pasted or generated, in UTF-8 bytes
//! (what the store keeps).

use crate::error::CoreError;

/// Names and titles: conversation titles, persona, tag and API key names,
/// document titles and file names, provider and model names, tag colors.
pub const NAME_CHARS: usize = 255;
/// Short prose: a persona's description and sample greeting.
pub const TEXT_CHARS: usize = 2_000;
/// A URL (a persona's avatar).
pub const URL_CHARS: usize = 2_048;
/// A system prompt (conversation or persona): 32 KiB.
pub const PROMPT_BYTES: usize = 32 * 1024;
/// A metadata object, serialized: 16 KiB.
pub const METADATA_BYTES: usize = 16 * 1024;
/// A message's content (API.md 3).
pub const MESSAGE_CHARS: usize = 100_000;
/// Items of a list field (a persona's tags).
pub const LIST_ITEMS: usize = 50;

/// How many records of each kind one user may keep (`[limits]` in the
/// configuration). Over a cap, a create is 429 `QUOTA_EXCEEDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountLimits {
    /// Conversations one user may keep.
    pub conversations: u64,
    /// Personas one user may keep.
    pub personas: u64,
    /// Tags one user may keep.
    pub tags: u64,
    /// API keys one user may hold.
    pub api_keys: u64,
    /// Documents one user may keep.
    pub documents: u64,
    /// Projects one user may keep (deleted ones do not count).
    pub projects: u64,
    /// Plugin states one user may keep.
    pub plugin_states: u64,
    /// User- and page-scope setting values one user may keep.
    pub setting_instances: u64,
}

impl Default for CountLimits {
    /// The defaults of `config/default.toml`.
    fn default() -> Self {
        Self {
            conversations: 10_000,
            personas: 200,
            tags: 500,
            api_keys: 50,
            documents: 1_000,
            projects: 500,
            plugin_states: 1_000,
            setting_instances: 1_000,
        }
    }
}

/// A chat message's content: at most [`MESSAGE_CHARS`] characters.
pub fn message(field: &str, content: &str) -> Result<(), CoreError> {
    // Bytes bound characters from above: most contents skip the count.
    if content.len() > MESSAGE_CHARS && content.chars().count() > MESSAGE_CHARS {
        return Err(CoreError::validation(
            field,
            format!("at most {MESSAGE_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A required name: 1-[`NAME_CHARS`] characters, not only spaces.
pub fn name(field: &str, value: &str) -> Result<(), CoreError> {
    let n = value.chars().count();
    if value.trim().is_empty() || n > NAME_CHARS {
        return Err(CoreError::validation(
            field,
            format!("1-{NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// An optional field of at most `max` characters.
pub fn chars(field: &str, value: Option<&str>, max: usize) -> Result<(), CoreError> {
    match value {
        Some(v) if v.chars().count() > max => Err(CoreError::validation(
            field,
            format!("at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// An optional system prompt of at most [`PROMPT_BYTES`].
pub fn prompt(field: &str, value: Option<&str>) -> Result<(), CoreError> {
    bytes(field, value, PROMPT_BYTES)
}

/// A serialized metadata object of at most [`METADATA_BYTES`].
pub fn metadata(field: &str, json: &str) -> Result<(), CoreError> {
    bytes(field, Some(json), METADATA_BYTES)
}

fn bytes(field: &str, value: Option<&str>, max: usize) -> Result<(), CoreError> {
    match value {
        Some(v) if v.len() > max => Err(CoreError::validation(
            field,
            format!("at most {} KiB", max / 1024),
        )),
        _ => Ok(()),
    }
}

/// A list of names: at most [`LIST_ITEMS`] items of 1-[`NAME_CHARS`] each.
pub fn names(field: &str, items: &[String]) -> Result<(), CoreError> {
    if items.len() > LIST_ITEMS {
        return Err(CoreError::validation(
            field,
            format!("at most {LIST_ITEMS} items"),
        ));
    }
    items.iter().try_for_each(|item| name(field, item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: CoreError) -> String {
        match e {
            CoreError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_name_of_255_characters_fits_and_256_does_not() {
        assert!(name("name", &"é".repeat(NAME_CHARS)).is_ok());
        assert_eq!(
            field_of(name("name", &"a".repeat(256)).unwrap_err()),
            "name"
        );
        assert!(name("name", "  ").is_err());
    }

    #[test]
    fn prompts_and_metadata_are_capped_in_bytes() {
        assert!(prompt("system_prompt", Some(&"a".repeat(PROMPT_BYTES))).is_ok());
        // 16 Ki two-byte characters are 32 KiB and one more byte is over.
        let over = format!("{}a", "é".repeat(PROMPT_BYTES / 2));
        assert!(prompt("system_prompt", Some(&over)).is_err());
        assert!(metadata("metadata", &"a".repeat(METADATA_BYTES + 1)).is_err());
        assert!(prompt("system_prompt", None).is_ok());
    }

    #[test]
    fn a_list_of_names_is_capped_in_items_and_in_each_item() {
        let many = vec!["x".to_string(); LIST_ITEMS + 1];
        assert_eq!(field_of(names("tags", &many).unwrap_err()), "tags");
        assert!(names("tags", &["a".repeat(256)]).is_err());
        assert!(names("tags", &["ok".to_string()]).is_ok());
    }
}
