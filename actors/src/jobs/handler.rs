//! What a job type does: the [`JobHandler`] trait, the context a handler
//! runs with, and the built-in `delay` type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::actor::{JobActor, JobMsg};
use crate::error::CoreError;
use crate::supervisor::Mailbox;

/// Runs one attempt of a job. Implemented once per job type.
pub trait JobHandler: Send + Sync + 'static {
    /// Checks a payload when the job is created (422 names the field).
    fn validate(&self, _payload: &Value) -> Result<(), CoreError> {
        Ok(())
    }

    /// One attempt: the result on success, a message on failure (which is
    /// retried while attempts remain). Must watch `ctx.cancel`.
    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>>;
}

/// The job types a server runs, by name.
pub type Handlers = HashMap<String, Arc<dyn JobHandler>>;

/// What a running attempt knows and how it reports.
pub struct JobCtx {
    pub job_id: Uuid,
    pub user_id: Uuid,
    pub payload: Value,
    /// Cancelled when the job is; a handler stops as soon as it can.
    pub cancel: CancellationToken,
    pub(super) mailbox: Mailbox<JobActor>,
}

impl JobCtx {
    /// Reports progress, 0-100.
    pub fn progress(&self, percent: u8) {
        self.mailbox.send(JobMsg::Progress(percent.min(100)));
    }

    /// Adds a line to the job's log.
    pub fn log(&self, level: &'static str, message: impl Into<String>) {
        self.mailbox.send(JobMsg::Log(level, message.into()));
    }
}

/// `delay`: `{"seconds": 0-3600, "steps": 1-100, "fail": false}` waits,
/// reporting progress at each step; with `fail` it fails. For tests and load.
pub struct Delay;

impl JobHandler for Delay {
    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        let seconds = payload.get("seconds").map_or(Some(0.0), Value::as_f64);
        if !seconds.is_some_and(|s| (0.0..=3600.0).contains(&s)) {
            return Err(CoreError::validation("payload.seconds", "0-3600"));
        }
        let steps = payload.get("steps").map_or(Some(1), Value::as_u64);
        if !steps.is_some_and(|s| (1..=100).contains(&s)) {
            return Err(CoreError::validation("payload.steps", "1-100"));
        }
        Ok(())
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(async move {
            let seconds = ctx.payload["seconds"].as_f64().unwrap_or(0.0);
            let steps = ctx.payload["steps"].as_u64().unwrap_or(1).max(1);
            let step = Duration::from_secs_f64(seconds / steps as f64);
            for i in 1..=steps {
                if !step.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(step) => {}
                        () = ctx.cancel.cancelled() => return Err("cancelled".into()),
                    }
                }
                if steps > 1 {
                    ctx.progress((i * 100 / steps) as u8);
                }
            }
            if ctx.payload["fail"].as_bool().unwrap_or(false) {
                ctx.log("error", "failing as asked");
                return Err("failed as asked (fail: true)".into());
            }
            Ok(json!({ "waited_s": seconds }))
        })
    }
}
