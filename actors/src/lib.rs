//! chorus-actors: the stateful core of chorus. Actors, the store and the
//! providers live here; this crate knows no HTTP.

#![warn(missing_docs)]

pub mod accounts;
pub mod audit;
pub mod background;
pub mod error;
pub mod files;
pub mod inbound;
pub mod jobs;
pub mod llm;
pub mod model;
#[cfg(test)]
mod paused_time;
pub mod per_user;
pub mod plugin_state;
pub mod replay;
pub mod secret;
pub mod settings;
pub mod store;
pub mod supervisor;
pub mod usage;

pub mod channels;
pub mod connections;
pub mod contacts;
pub mod conversations;
mod core;
pub mod documents;
pub mod notifications;
pub mod projects;
pub mod stats;
pub mod trace_context;

pub mod changes;
pub mod flags;

pub use crate::core::{Core, CoreConfig};
pub use error::{CoreError, ErrorKind};
