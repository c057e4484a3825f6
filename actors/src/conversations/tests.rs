//! The conversation actor's mailbox against a slow disk.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::generation::ChatDeps;
use super::{ChatParams, ConvTables, Conversations, NewConversation};
use crate::channels::{Channels, ChannelsConfig};
use crate::documents::{Documents, DocumentsConfig};
use crate::llm::{Llm, ProviderKind, ProviderSpec};
use crate::model::{CountLimits, Role, User};
use crate::store::{Durability, Store, open_for_test};
use crate::supervisor::SupervisorConfig;
use crate::usage::Usage;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    conversations: Conversations,
    user: Arc<User>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = open_for_test(&dir.path().join("store"), Durability::Sync);
    let tables = ConvTables::open(&store, 100).unwrap();
    let echo = ProviderSpec {
        name: "echo".into(),
        kind: ProviderKind::Echo,
        base_url: None,
        api_key: None,
        models: Vec::new(),
        default_model: None,
        tokens_per_s: 20.0,
        fallback: None,
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        max_retries: 0,
    };
    let channels = Channels::new(ChannelsConfig {
        history: 10,
        history_ttl: Duration::from_secs(60),
        history_max_bytes: 1 << 20,
        max_rooms_per_user: 10,
    });
    let deps = ChatDeps {
        projects: crate::projects::Projects::open(store.clone(), channels.clone(), 10).unwrap(),
        store: store.clone(),
        catalog: super::Catalog::open(store.clone(), tables.clone(), CountLimits::default())
            .unwrap(),
        tables,
        llm: Llm::new(vec![echo], "echo").unwrap(),
        usage: Usage::open(store.clone()).unwrap(),
        channels,
        documents: Documents::open(
            store.clone(),
            DocumentsConfig {
                chunk_chars: 1_500,
                chunk_overlap: 200,
                index_dir: dir.path().join("index"),
                max_per_user: 10,
            },
        )
        .unwrap(),
        context_chunks: 3,
        replay_window: Duration::from_secs(60),
        context_messages: 10,
        default_reservation: 100,
        live: Default::default(),
    };
    let actors = SupervisorConfig {
        max_restarts: 5,
        restart_window: Duration::from_secs(60),
        idle_timeout: None,
        call_timeout: Duration::from_secs(30),
    };
    let conversations = Conversations::start(store.clone(), deps, actors)
        .await
        .unwrap();
    let user = Arc::new(User {
        id: Uuid::now_v7(),
        username: "ada".into(),
        email: "ada@example.com".into(),
        full_name: None,
        avatar_url: None,
        role: Role::User,
        is_active: true,
        password_hash: None,
        monthly_token_allowance: None,
        created_at: 0,
        updated_at: 0,
    });
    Fixture {
        _dir: dir,
        store,
        conversations,
        user,
    }
}

/// Section 4 of issue 11: the durable append of a chat's user message runs
/// outside the actor's handler, so a `cancel` is answered while the flush
/// is still in progress (before the fix it queued behind it).
#[tokio::test]
async fn a_cancel_is_answered_while_a_chat_start_waits_on_the_disk() {
    let f = fixture().await;
    let conv = f
        .conversations
        .create(f.user.id, NewConversation::default())
        .await
        .unwrap();
    f.store.hold_commits();
    let params = ChatParams {
        content: "hello there".into(),
        ..ChatParams::default()
    };
    let chat = tokio::spawn({
        let (conversations, user) = (f.conversations.clone(), f.user.clone());
        async move { conversations.chat(user, conv.id, params).await }
    });
    // The chat's append has reached the (held) flush.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while f.store.commits_at_hold() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the append never reached the flush"
        );
        tokio::task::yield_now().await;
    }
    let cancelled = tokio::time::timeout(
        Duration::from_secs(10),
        f.conversations.cancel(f.user.id, conv.id),
    )
    .await
    .expect("the cancel queued behind the held flush");
    assert!(
        cancelled.unwrap(),
        "the chat holds the lock while it starts"
    );
    assert_eq!(f.store.commits_at_hold(), 1, "the flush is still held");
    f.store.release_commits();
    let generation = chat.await.unwrap().unwrap();
    let end = generation.finished().await.unwrap();
    assert!(
        matches!(end.data(), crate::replay::GenData::Cancelled(_)),
        "{:?}",
        end.data()
    );
}

/// A chat refused while it prepares (quota spent) frees the lock at once
/// and leaves nothing to replay.
#[tokio::test]
async fn a_chat_refused_while_it_prepares_frees_the_lock_and_leaves_no_replay() {
    let f = fixture().await;
    let conv = f
        .conversations
        .create(f.user.id, NewConversation::default())
        .await
        .unwrap();
    let broke = Arc::new(User {
        monthly_token_allowance: Some(0),
        ..(*f.user).clone()
    });
    let params = || ChatParams {
        content: "hello".into(),
        ..ChatParams::default()
    };
    let refused = f.conversations.chat(broke, conv.id, params()).await;
    assert!(
        matches!(refused, Err(crate::error::CoreError::QuotaExceeded)),
        "{:?}",
        refused.err()
    );
    assert!(
        f.conversations
            .attach(f.user.id, conv.id)
            .await
            .unwrap()
            .is_none()
    );
    let generation = f
        .conversations
        .chat(f.user.clone(), conv.id, params())
        .await
        .expect("the lock is free again");
    generation.finished().await.unwrap();
}
