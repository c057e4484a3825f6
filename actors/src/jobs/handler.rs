//! What a job type does: the [`JobHandler`] trait (with who may submit it),
//! the context a handler runs with, and the built-in `delay` type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::JobCtx;
use crate::error::CoreError;

/// Who may submit a job type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Users submit it through `POST /jobs` (and the routes built on jobs).
    User,
    /// Only the server makes it, as a system job: it acts with the server's
    /// own secrets (a webhook delivery signs with the operator's key).
    Internal,
}

/// The most attempts a user may ask for, unless a job type says fewer.
pub const MAX_ATTEMPTS: u32 = 100;
/// The most progress steps of a `delay` job.
pub const MAX_DELAY_STEPS: u64 = 100;

/// A whole number of a payload, also written `2.0` (as JavaScript may).
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
            .map(|f| f as u64)
    })
}

/// Runs one attempt of a job. Implemented once per job type.
pub trait JobHandler: Send + Sync + 'static {
    /// Whether users may submit this type.
    fn visibility(&self) -> Visibility {
        Visibility::User
    }

    /// The most attempts a user may ask for (a job that calls a model is
    /// held lower than one that only waits).
    fn max_attempts(&self) -> u32 {
        MAX_ATTEMPTS
    }

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

/// `delay`: `{"seconds": 0-max_seconds, "steps": 1-100, "fail": false}`
/// waits, reporting progress at each step; with `fail` it fails. For tests
/// and demos, so capped (`jobs.max_delay_s`): a wait holds a job slot.
pub struct Delay {
    /// The longest wait a `delay` job may ask for, in seconds (`jobs.max_delay_s`).
    pub max_seconds: f64,
}

impl JobHandler for Delay {
    fn validate(&self, payload: &Value) -> Result<(), CoreError> {
        let seconds = payload.get("seconds").map_or(Some(0.0), Value::as_f64);
        if !seconds.is_some_and(|s| (0.0..=self.max_seconds).contains(&s)) {
            let range = format!("0-{}", self.max_seconds);
            return Err(CoreError::validation("payload.seconds", range));
        }
        let steps = payload.get("steps").map_or(Some(1), whole);
        if !steps.is_some_and(|s| (1..=MAX_DELAY_STEPS).contains(&s)) {
            let range = format!("1-{MAX_DELAY_STEPS}");
            return Err(CoreError::validation("payload.steps", range));
        }
        Ok(())
    }

    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(async move {
            let seconds = ctx.payload["seconds"].as_f64().unwrap_or(0.0);
            let steps = whole(&ctx.payload["steps"]).unwrap_or(1).max(1);
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
