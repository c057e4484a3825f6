//! `Server-Timing` on AI and `/v1` answers (API.md 12): total, upstream and
//! queue in milliseconds, consistent with each other and with the
//! provider's own time; off with `server.server_timing = false`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, slow_echo, spawn_app_with};

/// The three durations of a `Server-Timing` header, in ms.
fn parts(response: &reqwest::Response) -> (f64, f64, f64) {
    let header = response
        .headers()
        .get("server-timing")
        .expect("a Server-Timing header")
        .to_str()
        .unwrap()
        .to_string();
    let dur = |name: &str| -> f64 {
        header
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(&format!("{name};dur=")))
            .unwrap_or_else(|| panic!("no {name} in {header}"))
            .parse()
            .unwrap()
    };
    (dur("total"), dur("upstream"), dur("queue"))
}

async fn completion(app: &TestApp, token: &str, stream: bool) -> reqwest::Response {
    let body = json!({"model": "echo/echo-1", "stream": stream,
        "messages": [{"role": "user", "content": "one two three four"}]});
    app.client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn v1_and_ai_answers_carry_total_upstream_and_queue() {
    // Four tokens at 20 tokens/s: the provider takes about 150-200 ms.
    let app = spawn_app_with(slow_echo, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;

    let r = completion(&app, &ada.access, false).await;
    assert_eq!(r.status(), 200);
    let (total, upstream, queue) = parts(&r);
    assert!(upstream >= 100.0, "the echo provider's pauses: {upstream}");
    assert!(
        total >= upstream + queue - 0.01,
        "{total} {upstream} {queue}"
    );
    assert!(queue >= 0.0 && queue < total, "{queue} {total}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "one two three four"
    );

    // A streamed answer's head leaves once the provider has started.
    let r = completion(&app, &ada.access, true).await;
    assert_eq!(r.status(), 200);
    let (total, upstream, queue) = parts(&r);
    assert!(
        total >= upstream && queue <= total,
        "{total} {upstream} {queue}"
    );
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));

    let r = app
        .post_json(
            "/ai/completions",
            Some(&ada.access),
            json!({"messages": [{"role": "user", "content": "one two three four"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (total, upstream, _) = parts(&r);
    assert!(upstream >= 100.0 && total >= upstream, "{total} {upstream}");

    // Other routes do not claim an upstream.
    let r = app.get_as("/auth/me", &ada.access).await;
    assert!(r.headers().get("server-timing").is_none());
}

#[tokio::test]
async fn server_timing_can_be_turned_off() {
    let app = spawn_app_with(|c| c.server.server_timing = false, axum::Router::new()).await;
    let ada = app.sign_up("ada").await;
    let r = completion(&app, &ada.access, false).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("server-timing").is_none());
}
