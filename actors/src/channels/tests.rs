//! Unit tests of the channel registry: fan-out, recovery, presence, budgets, room caps.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

fn channels(history: usize) -> Channels {
    Channels::new(ChannelsConfig {
        history,
        history_ttl: Duration::from_secs(300),
        history_max_bytes: 1 << 20,
        max_rooms_per_user: 100,
    })
}

fn drain(rx: &mut OutboxRx) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.frames.try_recv() {
        out.push(serde_json::from_slice::<Value>(&frame).unwrap());
    }
    out
}

fn ids(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| f["type"] == "channel_message")
        .map(|f| f["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn subscribers_get_each_message_once_with_the_sender_included() {
    let ch = channels(10);
    let (a, mut ra) = Outbox::new(1, 16);
    let (b, mut rb) = Outbox::new(2, 16);
    ch.subscribe("room:x", Uuid::now_v7(), &a, None, None)
        .unwrap();
    ch.subscribe("room:x", Uuid::now_v7(), &b, None, Some(&json!(3)))
        .unwrap();
    let id = ch.publish("room:x", None, &json!({"n": 1}));
    let fa = drain(&mut ra);
    let fb = drain(&mut rb);
    assert_eq!(fa[0]["type"], "subscribed");
    assert_eq!(fb[0]["ref"], 3);
    assert_eq!(ids(&fa), vec![id]);
    assert_eq!(ids(&fb), vec![id]);
    assert_eq!(fb[1]["data"]["n"], 1);
}

#[tokio::test]
async fn since_replays_kept_messages_and_says_whether_it_recovered() {
    let ch = channels(3);
    let first = ch.publish("room:r", None, &json!(1));
    let second = ch.publish("room:r", None, &json!(2));
    let third = ch.publish("room:r", None, &json!(3));

    let (a, mut ra) = Outbox::new(1, 16);
    ch.subscribe("room:r", Uuid::now_v7(), &a, Some(first), None)
        .unwrap();
    let got = drain(&mut ra);
    assert_eq!(got[0]["recovered"], true);
    assert_eq!(ids(&got), vec![second, third]);

    // Two more push `first` and `second` out of the history of three.
    ch.publish("room:r", None, &json!(4));
    ch.publish("room:r", None, &json!(5));
    let (b, mut rb) = Outbox::new(2, 16);
    ch.subscribe("room:r", Uuid::now_v7(), &b, Some(first), None)
        .unwrap();
    let got = drain(&mut rb);
    assert_eq!(got[0]["recovered"], false);
    assert_eq!(ids(&got).len(), 3);

    let (c, mut rc) = Outbox::new(3, 16);
    ch.subscribe("room:r", Uuid::now_v7(), &c, Some(second), None)
        .unwrap();
    assert_eq!(drain(&mut rc)[0]["recovered"], true);
}

#[tokio::test]
async fn a_new_channel_cannot_recover_ids_from_before_it_existed() {
    let ch = channels(3);
    let old = ch.publish("room:elsewhere", None, &json!(1));
    let (a, mut ra) = Outbox::new(1, 16);
    ch.subscribe("room:fresh", Uuid::now_v7(), &a, Some(old - 1), None)
        .unwrap();
    assert_eq!(drain(&mut ra)[0]["recovered"], false);
}

#[tokio::test]
async fn a_full_queue_closes_only_that_subscriber() {
    let ch = channels(0);
    let (slow, slow_rx) = Outbox::new(1, 2);
    let (fast, mut fast_rx) = Outbox::new(2, 64);
    ch.subscribe("room:b", Uuid::now_v7(), &slow, None, None)
        .unwrap();
    ch.subscribe("room:b", Uuid::now_v7(), &fast, None, None)
        .unwrap();
    for i in 0..10 {
        ch.publish("room:b", None, &json!(i));
    }
    assert_eq!(slow_rx.close.reason(), Some(outbox::SLOW_CONSUMER));
    assert_eq!(ids(&drain(&mut fast_rx)).len(), 10);
}

#[tokio::test]
async fn presence_announces_joins_and_leaves_once_per_burst() {
    let ch = channels(0);
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, mut ra) = Outbox::new(1, 64);
    let (a2, _ra2) = Outbox::new(2, 64);
    let (b, _rb) = Outbox::new(3, 64);
    ch.subscribe("room:p", alice, &a, None, None).unwrap();
    ch.subscribe("room:p", alice, &a2, None, None).unwrap();
    ch.subscribe("room:p", bob, &b, None, None).unwrap();
    let presence = next_presence(&mut ra).await;
    let mut both = vec![alice.to_string(), bob.to_string()];
    both.sort();
    assert_eq!(presence, both);

    // Alice's second connection leaving is no leave; Bob's is.
    assert!(ch.unsubscribe("room:p", 2));
    assert!(ch.unsubscribe("room:p", 3));
    assert_eq!(next_presence(&mut ra).await, vec![alice.to_string()]);
    assert!(!ch.unsubscribe("room:p", 3));
}

async fn next_presence(rx: &mut OutboxRx) -> Vec<String> {
    loop {
        let frame: Bytes = tokio::time::timeout(Duration::from_secs(5), rx.frames.recv())
            .await
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_slice(&frame).unwrap();
        if v["type"] == "presence" {
            return v["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
        }
    }
}

fn budgeted(max_bytes: usize, max_rooms: usize) -> Channels {
    Channels::new(ChannelsConfig {
        history: 100,
        history_ttl: Duration::from_secs(300),
        history_max_bytes: max_bytes,
        max_rooms_per_user: max_rooms,
    })
}

#[tokio::test]
async fn past_the_byte_budget_the_oldest_messages_of_any_channel_go_first() {
    let ch = budgeted(3_000, 100);
    let pad = "x".repeat(400);
    let old: Vec<u64> = (0..4)
        .map(|n| ch.publish("room:old", None, &json!({ "n": n, "pad": pad })))
        .collect();
    let new: Vec<u64> = (0..4)
        .map(|n| ch.publish("room:new", None, &json!({ "n": n, "pad": pad })))
        .collect();
    assert!(ch.inner.budget.charged() <= 3_000);

    let (a, mut ra) = Outbox::new(1, 64);
    ch.subscribe("room:old", Uuid::now_v7(), &a, Some(old[0]), None)
        .unwrap();
    let got = drain(&mut ra);
    assert_eq!(got[0]["recovered"], false, "the floor rose with the drops");
    assert!(ids(&got).len() < 3, "{got:?}");
    let (b, mut rb) = Outbox::new(2, 64);
    ch.subscribe("room:new", Uuid::now_v7(), &b, Some(new[0]), None)
        .unwrap();
    let got = drain(&mut rb);
    assert_eq!(got[0]["recovered"], true);
    assert_eq!(ids(&got), new[1..].to_vec());
}

#[tokio::test]
async fn a_user_creates_rooms_up_to_the_cap_and_a_dropped_room_frees_one() {
    let ch = budgeted(1 << 20, 2);
    let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, _ra) = Outbox::new(1, 64);
    let (b, _rb) = Outbox::new(2, 64);
    ch.subscribe("room:a1", ada, &a, None, None).unwrap();
    ch.subscribe("room:a2", ada, &a, None, None).unwrap();
    assert_eq!(
        ch.subscribe("room:a3", ada, &a, None, None),
        Err(TooManyRooms { limit: 2 })
    );
    // Joining Bob's room is no creation; Bob's rooms are his.
    ch.subscribe("room:b1", bob, &b, None, None).unwrap();
    ch.subscribe("room:b1", ada, &a, None, None).unwrap();
    // Gone at once, though the announcement of the join is still pending.
    ch.unsubscribe("room:a1", 1);
    ch.subscribe("room:a3", ada, &a, None, None).unwrap();
}

#[tokio::test]
async fn the_sweeper_stops_when_its_token_is_cancelled() {
    let ch = channels(10);
    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn(ch.sweep_until(stop.clone()));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), sweeper)
        .await
        .expect("the sweeper did not stop")
        .unwrap();
}
