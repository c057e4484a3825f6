//! Logins per second, and authenticated `GET /api/v1/auth/me` per second at
//! 64 concurrent connections compared with `GET /live` in the same run.
//! Target: me/live >= 0.5.
//!
//! Run: `cargo bench --bench auth` (CHORUS_BENCH_SECS sets each phase, default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod load;

use serde_json::{Value, json};

const CONCURRENCY: usize = 64;

fn main() {
    let server = load::start_server(|c| {
        c.rate_limits.auth = 1_000_000;
        c.rate_limits.default = 1_000_000_000;
    });
    let base = format!("http://{}", server.addr);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let secs = load::phase_secs(5);
    rt.block_on(async move {
        let client = load::client();
        let post = |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).json(&body).send();
        let r = post("/auth/register", json!({"username": "bench", "email": "bench@example.com", "password": "bench-password"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let login: Value = post("/auth/login", json!({"email": "bench@example.com", "password": "bench-password"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_string();

        println!("auth bench: {CONCURRENCY} concurrent connections, {} s per phase", secs.as_secs());
        let live = || {
            let (client, url) = (client.clone(), format!("{base}/live"));
            move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move { matches!(client.get(url).send().await, Ok(r) if r.status() == 200) }
            }
        };
        let me = || {
            let (client, url, token) = (client.clone(), format!("{base}/api/v1/auth/me"), token.clone());
            move |_| {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                async move {
                    matches!(client.get(url).bearer_auth(token).send().await, Ok(r) if r.status() == 200)
                }
            }
        };
        // Alternate the two so drift (page cache, CPU clocks) hits both alike.
        let mut live_rates = Vec::new();
        let mut me_rates = Vec::new();
        for round in 1..=2 {
            let l = load::closed_loop(CONCURRENCY, secs, live()).await;
            println!("{}", l.line(&format!("GET /live (round {round})")));
            let m = load::closed_loop(CONCURRENCY, secs, me()).await;
            println!("{}", m.line(&format!("GET /api/v1/auth/me (round {round})")));
            live_rates.push(l.per_sec);
            me_rates.push(m.per_sec);
        }
        let logins = {
            let (client, url) = (client.clone(), format!("{base}/api/v1/auth/login"));
            load::closed_loop(CONCURRENCY, secs, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let body = json!({"email": "bench@example.com", "password": "bench-password"});
                    matches!(client.post(url).json(&body).send().await, Ok(r) if r.status() == 200)
                }
            })
            .await
        };
        println!("{}", logins.line("POST /api/v1/auth/login"));
        let live: f64 = live_rates.iter().sum::<f64>() / live_rates.len() as f64;
        let me: f64 = me_rates.iter().sum::<f64>() / me_rates.len() as f64;
        let ratio = me / live;
        println!(
            "authenticated me / live = {ratio:.2} (target >= 0.5): {}",
            if ratio >= 0.5 { "PASS" } else { "FAIL" }
        );
    });
}
