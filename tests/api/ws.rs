//! WebSocket gateway (API.md 6): auth, message types, channel rules,
//! recovery and presence.

use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn connects_with_a_token_or_an_api_key_and_refuses_bad_ones() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let ws = app.ws(&ada.access).await;
    assert_eq!(ws.hello["data"]["user_id"], ada.user_id.as_str());
    assert!(ws.hello["data"]["connection_id"].is_string());
    assert!(ws.hello["data"]["server_time"].is_string());

    let key: Value = app
        .post_json("/api-keys", Some(&ada.access), json!({"name": "ws"}))
        .await
        .json()
        .await
        .unwrap();
    let ws = app.ws(key["key"].as_str().unwrap()).await;
    assert_eq!(ws.hello["data"]["user_id"], ada.user_id.as_str());

    let base = format!("ws://{}/api/v1/ws", app.addr);
    assert_eq!(app.ws_refused(&base).await, 401);
    assert_eq!(app.ws_refused(&format!("{base}?token=nope")).await, 401);
    let forged = format!("{}x", ada.access);
    assert_eq!(app.ws_refused(&format!("{base}?token={forged}")).await, 401);
    // A session that logged out can no longer connect.
    let r = app
        .post_json("/auth/logout", Some(&ada.access), json!({}))
        .await;
    assert!(r.status().is_success());
    assert_eq!(
        app.ws_refused(&format!("{base}?token={}", ada.access))
            .await,
        401
    );
}

#[tokio::test]
async fn bad_json_and_unknown_types_get_an_error_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;

    ws.send_raw("{not json").await;
    let e = ws.next().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("BAD_REQUEST"))
    );

    ws.send(json!({"type": "dance", "ref": 5})).await;
    let e = ws.next().await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("BAD_REQUEST"), Some(5))
    );

    ws.send(json!({"type": "subscribe", "ref": "r"})).await;
    let e = ws.next().await;
    assert_eq!(e["code"], "VALIDATION_ERROR");
    assert_eq!(e["ref"], "r");

    ws.send(json!({"type": "ping", "ref": [1, 2]})).await;
    let pong = ws.next().await;
    assert_eq!(pong, json!({"type": "pong", "ref": [1, 2]}));
}

#[tokio::test]
async fn channel_rules_decide_who_may_subscribe() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let adas = app.conversation(&ada.access, json!({"title": "a"})).await;
    let mut ws = app.ws(&bob.access).await;

    let ok = |v: &Value, channel: &str| {
        assert_eq!(v["type"], "subscribed", "{v}");
        assert_eq!(v["channel"], channel);
        assert_eq!(v["ref"], channel);
    };
    let refused = |v: &Value, code: &str| {
        assert_eq!(
            (v["type"].as_str(), v["code"].as_str()),
            (Some("error"), Some(code)),
            "{v}"
        );
    };
    ok(&ws.subscribe("room:lobby").await, "room:lobby");
    let mine = format!("user:{}", bob.user_id);
    ok(&ws.subscribe(&mine).await, &mine);
    let bobs = app.conversation(&bob.access, json!({"title": "b"})).await;
    let own = format!("conversation:{bobs}");
    ok(&ws.subscribe(&own).await, &own);

    refused(
        &ws.subscribe(&format!("user:{}", ada.user_id)).await,
        "AUTHORIZATION_ERROR",
    );
    refused(
        &ws.subscribe(&format!("conversation:{adas}")).await,
        "AUTHORIZATION_ERROR",
    );
    refused(
        &ws.subscribe(&format!("project:{adas}")).await,
        "AUTHORIZATION_ERROR",
    );
    for bad in ["lobby", "room:", "room:a b", "team:x", "user:nope"] {
        refused(&ws.subscribe(bad).await, "INVALID_CHANNEL");
    }
    // Publishing follows the same rules.
    ws.send(json!({"type": "message", "channel": format!("user:{}", ada.user_id), "data": 1}))
        .await;
    refused(&ws.next().await, "AUTHORIZATION_ERROR");
}

#[tokio::test]
async fn at_most_the_configured_subscriptions_per_connection() {
    let app = spawn_app_with(|c| c.ws.max_subscriptions = 3, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut ws = app.ws(&ada.access).await;
    for i in 0..3 {
        assert_eq!(
            ws.subscribe(&format!("room:r{i}")).await["type"],
            "subscribed"
        );
    }
    let e = ws.subscribe("room:r3").await;
    assert_eq!(e["code"], "VALIDATION_ERROR", "{e}");
    // Subscribing again to one it has is fine; leaving one makes room.
    assert_eq!(ws.subscribe("room:r0").await["type"], "subscribed");
    ws.send(json!({"type": "unsubscribe", "channel": "room:r1", "ref": 9}))
        .await;
    assert_eq!(
        ws.next().await,
        json!({"type": "unsubscribed", "channel": "room:r1", "ref": 9})
    );
    assert_eq!(ws.subscribe("room:r3").await["type"], "subscribed");
}

#[tokio::test]
async fn messages_reach_every_subscriber_including_the_sender_until_they_leave() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let mut a = app.ws(&ada.access).await;
    let mut b = app.ws(&bob.access).await;
    a.subscribe("room:chat").await;
    b.subscribe("room:chat").await;

    a.send(json!({"type": "message", "channel": "room:chat", "data": {"text": "hi"}}))
        .await;
    for ws in [&mut a, &mut b] {
        let m = ws.next_of("channel_message").await;
        assert_eq!(m["channel"], "room:chat");
        assert_eq!(m["data"], json!({"text": "hi"}));
        assert_eq!(m["sender_id"], ada.user_id.as_str());
        assert!(m["id"].is_string() && m["timestamp"].is_string(), "{m}");
    }

    b.send(json!({"type": "unsubscribe", "channel": "room:chat"}))
        .await;
    assert_eq!(b.next_of("unsubscribed").await["channel"], "room:chat");
    a.send(json!({"type": "message", "channel": "room:chat", "data": 2}))
        .await;
    assert_eq!(a.next_of("channel_message").await["data"], 2);
    let seen = b.sync().await;
    assert!(
        seen.iter().all(|m| m["type"] != "channel_message"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn since_recovers_kept_messages_or_says_it_could_not() {
    let app = spawn_app_with(|c| c.ws.channel_history = 3, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut publisher = app.ws(&ada.access).await;
    publisher.subscribe("room:news").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        publisher
            .send(json!({"type": "message", "channel": "room:news", "data": n}))
            .await;
        ids.push(publisher.next_of("channel_message").await["id"].clone());
    }

    let mut late = app.ws(&ada.access).await;
    late.send(json!({"type": "subscribe", "channel": "room:news", "since": ids[0]}))
        .await;
    let sub = late.next().await;
    assert_eq!(
        (sub["type"].as_str(), sub["recovered"].as_bool()),
        (Some("subscribed"), Some(true))
    );
    assert_eq!(late.next().await["id"], ids[1]);
    assert_eq!(late.next().await["id"], ids[2]);
    // Then live ones.
    publisher
        .send(json!({"type": "message", "channel": "room:news", "data": 3}))
        .await;
    let live = late.next().await;
    assert_eq!(live["data"], 3);

    // Three more push ids[1] out of the history of three.
    for n in 4..7 {
        publisher
            .send(json!({"type": "message", "channel": "room:news", "data": n}))
            .await;
    }
    publisher.sync().await;
    let mut later = app.ws(&ada.access).await;
    later
        .send(json!({"type": "subscribe", "channel": "room:news", "since": ids[1]}))
        .await;
    let sub = later.next().await;
    assert_eq!(sub["recovered"], false, "{sub}");
    let kept: Vec<Value> = later
        .sync()
        .await
        .iter()
        .map(|m| m["data"].clone())
        .collect();
    assert_eq!(kept, vec![json!(4), json!(5), json!(6)]);
}

#[tokio::test]
async fn presence_tells_a_room_who_joined_and_who_left() {
    let app = spawn_app().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let users = |v: &Value| -> Vec<String> {
        let mut u: Vec<String> = v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        u.sort();
        u
    };
    let mut both = vec![ada.user_id.clone(), bob.user_id.clone()];
    both.sort();

    let mut a = app.ws(&ada.access).await;
    a.subscribe("room:p").await;
    let p = a.next_of("presence").await;
    assert_eq!(
        (p["channel"].as_str(), users(&p)),
        (Some("room:p"), vec![ada.user_id.clone()])
    );

    let mut b = app.ws(&bob.access).await;
    b.subscribe("room:p").await;
    assert_eq!(users(&a.next_of("presence").await), both);
    assert_eq!(users(&b.next_of("presence").await), both);

    // Bob's socket closing is a leave.
    drop(b);
    assert_eq!(
        users(&a.next_of("presence").await),
        vec![ada.user_id.clone()]
    );
}

#[tokio::test]
async fn a_quiet_socket_passivates_its_actor_and_keeps_its_subscriptions() {
    let app = spawn_app_with(|c| c.actors.idle_timeout_s = 1, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let mut quiet = app.ws(&ada.access).await;
    quiet.subscribe("room:q").await;
    let connection_actors = || async {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        metrics
            .lines()
            .find(|l| l.starts_with("chorus_actors{kind=\"connections\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    assert!(connection_actors().await.unwrap() >= 1.0);
    crate::helpers::eventually("the connection actor to passivate", || async {
        (connection_actors().await == Some(0.0)).then_some(())
    })
    .await;

    // Its subscription outlives the actor; its next frame starts it again.
    let mut other = app.ws(&ada.access).await;
    other.subscribe("room:q").await;
    other
        .send(json!({"type": "message", "channel": "room:q", "data": "still here"}))
        .await;
    assert_eq!(quiet.next_of("channel_message").await["data"], "still here");
    quiet.send(json!({"type": "ping", "ref": 1})).await;
    assert_eq!(quiet.next_of("pong").await["ref"], 1);
}
