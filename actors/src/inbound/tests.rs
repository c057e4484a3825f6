//! The event store: one event per (source, event id), outcomes, pages and
//! the pending index.

use uuid::Uuid;

use super::*;
use crate::store::{Durability, open_for_test};

fn event(source: &str, event_id: &str) -> InboundEvent {
    InboundEvent {
        id: Uuid::now_v7(),
        source: source.into(),
        event_id: event_id.into(),
        event_type: Some("ping".into()),
        status: InboundStatus::Received,
        received_at: now_ms(),
        processed_at: None,
        error: None,
        payload: JsonText::empty_object(),
    }
}

#[tokio::test]
async fn an_event_id_is_stored_once_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let events = EventStore::open(open_for_test(dir.path(), Durability::Sync)).unwrap();
    events
        .insert(&event("stripe", "evt_1"), true)
        .await
        .unwrap();
    let again = events.insert(&event("stripe", "evt_1"), true).await;
    assert!(matches!(again, Err(CoreError::Conflict(_))), "{again:?}");
    // Another source may use the same id, and a prefix of a source is another source.
    events
        .insert(&event("github", "evt_1"), true)
        .await
        .unwrap();
    events
        .insert(&event("stripe2", "evt_1"), true)
        .await
        .unwrap();
    let (all, total) = events.page(None, 0, 10).unwrap();
    assert_eq!(total, 3);
    assert_eq!(all[0].source, "stripe2", "newest first");
    let (stripe, total) = events.page(Some("stripe"), 0, 10).unwrap();
    assert_eq!((stripe.len(), total), (1, 1));
    assert_eq!(events.page(Some("stri"), 0, 10).unwrap().1, 0);
}

#[tokio::test]
async fn an_outcome_is_recorded_on_the_event_and_ends_its_pending_entry() {
    let dir = tempfile::tempdir().unwrap();
    let events = EventStore::open(open_for_test(dir.path(), Durability::Sync)).unwrap();
    let (a, b, ignored) = (event("s", "a"), event("s", "b"), event("s", "c"));
    events.insert(&a, true).await.unwrap();
    events.insert(&b, true).await.unwrap();
    events.insert(&ignored, false).await.unwrap();
    assert_eq!(events.pending().unwrap(), vec![a.id, b.id]);

    let failed = events
        .record_outcome(a.id, &Err("boom".into()))
        .await
        .unwrap();
    assert_eq!(failed.status, InboundStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("boom"));
    let done = events.record_outcome(a.id, &Ok(())).await.unwrap();
    assert_eq!(done.status, InboundStatus::Processed);
    assert_eq!(done.error, None);
    assert!(done.processed_at.is_some());
    assert_eq!(events.get(a.id).unwrap().unwrap(), done);
    assert_eq!(events.pending().unwrap(), vec![b.id]);
}

#[test]
fn only_listed_types_are_wanted_unless_the_list_is_empty() {
    let mut source = InboundSource {
        name: "s".into(),
        secret: "k".into(),
        events: vec![],
    };
    assert!(source.wants(None));
    source.events = vec!["invoice.paid".into()];
    assert!(source.wants(Some("invoice.paid")));
    assert!(!source.wants(Some("invoice.voided")));
    assert!(!source.wants(None));
}

#[test]
fn source_names_are_lower_case_path_segments() {
    assert!(valid_source_name("stripe"));
    assert!(valid_source_name("git-hub_2"));
    for bad in ["", "Stripe", "a/b", "a.b", &"x".repeat(65)] {
        assert!(!valid_source_name(bad), "{bad:?}");
    }
}
