//! The chat bench, against the chorus binary and one local mock provider:
//! (a) /v1/chat/completions via chorus and the mock called directly, open
//!     loop at 500 and 1,000 req/s, alternating rounds; chorus's own share
//!     of each answer as measured (its CPU time, its Server-Timing);
//! (b) 2,000 concurrent streamed chats with echo at 20 tokens/s: all must
//!     complete; p99 token lag behind the provider's schedule; server RSS;
//! (c) durable POST /conversations/{id}/messages at 64 concurrent clients.
//!
//! Run: `cargo bench --bench chat` (CHORUS_BENCH_SECS sets each phase, default 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;

const MOCK_ANSWER: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n",
);

/// An OpenAI-compatible mock that answers at once.
async fn start_mock() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async { ([("content-type", "text/event-stream")], MOCK_ANSWER) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// chorus's own share of one answer, from its `Server-Timing` header
/// (`total;dur=..` minus `upstream;dur=..`, in ms, API.md 12), in us.
fn own_share_us(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get("server-timing")?.to_str().ok()?;
    let dur = |name: &str| -> Option<f64> {
        value.split(',').find_map(|metric| {
            let mut parts = metric.split(';').map(str::trim);
            if parts.next()? != name {
                return None;
            }
            parts.find_map(|p| p.strip_prefix("dur="))?.parse().ok()
        })
    };
    let own = dur("total")? - dur("upstream")?;
    Some((own.max(0.0) * 1000.0) as u64)
}

/// One streamed call as a client of the mock itself would make it.
async fn direct_call(c: reqwest::Client, url: String) -> bool {
    let body =
        json!({"model": "m1", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    match c.post(url).json(&body).send().await {
        Ok(r) => r.status() == 200 && r.text().await.is_ok(),
        Err(_) => false,
    }
}

/// Rounds per rate, alternating direct and via chorus.
const ROUNDS: u32 = 3;

async fn gateway_overhead(
    pid: u32,
    client: &reqwest::Client,
    base: &str,
    mock: &str,
    token: &str,
    secs: Duration,
) {
    println!(
        "(a) POST /v1/chat/completions via chorus and the mock directly (open loop, alternating rounds)"
    );
    println!(
        "    (the two latencies come from different requests: their difference is not a per-request overhead)"
    );
    for rate in [500u64, 1000] {
        let mut direct = Histogram::<u64>::new(3).unwrap();
        let mut gateway = Histogram::<u64>::new(3).unwrap();
        let share = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3).unwrap()));
        let mut errors = 0;
        // Server CPU and wall time of the rounds via chorus (a round lasts
        // past `secs` while late answers come in).
        let (mut server_cpu, mut gateway_secs) = (0.0, 0.0);
        let mut switches = (0u64, 0u64);
        for _round in 0..ROUNDS {
            let (c, url) = (client.clone(), format!("{mock}/v1/chat/completions"));
            let d = load::open_loop(rate, secs, move || direct_call(c.clone(), url.clone())).await;
            let (c, url, token, share) = (
                client.clone(),
                format!("{base}/v1/chat/completions"),
                token.to_string(),
                share.clone(),
            );
            let (cpu, started) = (load::cpu_secs(pid), Instant::now());
            let switches_before = load::context_switches(pid);
            let g = load::open_loop(rate, secs, move || {
                let (c, url, token, share) = (c.clone(), url.clone(), token.clone(), share.clone());
                async move {
                    let body = json!({"model": "mock/m1", "messages": [{"role": "user", "content": "hi"}]});
                    match c.post(url).bearer_auth(token).json(&body).send().await {
                        Ok(r) => {
                            if let Some(us) = own_share_us(r.headers()) {
                                share.lock().unwrap().record(us).unwrap();
                            }
                            r.status() == 200 && r.text().await.is_ok()
                        }
                        Err(_) => false,
                    }
                }
            })
            .await;
            let after = load::cpu_secs(pid);
            let switches_after = load::context_switches(pid);
            switches.0 += switches_after.0 - switches_before.0;
            switches.1 += switches_after.1 - switches_before.1;
            gateway_secs += started.elapsed().as_secs_f64();
            server_cpu += (after.0 - cpu.0) + (after.1 - cpu.1);
            direct.add(&d.latency).unwrap();
            gateway.add(&g.latency).unwrap();
            errors += d.errors + g.errors;
        }
        println!(
            "    {rate:>5} req/s  direct p50 {:.3} ms p99 {:.3} ms | via chorus p50 {:.3} ms p99 {:.3} ms ({} errors)",
            ms(direct.value_at_quantile(0.5)),
            ms(direct.value_at_quantile(0.99)),
            ms(gateway.value_at_quantile(0.5)),
            ms(gateway.value_at_quantile(0.99)),
            errors
        );
        println!(
            "          chorus CPU per request {:.0} us (measured: user + system, {:.0}% of one core at this rate)",
            server_cpu * 1e6 / gateway.len() as f64,
            server_cpu * 100.0 / gateway_secs
        );
        println!(
            "          context switches per request: {:.1} voluntary (a thread parked and woken), {:.2} preempted",
            switches.0 as f64 / gateway.len() as f64,
            switches.1 as f64 / gateway.len() as f64
        );
        if rate == 1000 {
            let per = server_cpu * 1e6 / gateway.len() as f64;
            let floor = bare_gateway(client, mock, rate, secs).await;
            println!(
                "          bare axum gateway (load/bare.rs) CPU per request {floor:.0} us: chorus = {:.2} x bare",
                per / floor
            );
            println!(
                "    target CPU per request <= 150 us at 1,000 req/s: {} ({per:.0} us)",
                if per <= 150.0 { "PASS" } else { "FAIL" }
            );
        }
        let share = share.lock().unwrap();
        if share.is_empty() {
            println!(
                "          chorus's own share per request: not measured (the answers carry no Server-Timing)"
            );
        } else {
            let p99 = ms(share.value_at_quantile(0.99));
            println!(
                "          chorus's own share per request (Server-Timing total - upstream): p50 {:.3} ms p99 {p99:.3} ms",
                ms(share.value_at_quantile(0.5)),
            );
            if rate == 1000 {
                println!(
                    "    target p99 own share <= 1 ms at 1,000 req/s: {} ({p99:.3} ms)",
                    if p99 <= 1.0 { "PASS" } else { "FAIL" }
                );
            }
        }
    }
}

/// The bare axum gateway of `load/bare.rs` against the same mock, at
/// `rate`: the floor of one proxied request (HTTP in, HTTP out, SSE parse,
/// JSON answer) on this machine, in µs of server CPU.
async fn bare_gateway(client: &reqwest::Client, mock: &str, rate: u64, secs: Duration) -> f64 {
    let bare = load::bare::Bare::start_with_upstream(mock);
    let url = format!("{}/v1/chat/completions", bare.base);
    let (cpu, mut done) = (load::cpu_secs(bare.pid()), 0);
    for _round in 0..ROUNDS {
        let (c, url) = (client.clone(), url.clone());
        let r = load::open_loop(rate, secs, move || direct_call(c.clone(), url.clone())).await;
        done += r.latency.len();
    }
    let after = load::cpu_secs(bare.pid());
    (after.0 - cpu.0 + after.1 - cpu.1) * 1e6 / done.max(1) as f64
}

async fn concurrent_streams(
    client: &reqwest::Client,
    server: &load::Process,
    token: &str,
    chats: usize,
) {
    println!("(b) {chats} concurrent streamed chats, echo at 20 tokens/s");
    let api = format!("{}/api/v1", server.base);
    let ids: Vec<String> = futures::stream::iter(0..chats)
        .map(|_| {
            let (client, api, token) = (client.clone(), api.clone(), token.to_string());
            async move { load::new_conversation(&client, &api, &token).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let rss_before = server.rss_kib();
    let urls = ids
        .iter()
        .map(|id| format!("{api}/conversations/{id}/chat"))
        .collect();
    let chorus = stream_round("chorus", client, urls, Some(token), server.child.id()).await;
    println!(
        "    server RSS {} MiB before, peak {} MiB during",
        rss_before / 1024,
        chorus.peak_rss_kib / 1024
    );
    // The same client against the bare SSE server: its token stream with
    // no chorus work at all is the floor of both figures on this machine.
    // Chorus's work left over from its round (sled writing out pages, the
    // usage flush) must not share the cores with the bare round.
    let pid = server.child.id();
    tokio::task::spawn_blocking(move || load::wrk::settle(pid))
        .await
        .unwrap();
    let bare = load::bare::Bare::start();
    let urls = vec![format!("{}/stream", bare.base); chats];
    let floor = stream_round("bare SSE server", client, urls, None, bare.pid()).await;
    println!(
        "    chorus CPU per token event {:.2} x bare; p99 lag {:.2} ms against bare {:.2} ms",
        chorus.per_event / floor.per_event.max(f64::MIN_POSITIVE),
        chorus.p99,
        floor.p99
    );
    println!(
        "    target <= 12 us per token event: {} ({:.1} us)",
        if chorus.per_event <= 12.0 {
            "PASS"
        } else {
            "FAIL"
        },
        chorus.per_event
    );
    println!(
        "    target all complete and p99 lag <= 10 ms: {} ({:.2} ms)",
        if chorus.done == chats as u64 && chorus.p99 <= 10.0 {
            "PASS"
        } else {
            "FAIL"
        },
        chorus.p99
    );
}

/// One round of streamed chats, all started at once.
struct StreamRound {
    /// Server CPU over the round per token event, in µs.
    per_event: f64,
    done: u64,
    /// Token lag behind the 50 ms schedule, in ms.
    p50: f64,
    p99: f64,
    max: f64,
    peak_rss_kib: u64,
}

/// Words per chat: each answer is 40 token events, 2 s at 20 tokens/s.
const WORDS: u32 = 40;

/// Posts one chat to each of `urls` at once and follows every SSE answer
/// to its `done`, measuring each token's lag behind the provider's
/// schedule (anchored at the stream's first token) and the server's CPU.
async fn stream_round(
    name: &str,
    client: &reqwest::Client,
    urls: Vec<String>,
    token: Option<&str>,
    pid: u32,
) -> StreamRound {
    let chats = urls.len();
    let content = (0..WORDS)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let lag = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let completed = Arc::new(AtomicU64::new(0));
    let token_events = Arc::new(AtomicU64::new(0));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let cpu_before = (load::cpu_secs(pid), load::cpu_secs(std::process::id()));
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let mut request = client.post(url).json(&json!({"content": content}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let (lag, completed, token_events) =
                (lag.clone(), completed.clone(), token_events.clone());
            tokio::spawn(async move {
                let Ok(r) = request.send().await else { return };
                let mut events = r.bytes_stream().eventsource();
                let mut first: Option<Instant> = None;
                let mut i = 0u32;
                let mut local = Histogram::<u64>::new(3).unwrap();
                while let Some(Ok(e)) = events.next().await {
                    match e.event.as_str() {
                        "token" => {
                            let now = Instant::now();
                            let anchor = *first.get_or_insert(now);
                            let due = anchor + Duration::from_millis(50) * i;
                            local
                                .record(now.saturating_duration_since(due).as_micros() as u64)
                                .unwrap();
                            i += 1;
                            token_events.fetch_add(1, Ordering::Relaxed);
                        }
                        "done" => {
                            if i == WORDS {
                                completed.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                        _ => {}
                    }
                }
                lag.lock().unwrap().add(local).unwrap();
            })
        })
        .collect();
    let sampler = {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(load::rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    sampler.abort();
    load::print_cpu(pid, cpu_before, started.elapsed().as_secs_f64());
    let server_cpu = {
        let (now, then) = (load::cpu_secs(pid), cpu_before.0);
        (now.0 - then.0) + (now.1 - then.1)
    };
    let events = token_events.load(Ordering::Relaxed).max(1);
    let per_event = server_cpu * 1e6 / events as f64;
    let lag = lag.lock().unwrap();
    let round = StreamRound {
        per_event,
        done: completed.load(Ordering::Relaxed),
        p50: ms(lag.value_at_quantile(0.5)),
        p99: ms(lag.value_at_quantile(0.99)),
        max: ms(lag.max()),
        peak_rss_kib: peak_rss.load(Ordering::Relaxed),
    };
    println!(
        "    {name}: server CPU per token event {per_event:.1} us ({events} events; each chat's whole CPU, its start and end too, over its tokens)"
    );
    println!(
        "    {name}: {}/{} completed in {:.1} s; token lag behind schedule p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        round.done,
        chats,
        started.elapsed().as_secs_f64(),
        round.p50,
        round.p99,
        round.max
    );
    round
}

async fn durable_appends(
    pid: u32,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    secs: Duration,
) {
    let api = format!("{base}/api/v1");
    let mut convs = Vec::new();
    for _ in 0..64 {
        convs.push(load::new_conversation(client, &api, token).await);
    }
    let convs = Arc::new(convs);
    let (c, token) = (client.clone(), token.to_string());
    let cpu_before = (load::cpu_secs(pid), load::cpu_secs(std::process::id()));
    let started = Instant::now();
    let report = load::closed_loop(64, secs, move |i| {
        let (c, url, token) = (c.clone(), format!("{api}/conversations/{}/messages", convs[i]), token.clone());
        async move {
            let body = json!({"role": "user", "content": "a message of a typical length, around a hundred bytes or so, as chat messages go"});
            matches!(c.post(url).bearer_auth(token).json(&body).send().await, Ok(r) if r.status() == 201)
        }
    })
    .await;
    println!("(c) {}", report.line("durable POST .../messages x64"));
    load::print_cpu(pid, cpu_before, started.elapsed().as_secs_f64());
    println!(
        "    target >= 8,400 req/s: {}",
        if report.per_sec >= 8400.0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
}

fn main() {
    load::bare::serve_if_asked();
    load::raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let secs = load::phase_secs(3);
    rt.block_on(async move {
        let mock = start_mock().await;
        let server = load::Process::start(&[
            ("CHORUS__RATE_LIMITS__AI", "1000000000".into()),
            ("CHORUS__RATE_LIMITS__DEFAULT", "1000000000".into()),
            ("CHORUS__SERVER__MAX_CONNECTIONS", "50000".into()),
            // One bench user holds every stream.
            ("CHORUS__LIMITS__MAX_STREAMS_PER_USER", "1000000".into()),
            ("CHORUS__PROVIDERS__ECHO__TOKENS_PER_S", "20".into()),
            ("CHORUS__PROVIDERS__MOCK__KIND", "openai".into()),
            ("CHORUS__PROVIDERS__MOCK__BASE_URL", mock.clone()),
            ("CHORUS__PROVIDERS__MOCK__DEFAULT_MODEL", "m1".into()),
            // Chats stay on echo: the mock is called by name only.
            ("CHORUS__CHAT__DEFAULT_PROVIDER", "echo".into()),
        ]);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .build()
            .unwrap();
        let token = load::sign_up(&client, &server.base).await;
        // CHORUS_BENCH_PARTS picks parts, e.g. "c" (default "abc").
        let parts = std::env::var("CHORUS_BENCH_PARTS").unwrap_or_else(|_| "abc".into());
        println!(
            "chat bench: server pid {}, {} s per phase",
            server.child.id(),
            secs.as_secs()
        );
        if parts.contains('a') {
            gateway_overhead(
                server.child.id(),
                &client,
                &server.base,
                &mock,
                &token,
                secs,
            )
            .await;
        }
        if parts.contains('b') {
            let chats = std::env::var("CHORUS_BENCH_CHATS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(2000);
            concurrent_streams(&client, &server, &token, chats).await;
        }
        if parts.contains('c') {
            durable_appends(server.child.id(), &client, &server.base, &token, secs).await;
        }
    });
}
