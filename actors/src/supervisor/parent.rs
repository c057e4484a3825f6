//! The parent actor of one kind: starts children, restarts failed ones,
//! forgets stopped ones. All registry writes happen here, one at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};

use super::child::{Child, is_running};
use super::{ChildRef, KeyedActor, ParentMsg, Registry, StartReply, SupervisorConfig};
use crate::error::CoreError;

pub(super) struct Parent<A: KeyedActor> {
    pub(super) behavior: Arc<A>,
    pub(super) registry: Arc<Registry<A>>,
    pub(super) config: SupervisorConfig,
}

pub(super) struct ParentState<A: KeyedActor> {
    /// Which key each live child serves, to route supervision events.
    keys: HashMap<ActorId, A::Key>,
    /// Recent failure times per key, for the restart limit.
    failures: HashMap<A::Key, VecDeque<Instant>>,
    /// Keys whose child is draining to passivate, with the starts that wait
    /// for it to stop (so two actors never run for one key).
    draining: HashMap<A::Key, Vec<StartReply<A>>>,
    /// Keys whose child is loading, with the starts that wait for it. The
    /// load runs outside this actor, so one slow load delays only its own key.
    starting: HashMap<A::Key, Vec<StartReply<A>>>,
}

impl<A: KeyedActor> Parent<A> {
    /// Failures of `key` still inside the restart window.
    fn recent_failures(&self, state: &mut ParentState<A>, key: &A::Key) -> usize {
        let window = self.config.restart_window;
        match state.failures.get_mut(key) {
            Some(times) => {
                while times.front().is_some_and(|t| t.elapsed() > window) {
                    times.pop_front();
                }
                let n = times.len();
                if n == 0 {
                    state.failures.remove(key);
                }
                n
            }
            None => 0,
        }
    }

    fn is_down(&self, state: &mut ParentState<A>, key: &A::Key) -> bool {
        self.recent_failures(state, key) > self.config.max_restarts as usize
    }

    /// Starts `key`'s child in a task of its own; `waiting` (and any start
    /// of the key that comes meanwhile) is answered when its load has ended.
    fn begin_start(
        &self,
        myself: &ActorRef<ParentMsg<A>>,
        state: &mut ParentState<A>,
        key: A::Key,
        waiting: Vec<StartReply<A>>,
    ) {
        state
            .starting
            .entry(key.clone())
            .or_default()
            .extend(waiting);
        let child = Child {
            behavior: self.behavior.clone(),
            idle_timeout: self.config.idle_timeout,
        };
        let parent = myself.clone();
        tokio::spawn(async move {
            let started = Actor::spawn_linked(None, child, key.clone(), parent.get_cell())
                .await
                .map(|(actor, _)| actor)
                .map_err(|e| startup_error::<A>(e));
            if let Err(ractor::MessagingErr::SendErr(ParentMsg::Started(_, Ok(orphan)))) =
                parent.send_message(ParentMsg::Started(key, started))
            {
                // The parent stopped meanwhile (shutdown): so does the child.
                orphan.stop(Some("shutdown".into()));
            }
        });
    }

    /// Registers a child whose load has ended and answers who waited for it.
    fn started(
        &self,
        myself: &ActorRef<ParentMsg<A>>,
        state: &mut ParentState<A>,
        key: A::Key,
        result: Result<ChildRef<A>, CoreError>,
    ) {
        let waiting = state.starting.remove(&key).unwrap_or_default();
        let result = match result {
            Ok(actor) if is_running(&actor) => {
                state.keys.insert(actor.get_id(), key.clone());
                self.registry.insert(key, actor.clone());
                self.report_size();
                Ok(actor)
            }
            Ok(_) => {
                // It failed before we heard of its start: a failure like any.
                self.note_failure(state, &key);
                if !self.is_down(state, &key) {
                    return self.begin_start(myself, state, key, waiting);
                }
                Err(self.down_error())
            }
            Err(e) => {
                if waiting.is_empty() {
                    tracing::error!(kind = A::KIND, ?key, error = %e, "restart failed");
                }
                Err(e)
            }
        };
        for reply in waiting {
            let _ = reply.send(result.clone());
        }
    }

    fn note_failure(&self, state: &mut ParentState<A>, key: &A::Key) {
        state
            .failures
            .entry(key.clone())
            .or_default()
            .push_back(Instant::now());
    }

    fn down_error(&self) -> CoreError {
        CoreError::Unavailable(format!("{} is down after repeated failures", A::KIND))
    }

    /// Drops the registry entry of a child that ended, if it is still that child's.
    fn forget(&self, state: &mut ParentState<A>, cell: &ActorCell) -> Option<A::Key> {
        let id = cell.get_id();
        let key = state.keys.remove(&id)?;
        self.registry.remove_if(&key, |_, r| r.get_id() == id);
        self.report_size();
        Some(key)
    }

    fn report_size(&self) {
        metrics::gauge!("chorus_actors", "kind" => A::KIND).set(self.registry.len() as f64);
    }
}

impl<A: KeyedActor> Parent<A> {
    /// Starts a fresh child for the starts that waited on a draining one.
    fn answer_waiting(
        &self,
        myself: &ActorRef<ParentMsg<A>>,
        state: &mut ParentState<A>,
        key: A::Key,
    ) {
        let Some(waiting) = state.draining.remove(&key) else {
            return;
        };
        if !waiting.is_empty() {
            self.begin_start(myself, state, key, waiting);
        }
    }
}

/// The error a failed start reports: the kind's own error from `load` when
/// there is one (a missing record is `NotFound`, not an outage).
fn startup_error<A: KeyedActor>(e: SpawnErr) -> CoreError {
    if let SpawnErr::StartupFailed(inner) = &e
        && let Some(core) = inner.downcast_ref::<CoreError>()
    {
        return core.clone();
    }
    tracing::error!(kind = A::KIND, error = %e, "actor failed to start");
    CoreError::Unavailable(A::KIND.to_string())
}

impl<A: KeyedActor> Actor for Parent<A> {
    type Msg = ParentMsg<A>;
    type State = ParentState<A>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        self.report_size();
        Ok(ParentState {
            keys: HashMap::new(),
            failures: HashMap::new(),
            draining: HashMap::new(),
            starting: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (key, reply) = match msg {
            ParentMsg::Start(key, reply) => (key, reply),
            ParentMsg::Started(key, result) => {
                self.started(&myself, state, key, result);
                return Ok(());
            }
            ParentMsg::Idle(key, id) => {
                let current = self.registry.get(&key).map(|r| r.value().clone());
                if let Some(actor) = current.filter(|a| a.get_id() == id) {
                    self.registry.remove(&key);
                    self.report_size();
                    state.draining.entry(key).or_default();
                    // Processes what is queued, refuses what comes later, stops.
                    if actor.drain().is_err() {
                        actor.stop(Some("passivated".into()));
                    }
                }
                return Ok(());
            }
        };
        if let Some(waiting) = state
            .draining
            .get_mut(&key)
            .or_else(|| state.starting.get_mut(&key))
        {
            waiting.push(reply);
            return Ok(());
        }
        match self.registry.get(&key).map(|r| r.value().clone()) {
            Some(actor) if is_running(&actor) => {
                // The caller may have timed out and left; that is its business.
                let _ = reply.send(Ok(actor));
            }
            _ if self.is_down(state, &key) => {
                let _ = reply.send(Err(self.down_error()));
            }
            _ => self.begin_start(&myself, state, key, vec![reply]),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(key) = self.forget(state, &cell) {
                    self.answer_waiting(&myself, state, key);
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(key) = self.forget(state, &cell) else {
                    return Ok(());
                };
                if state.draining.contains_key(&key) {
                    // It failed while draining: the waiting starts get a fresh child.
                    self.answer_waiting(&myself, state, key);
                    return Ok(());
                }
                self.note_failure(state, &key);
                if self.is_down(state, &key) {
                    tracing::error!(kind = A::KIND, ?key, error = %err, "actor failed too often; it stays down");
                    return Ok(());
                }
                tracing::warn!(kind = A::KIND, ?key, error = %err, "actor failed; restarting it");
                metrics::counter!("chorus_actor_restarts_total", "kind" => A::KIND).increment(1);
                if !state.starting.contains_key(&key) {
                    self.begin_start(&myself, state, key, Vec::new());
                }
            }
            _ => {}
        }
        Ok(())
    }
}
