//! chorus-actors: the stateful core of chorus. Actors, the store and the
//! providers live here; this crate knows no HTTP.

pub mod error;
pub mod store;
pub mod supervisor;

mod core;

pub use crate::core::{Core, CoreConfig};
pub use error::CoreError;
