//! Plain data types that are stored (and, through the edge's views, returned).
//! Times are Unix milliseconds; the edge formats them as RFC 3339.

mod api_key;
mod audit;
mod conversation;
mod document;
mod file;
mod job;
mod json_text;
pub mod limits;
mod persona;
mod plugin_state;
mod project;
mod session;
mod setting;
mod user;
#[cfg(test)]
mod versions;

pub use crate::llm::MessageRole;
pub use api_key::ApiKey;
pub use audit::AuditRecord;
pub use conversation::{Conversation, Message, MessageStatus};
pub use document::{Document, DocumentStatus};
pub use file::{FileRecord, FileStatus};
pub use job::{Job, JobEvent, JobEventKind, JobLog, JobStatus};
pub use json_text::JsonText;
pub use limits::CountLimits;
pub use persona::{Persona, Tag};
pub use plugin_state::{PluginState, StateStrategy};
pub use project::{ContactSubmission, Project};
pub use session::Session;
pub use setting::{Scope, SettingDefinition, SettingInstance, SettingRules, ValueType};
pub use user::{Role, User};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
