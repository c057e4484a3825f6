//! The `file.delete` job type: removes a deleted (or swept) file's object
//! from the store, retried with backoff until it is gone. Internal: only
//! the server makes it, as a system job.

use futures::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Blobs;
use crate::error::CoreError;
use crate::jobs::handler::{JobHandler, Visibility};
use crate::jobs::{JobCtx, SYSTEM_USER};

/// Handler of `file.delete` jobs: `{"key": "<user id>/<file id>"}`.
pub struct DeleteObject(pub Blobs);

/// Whether `key` is an object key files make (two UUIDs), so a job can
/// never name any other object.
fn file_key(payload: &Value) -> Option<&str> {
    let key = payload.get("key")?.as_str()?;
    let (user, file) = key.split_once('/')?;
    (Uuid::parse_str(user).is_ok() && Uuid::parse_str(file).is_ok()).then_some(key)
}

impl JobHandler for DeleteObject {
    fn visibility(&self) -> Visibility {
        Visibility::Internal
    }

    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        file_key(payload)
            .map(|_| ())
            .ok_or_else(|| CoreError::validation("payload.key", "a file's object key"))
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let blobs = self.0.clone();
        let key = file_key(&ctx.payload).map(str::to_string);
        Box::pin(async move {
            if ctx.user_id != SYSTEM_USER {
                return Err("a file deletion must be a system job".into());
            }
            let key = key.ok_or("no object key")?;
            blobs.delete(&key).await.map_err(|e| {
                tracing::warn!(key, error = %e, "object removal failed; retrying");
                e.public_message()
            })?;
            Ok(json!({ "deleted": key }))
        })
    }
}
