//! The hook seam through real jobs: an embedding application's hook that
//! fails is retried with backoff and its outcome recorded on the event, an
//! event a crash left unqueued is processed after the next start, and a
//! signed body goes through `Inbound::receive` end to end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

use super::*;
use crate::background::Background;
use crate::channels::{Channels, ChannelsConfig};
use crate::jobs::{Handlers, JobsConfig};
use crate::store::{Durability, Store, open_for_test};
use crate::supervisor::SupervisorConfig;

/// Fails its first `failures` calls, then succeeds; counts the calls.
struct Flaky {
    calls: Arc<AtomicU32>,
    failures: u32,
}

impl WebhookHook for Flaky {
    fn handle(&self, _event: InboundEvent) -> BoxFuture<'static, Result<(), String>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = n <= self.failures;
        Box::pin(async move {
            if fail {
                Err(format!("attempt {n} failed"))
            } else {
                Ok(())
            }
        })
    }
}

/// Starts jobs and the inbound handle over `events`, processing with `hook`.
async fn start(
    events: EventStore,
    store: Store,
    hook: Arc<dyn WebhookHook>,
) -> (Inbound, Background) {
    let channels = Channels::new(ChannelsConfig {
        history: 10,
        history_ttl: Duration::from_secs(60),
        history_max_bytes: 1 << 20,
        max_rooms_per_user: 10,
    });
    let mut handlers = Handlers::new();
    let process = ProcessWebhook {
        events: events.clone(),
        hook,
    };
    handlers.insert(JOB_TYPE.into(), Arc::new(process));
    let actors = SupervisorConfig {
        max_restarts: 5,
        restart_window: Duration::from_secs(60),
        idle_timeout: None,
        call_timeout: Duration::from_secs(5),
    };
    let config = JobsConfig {
        concurrency: 2,
        max_per_user: 100,
        max_delay: Duration::from_secs(60),
    };
    let background = Background::new();
    let (jobs, _ended) = Jobs::start(store, channels, handlers, &config, actors, &background)
        .await
        .unwrap();
    let source = InboundSource {
        name: "stripe".into(),
        secret: "whsec_k".into(),
        events: vec![],
    };
    (Inbound::start(events, jobs, vec![source]).await, background)
}

/// Polls event `id` until `done` holds for it, for at most 10 s.
async fn wait_for(
    events: &EventStore,
    id: Uuid,
    done: impl Fn(&InboundEvent) -> bool,
) -> InboundEvent {
    for _ in 0..1000 {
        if let Some(event) = events.get(id).unwrap()
            && done(&event)
        {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("event {id} never reached the state waited for");
}

#[tokio::test]
async fn a_failing_hook_is_retried_and_each_outcome_recorded_on_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_for_test(dir.path(), Durability::Sync);
    let events = EventStore::open(store.clone()).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let hook = Arc::new(Flaky {
        calls: calls.clone(),
        failures: 1,
    });
    let (inbound, _background) = start(events.clone(), store, hook).await;
    let body = br#"{"id":"evt_flaky","type":"invoice.paid"}"#;
    let header = signature::sign(b"whsec_k", chrono::Utc::now().timestamp(), body);
    let received = inbound
        .receive("stripe", Some(&header), body)
        .await
        .unwrap();
    assert_eq!(received.status, InboundStatus::Received);

    let failed = wait_for(&events, received.id, |e| e.status == InboundStatus::Failed).await;
    assert_eq!(failed.error.as_deref(), Some("attempt 1 failed"));
    // The jobs module retries after its 1 s backoff.
    let done = wait_for(&events, received.id, |e| {
        e.status == InboundStatus::Processed
    })
    .await;
    assert_eq!(done.error, None);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let (page, total) = inbound.list(Some("stripe"), 0, 10).unwrap();
    assert_eq!((total, page[0].id), (1, received.id));
}

#[tokio::test]
async fn an_event_stored_but_never_queued_is_processed_after_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_for_test(dir.path(), Durability::Sync);
    let events = EventStore::open(store.clone()).unwrap();
    // As if the process died between the event's commit and its job.
    let orphan = InboundEvent {
        id: Uuid::now_v7(),
        source: "stripe".into(),
        event_id: "evt_orphan".into(),
        event_type: None,
        status: InboundStatus::Received,
        received_at: now_ms(),
        processed_at: None,
        error: None,
        payload: JsonText::empty_object(),
    };
    events.insert(&orphan, true).await.unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let hook = Arc::new(Flaky {
        calls: calls.clone(),
        failures: 0,
    });
    let (_inbound, _background) = start(events.clone(), store, hook).await;
    let done = wait_for(&events, orphan.id, |e| e.status == InboundStatus::Processed).await;
    assert!(done.processed_at.is_some());
    assert_eq!(events.pending().unwrap(), Vec::<Uuid>::new());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn receive_refuses_before_storing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_for_test(dir.path(), Durability::Sync);
    let events = EventStore::open(store.clone()).unwrap();
    let (inbound, _background) = start(events.clone(), store, Arc::new(MarkProcessed)).await;
    let now = chrono::Utc::now().timestamp();
    let body = br#"{"id":"evt_1"}"#;
    let forged = signature::sign(b"guess", now, body);
    let err = inbound
        .receive("stripe", Some(&forged), body)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        InboundError::Signature(SignatureError::Mismatch)
    ));
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    let unknown = inbound
        .receive("paypal", Some(&forged), body)
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::NotFound);
    let text = b"not json";
    let signed = signature::sign(b"whsec_k", now, text);
    let err = inbound
        .receive("stripe", Some(&signed), text)
        .await
        .unwrap_err();
    assert!(matches!(err, InboundError::NotJson));
    assert_eq!(inbound.list(None, 0, 10).unwrap().1, 0);
}
