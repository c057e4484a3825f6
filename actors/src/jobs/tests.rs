//! Faults inside the jobs module: a store error that fails a JobActor mid-job,
//! and an idempotent replay racing the first request's commit.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::*;
use crate::channels::ChannelsConfig;

/// Runs until told to report progress or to finish, one permit each.
struct Gated {
    progress: Arc<Semaphore>,
    finish: Arc<Semaphore>,
}

impl JobHandler for Gated {
    fn run(&self, ctx: JobCtx) -> BoxFuture<'static, Result<Value, String>> {
        let (progress, finish) = (self.progress.clone(), self.finish.clone());
        Box::pin(async move {
            loop {
                tokio::select! {
                    p = progress.acquire() => {
                        p.map_err(|e| e.to_string())?.forget();
                        ctx.progress(50);
                    }
                    f = finish.acquire() => {
                        f.map_err(|e| e.to_string())?.forget();
                        return Ok(json!({ "done": true }));
                    }
                }
            }
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    _background: Background,
    jobs: Jobs,
    progress: Arc<Semaphore>,
    finish: Arc<Semaphore>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open_for_test(dir.path(), crate::store::Durability::Sync);
    let channels = Channels::new(ChannelsConfig {
        history: 10,
        history_ttl: Duration::from_secs(60),
        history_max_bytes: 1 << 20,
        max_rooms_per_user: 10,
    });
    let (progress, finish) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let mut handlers = Handlers::new();
    handlers.insert("delay".into(), Arc::new(Delay { max_seconds: 60.0 }));
    let gated = Gated {
        progress: progress.clone(),
        finish: finish.clone(),
    };
    handlers.insert("gated".into(), Arc::new(gated));
    let actors = SupervisorConfig {
        max_restarts: 5,
        restart_window: Duration::from_secs(60),
        idle_timeout: None,
        call_timeout: Duration::from_secs(5),
    };
    let config = JobsConfig {
        concurrency: 1,
        max_per_user: 100,
        max_delay: Duration::from_secs(60),
    };
    let background = Background::new();
    let (jobs, _ended) = Jobs::start(store, channels, handlers, &config, actors, &background)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        _background: background,
        jobs,
        progress,
        finish,
    }
}

fn new_job(job_type: &str) -> NewJob {
    NewJob {
        job_type: job_type.into(),
        payload: json!({}),
        priority: 5,
        scheduled_for: None,
        idempotency_key: None,
        max_attempts: 3,
    }
}

/// Polls `check` until it holds, for at most 10 s.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Fixture {
    fn status(&self, id: Uuid) -> JobStatus {
        self.jobs.deps.tables.jobs.get(&id).unwrap().unwrap().status
    }

    async fn until_status(&self, id: Uuid, status: JobStatus) -> Job {
        until(&format!("job {id} to be {status:?}"), || {
            self.status(id) == status
        })
        .await;
        self.jobs.deps.tables.jobs.get(&id).unwrap().unwrap()
    }

    /// With one slot, a second job completes only if the slot was given back.
    async fn assert_the_slot_is_free(&self, user: Uuid) {
        let (next, _) = self.jobs.create(user, new_job("delay")).await.unwrap();
        self.until_status(next.id, JobStatus::Completed).await;
    }
}

#[tokio::test]
async fn a_job_actor_restarted_after_a_store_error_still_completes_its_attempt() {
    let f = fixture().await;
    let user = Uuid::now_v7();
    let (job, _) = f.jobs.create(user, new_job("gated")).await.unwrap();
    f.until_status(job.id, JobStatus::Running).await;
    let first = f.jobs.actors.get(&job.id).unwrap().get_id();

    // The progress write fails: the actor fails and is restarted from the store.
    f.jobs.deps.faults.fail_next_record("progress");
    f.progress.add_permits(1);
    until("the actor to be restarted", || {
        f.jobs
            .actors
            .get(&job.id)
            .is_some_and(|a| a.get_id() != first)
    })
    .await;

    f.finish.add_permits(1);
    let done = f.until_status(job.id, JobStatus::Completed).await;
    assert_eq!(
        done.attempts, 1,
        "the attempt that ran is the one that counts"
    );
    f.assert_the_slot_is_free(user).await;
}

#[tokio::test]
async fn a_job_whose_outcome_failed_to_persist_runs_again_after_the_restart() {
    let f = fixture().await;
    let user = Uuid::now_v7();
    f.jobs.deps.faults.fail_next_record("completed");
    let (job, _) = f.jobs.create(user, new_job("delay")).await.unwrap();
    // Its actor failed while recording the outcome; the restarted one finds
    // the job running with no attempt, and re-queues it as start-up would.
    let done = f.until_status(job.id, JobStatus::Completed).await;
    assert_eq!(done.attempts, 2, "the interrupted attempt counts");
    let events = f.jobs.deps.tables.events_after(job.id, 0).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == crate::model::JobEventKind::Retrying),
        "{:?}",
        events.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    f.assert_the_slot_is_free(user).await;
}

#[tokio::test]
async fn an_idempotent_replay_waits_for_the_first_requests_commit() {
    let f = fixture().await;
    let user = Uuid::now_v7();
    let mut keyed = new_job("delay");
    keyed.idempotency_key = Some("order-42".into());
    f.jobs.deps.faults.hold_commits();

    let jobs = f.jobs.clone();
    let first_body = keyed.clone();
    let first = tokio::spawn(async move { jobs.create(user, first_body).await });
    until("the first request to reach its commit", || {
        f.jobs.deps.faults.commits_at_gate() == 1
    })
    .await;
    let jobs = f.jobs.clone();
    let mut replay = tokio::spawn(async move { jobs.create(user, keyed).await });
    tokio::select! {
        r = &mut replay => panic!("the replay answered before the first write was durable: {r:?}"),
        () = until("the replay to wait for the commit", || f.jobs.deps.faults.commits_at_gate() == 2) => {}
    }
    f.jobs.deps.faults.open_commits();
    let (first, created) = first.await.unwrap().unwrap();
    let (again, replayed_created) = replay.await.unwrap().unwrap();
    assert_eq!((created, replayed_created), (true, false));
    assert_eq!(first.id, again.id);
}

/// Section 4 of issue 11: an outcome's commit runs outside the actor's
/// handler, so the actor answers the next request while the flush is held
/// (before, a cancel queued behind the disk).
#[tokio::test]
async fn a_job_actor_answers_while_an_outcome_waits_on_the_disk() {
    let f = fixture().await;
    let user = Uuid::now_v7();
    let (job, _) = f.jobs.create(user, new_job("gated")).await.unwrap();
    f.until_status(job.id, JobStatus::Running).await;
    let store = f.jobs.deps.store.clone();
    store.hold_commits();
    f.finish.add_permits(1);
    until("the outcome to reach the flush", || {
        store.commits_at_hold() >= 1
    })
    .await;
    let answer = tokio::time::timeout(Duration::from_secs(10), f.jobs.cancel(user, job.id))
        .await
        .expect("the cancel queued behind the held flush");
    assert!(
        matches!(answer, Err(CoreError::Conflict(_))),
        "the job has completed: {answer:?}"
    );
    store.release_commits();
    f.assert_the_slot_is_free(user).await;
}

/// A cancel is answered only once it is durable, and deleting a job that
/// already ended does not give its place under the user's cap back twice.
#[tokio::test]
async fn a_cancel_answers_after_its_commit_and_a_delete_releases_once() {
    let f = fixture().await;
    let user = Uuid::now_v7();
    let (job, _) = f.jobs.create(user, new_job("gated")).await.unwrap();
    f.until_status(job.id, JobStatus::Running).await;
    let store = f.jobs.deps.store.clone();
    store.hold_commits();
    let jobs = f.jobs.clone();
    let mut cancel = tokio::spawn(async move { jobs.cancel(user, job.id).await });
    tokio::select! {
        r = &mut cancel => panic!("the cancel answered before it was durable: {r:?}"),
        () = until("the cancel to reach the flush", || store.commits_at_hold() >= 1) => {}
    }
    store.release_commits();
    let cancelled = cancel.await.unwrap().unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let (other, _) = f.jobs.create(user, new_job("gated")).await.unwrap();
    assert_eq!(
        f.jobs.deps.counts.get(user),
        1,
        "only the new job is unfinished"
    );
    f.jobs.delete(user, job.id).await.unwrap();
    assert_eq!(
        f.jobs.deps.counts.get(user),
        1,
        "a finished job holds no place"
    );
    f.jobs.delete(user, other.id).await.unwrap();
    assert_eq!(f.jobs.deps.counts.get(user), 0);
}
