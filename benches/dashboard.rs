//! The admin dashboard bench: builds 100,000 users and 1,000,000 jobs
//! through the core's own functions (accounts made by OIDC sign-in, which
//! hashes no password; `delay` jobs created, run and ended by the job
//! actors; 1% of them failing, 1,000 scheduled for later), then starts the
//! real server on that data dir and times `GET /api/v1/admin/dashboard/stats`
//! over HTTP: p50 and p99, and PASS if p99 is under 5 ms. A few admin job
//! lists are timed on the same data for comparison.
//!
//! The data dir is kept in `target/dashboard-bench/` and reused by the next
//! run with the same counts. Run: `cargo bench --bench dashboard`
//! (`CHORUS_BENCH_USERS`, `CHORUS_BENCH_TOTAL_JOBS` set the counts).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chorus::Application;
use chorus::config::{Config, Overrides};
use chorus_actors::accounts::{NewUser, OidcClaims};
use chorus_actors::jobs::NewJob;
use chorus_actors::model::Role;
use chorus_actors::store::Durability;
use chorus_actors::{Core, connections::no_chat_limit};
use figment::providers::Env;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("root@example.com", "password-root");

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &Path) -> Config {
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let mut config = Config::load_from(&overrides, Env::prefixed("CHORUS_BENCH_UNSET__")).unwrap();
    config.rate_limits.default = 1_000_000_000;
    config
}

fn main() {
    let users = count("CHORUS_BENCH_USERS", 100_000);
    let jobs = count("CHORUS_BENCH_TOTAL_JOBS", 1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/dashboard-bench")
        .join(format!("{users}-users-{jobs}-jobs"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        if !dir.join("built").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            build(&dir, users, jobs).await;
            std::fs::write(dir.join("built"), "").unwrap();
        } else {
            println!("reusing the data dir {}", dir.display());
        }
        measure(&dir).await;
    });
}

/// Writes the users and jobs through a core on `dir`, then shuts it down cleanly.
async fn build(dir: &Path, users: usize, jobs: usize) {
    let mut config = config(dir);
    // Building only: the measured server runs with the default `sync`.
    config.store.durability = Durability::Relaxed;
    config.jobs.concurrency = 64;
    let core = Core::start(chorus::core_config(&config), no_chat_limit())
        .await
        .unwrap();
    let started = Instant::now();
    let accounts = core.accounts();
    let admin = NewUser {
        username: "root".into(),
        email: ADMIN.0.into(),
        password: ADMIN.1.into(),
        full_name: None,
        role: Some(Role::Superadmin),
    };
    accounts.register(admin).await.unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let makers: Vec<_> = (0..64)
        .map(|_| {
            let (accounts, next) = (accounts.clone(), next.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= users {
                        return ids;
                    }
                    let claims = OidcClaims {
                        iss: "https://issuer.example".into(),
                        sub: format!("user-{i}"),
                        email: format!("user{i}@example.com"),
                        name: None,
                        picture: None,
                    };
                    ids.push(accounts.user_for_oidc(claims).await.unwrap().id);
                }
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(users);
    for m in makers {
        ids.extend(m.await.unwrap());
    }
    println!("{users} users in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (core, ids, next) = (core.clone(), ids.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        return;
                    }
                    // Keep the unfinished jobs few, as a live server would.
                    while {
                        let f = core.jobs().figures();
                        f.pending + f.running > 4_000
                    } {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let payload = match i % 100 {
                        0 => json!({"seconds": 0, "fail": true}),
                        _ => json!({"seconds": 0}),
                    };
                    let scheduled_for = (i % 1_000 == 1).then_some(32_503_680_000_000);
                    let job = NewJob {
                        job_type: "delay".into(),
                        payload,
                        priority: 5,
                        scheduled_for,
                        idempotency_key: None,
                        max_attempts: 1,
                    };
                    core.jobs().create(ids[i % ids.len()], job).await.unwrap();
                    if i % 100_000 == 0 && i > 0 {
                        println!("  {i} jobs ...");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    while {
        let f = core.jobs().figures();
        f.pending + f.running > 0
    } {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{jobs} jobs created and ended in {secs:.1} s ({:.0}/s)",
        jobs as f64 / secs
    );
    core.shutdown(Duration::from_secs(10)).await.unwrap();
    drop(core);
}

/// Starts the real server on `dir` and times the stats call.
async fn measure(dir: &Path) {
    let started = Instant::now();
    // sled's file lock outlives the builder's core by a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let app = loop {
        match Application::build(config(dir)).await {
            Ok(app) => break app,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("server did not start: {e}"),
        }
    };
    let addr = app.local_addr();
    println!(
        "server started on the data dir in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let api = format!("http://{addr}/api/v1");
    let login: Value = client
        .post(format!("{api}/auth/login"))
        .json(&json!({"email": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let stats_url = format!("{api}/admin/dashboard/stats");
    let get = |url: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    println!("stats: {}", get(stats_url.clone()).await);
    for _ in 0..200 {
        get(stats_url.clone()).await;
    }
    let hist = time(2_000, || get(stats_url.clone())).await;
    let (p50, p99) = (ms(&hist, 0.5), ms(&hist, 0.99));
    println!("GET /admin/dashboard/stats  p50 {p50:.3} ms  p99 {p99:.3} ms  (2000 calls)");
    println!(
        "{} p99 {p99:.3} ms against 5 ms",
        if p99 < 5.0 { "PASS" } else { "FAIL" }
    );
    for query in [
        "limit=20",
        "status=failed",
        "status=completed&skip=10000",
        "status=scheduled",
        "job_type=delay&skip=500000",
    ] {
        let url = format!("{api}/admin/jobs?{query}");
        let total = get(url.clone()).await["total"].clone();
        let hist = time(50, || get(url.clone())).await;
        println!(
            "GET /admin/jobs?{query:<28} total {total:<8} p50 {:.3} ms  p99 {:.3} ms",
            ms(&hist, 0.5),
            ms(&hist, 0.99)
        );
    }
    // A clean stop, so the next run's start-up needs no recovery scan.
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

async fn time<F, Fut>(n: usize, call: F) -> Histogram<u64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for _ in 0..n {
        let t = Instant::now();
        call().await;
        hist.record(t.elapsed().as_micros() as u64).unwrap();
    }
    hist
}

fn ms(hist: &Histogram<u64>, q: f64) -> f64 {
    hist.value_at_quantile(q) as f64 / 1000.0
}
