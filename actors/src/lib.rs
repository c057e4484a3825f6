//! chorus-actors: the stateful core of chorus. Actors, the store and the
//! providers live here; this crate knows no HTTP.

pub mod accounts;
pub mod audit;
pub mod background;
pub mod error;
pub mod generation;
pub mod jobs;
pub mod llm;
pub mod model;
pub mod per_user;
pub mod secret;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod usage;

pub mod catalog;
pub mod channels;
pub mod connection;
pub mod conversation;
pub mod conversations;
mod core;
pub mod documents;

pub use crate::core::{Core, CoreConfig};
pub use error::CoreError;
