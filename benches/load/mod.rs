//! Shared by the load benches: a real server on 127.0.0.1:0 and a closed-loop
//! load generator that reports throughput and latency percentiles.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus::Application;
use chorus::config::{Config, Overrides};
use figment::providers::Env;
use hdrhistogram::Histogram;

/// A server running on its own runtime thread, as a deployment would.
pub struct Server {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Starts chorus with the default configuration, adjusted by `tweak`.
pub fn start_server(tweak: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut config = Config::load_from(&overrides, Env::prefixed("CHORUS_BENCH_UNSET__")).unwrap();
    tweak(&mut config);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Application::build(config).await.unwrap();
            tx.send(app.local_addr()).unwrap();
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Server { addr, _dir: dir }
}

/// What one load run measured.
pub struct Report {
    pub requests: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub latency: Histogram<u64>,
}

impl Report {
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} {:>10.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {} errors)",
            self.per_sec,
            self.latency.value_at_quantile(0.5) as f64 / 1000.0,
            self.latency.value_at_quantile(0.99) as f64 / 1000.0,
            self.requests,
            self.errors
        )
    }
}

/// Runs `request` from `concurrency` loops for `duration`; each call returns
/// whether it succeeded.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let stop = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).unwrap();
                let mut errors = 0u64;
                while Instant::now() < stop {
                    let t = Instant::now();
                    if !request(i).await {
                        errors += 1;
                    }
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                }
                (hist, errors)
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    for w in workers {
        let (h, e) = w.await.unwrap();
        latency.add(h).unwrap();
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = latency.len();
    Report {
        requests,
        errors,
        per_sec: requests as f64 / elapsed,
        latency,
    }
}

/// A client with a connection pool large enough for the benches.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
        .unwrap()
}

/// Seconds per measured phase: CHORUS_BENCH_SECS, default `default`.
pub fn phase_secs(default: u64) -> Duration {
    Duration::from_secs(
        std::env::var("CHORUS_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}
