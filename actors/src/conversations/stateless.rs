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

use uuid::Uuid;

use super::{Conversations, generation};
use crate::error::CoreError;
use crate::model::User;
use crate::replay::{GenData, Generation, Started};

/// A stateless generation, started but not yet running.
pub struct Stateless {
    /// Its events and end; the `Start` event is already in the log.
    pub generation: Arc<Generation>,
    /// The run, until it has been polled to its end or handed to a task.
    run: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Stateless {
    /// Runs the generation as a task of its own, for listeners to follow.
    pub fn detach(mut self) -> Arc<Generation> {
        if let Some(run) = self.run.take() {
            tokio::spawn(run);
        }
        self.generation.clone()
    }

    /// Drives the generation to its end in the caller's task.
    pub async fn run_here(&mut self) {
        if let Some(run) = self.run.as_mut() {
            run.await;
            self.run = None;
        }
    }
}

impl Drop for Stateless {
    /// A run not yet at its end continues as a task of its own: dropped
    /// here, the provider call and the usage settlement would be lost.
    fn drop(&mut self) {
        let Some(run) = self.run.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(run);
            }
            // No runtime left (the process is ending): nothing can run it.
            Err(_) => tracing::debug!("a stateless generation was dropped with its runtime"),
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
