//! Stateless generations (`/v1`, `/ai/completions`, tickets): no
//! conversation, nothing stored but usage. A streamed answer runs its
//! generation as a task of its own, since its listeners follow the replay
//! log. An answer sent whole can drive the generation in the request's own
//! task instead ([`Stateless::run_here`]). That saves a task and the
//! wake-ups between the two per call. If the request is dropped midway
//! (the client went away), the rest of the run moves to a task of its own,
//! so the call still ends and settles its usage as a detached one would.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tracing::Instrument;
use uuid::Uuid;

use super::{Conversations, generation};
use crate::error::CoreError;
use crate::model::User;
use crate::replay::{GenData, Generation, Started};

/// A stateless generation, started but not yet running. Dropped before its
/// end, it cancels the run and hands the rest to a task: the run then
/// closes the provider call and settles its usage. Only [`Stateless::detach`]
/// keeps a run going without the caller.
#[must_use = "a dropped generation is cancelled; detach it or run it here"]
pub struct Stateless {
    /// Its events and end; the `Start` event is already in the log.
    pub generation: Arc<Generation>,
    /// The run, until it has been polled to its end or handed to a task.
    run: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Stateless {
    /// Runs the generation as a task of its own, for listeners to follow,
    /// in the caller's span (the request's trace, as a conversation chat's).
    pub fn detach(mut self) -> Arc<Generation> {
        if let Some(run) = self.run.take() {
            tokio::spawn(run.in_current_span());
        }
        self.generation.clone()
    }

    /// Drives the generation to its end in the caller's task. A caller
    /// dropped midway cancels it (see [`Stateless`]).
    pub async fn run_here(&mut self) {
        if let Some(run) = self.run.as_mut() {
            run.await;
            self.run = None;
        }
    }
}

impl Drop for Stateless {
    /// A run not yet at its end is cancelled and continues as a task of its
    /// own, which ends it: dropped here, the provider call would be cut
    /// without its usage being settled.
    fn drop(&mut self) {
        // A run that panicked cannot be polled again; its reservation was
        // released as it unwound.
        if std::thread::panicking() {
            return;
        }
        let Some(run) = self.run.take() else { return };
        self.generation.cancel.cancel();
        match tokio::runtime::Handle::try_current() {
            // At shutdown the runtime takes no new task and drops it at once,
            // as it drops a detached generation.
            Ok(runtime) => {
                runtime.spawn(run.in_current_span());
            }
            // Dropped on a thread outside any runtime: nothing can run it.
            Err(_) => tracing::debug!("a stateless generation was dropped outside a runtime"),
        }
    }
}

impl Conversations {
    /// A stateless generation, recorded in the query log as `kind`, run as
    /// a task of its own.
    pub async fn complete(
        &self,
        user: Arc<User>,
        provider: Option<&str>,
        request: crate::llm::ChatRequest,
        kind: crate::usage::CallKind,
    ) -> Result<Arc<Generation>, CoreError> {
        Ok(self.stateless(user, provider, request, kind)?.detach())
    }

    /// A stateless generation, checked and reserved but not running: the
    /// caller detaches it or runs it here.
    pub fn stateless(
        &self,
        user: Arc<User>,
        provider: Option<&str>,
        mut request: crate::llm::ChatRequest,
        kind: crate::usage::CallKind,
    ) -> Result<Stateless, CoreError> {
        request.validate()?;
        let model = (!request.model.is_empty()).then_some(request.model.as_str());
        self.check_provider(provider)?;
        let (provider, model) = self.resolve(provider, model)?;
        request.model = model;
        let reservation = self.deps.reserve(&user, &request)?;
        reservation.clamp(&mut request);
        let generation = Generation::with_kind(Uuid::now_v7(), Uuid::nil(), None, kind);
        generation.push(GenData::Start(Started {
            message_id: generation.message_id,
            user_message_id: None,
            provider: provider.clone(),
            model: request.model.clone(),
        }));
        let run = generation::run(
            self.deps.clone(),
            generation.clone(),
            reservation,
            provider,
            request,
            |_| {},
        );
        Ok(Stateless {
            generation,
            run: Some(Box::pin(run)),
        })
    }
}
