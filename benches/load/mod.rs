//! Shared by the load benches: a real server on 127.0.0.1:0 and a closed-loop
//! load generator that reports throughput and latency percentiles.
#![allow(dead_code)]

pub mod bare;
pub mod raw_ws;
pub mod wrk;

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

/// The chorus binary started as its own process (so its RSS is its own),
/// with `envs` on top of the defaults. Killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn start(envs: &[(&str, String)]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("CHORUS__LOG__LEVEL", "warn,chorus=info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chorus did not start");
        Self {
            child,
            base,
            _dir: dir,
        }
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

/// The resident memory of process `pid`, in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Registers and logs in a bench user; answers an access token.
pub async fn sign_up(client: &reqwest::Client, base: &str) -> String {
    let api = format!("{base}/api/v1");
    let body = serde_json::json!({"username": "bench", "email": "bench@example.com", "password": "bench-password"});
    client
        .post(format!("{api}/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let login: serde_json::Value = client
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({"email": "bench@example.com", "password": "bench-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
}

/// Raises this process's open-file limit to its hard limit.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a stack value this function owns.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Sends `request` at `rate` per second for `duration` whatever the answers
/// (open loop); each latency counts from the moment the request was due, so
/// a stall shows in the numbers instead of hiding them.
pub async fn open_loop<F, Fut>(rate: u64, duration: Duration, request: F) -> Report
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let request = Arc::new(request);
    let total = rate * duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let (request, tx) = (request.clone(), tx.clone());
        tokio::spawn(async move {
            let ok = request().await;
            let _ = tx.send((ok, due.elapsed()));
        });
    }
    drop(tx);
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    while let Some((ok, took)) = rx.recv().await {
        if !ok {
            errors += 1;
        }
        latency.record(took.as_micros() as u64).unwrap();
    }
    let requests = latency.len();
    Report {
        requests,
        errors,
        per_sec: requests as f64 / started.elapsed().as_secs_f64(),
        latency,
    }
}

/// The cores this machine has (what the server's runtime sizes itself by).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Clock ticks per second, the unit of the CPU times in `/proc/PID/stat`.
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf reads a system value and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(ticks > 0, "sysconf(_SC_CLK_TCK) failed");
    ticks as f64
}

/// CPU time (user, system) a process has used so far, in seconds.
pub fn cpu_secs(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after state.
    let per_sec = clock_ticks_per_sec();
    (ticks(11) / per_sec, ticks(12) / per_sec)
}

/// Context switches (voluntary, involuntary) of every thread of a process
/// so far: a thread parked and woken, or preempted.
pub fn context_switches(pid: u32) -> (u64, u64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    let mut sum = (0, 0);
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            let value = |l: &str| l.split_whitespace().nth(1)?.parse::<u64>().ok();
            if line.starts_with("voluntary_ctxt_switches") {
                sum.0 += value(line).unwrap_or(0);
            } else if line.starts_with("nonvoluntary_ctxt_switches") {
                sum.1 += value(line).unwrap_or(0);
            }
        }
    }
    sum
}

/// Prints how the CPU time of a phase split between server and client.
pub fn print_cpu(server: u32, before: ((f64, f64), (f64, f64)), secs: f64) {
    let (s, c) = (cpu_secs(server), cpu_secs(std::process::id()));
    let ((s0, c0), (su, ss, cu, cs)) = (before, (s.0, s.1, c.0, c.1));
    let cores = cores();
    println!(
        "    CPU over {secs:.1} s: server {:.2} user + {:.2} system s, bench client {:.2} user + {:.2} system s ({cores} cores = {:.1} s)",
        su - s0.0,
        ss - s0.1,
        cu - c0.0,
        cs - c0.1,
        cores as f64 * secs
    );
}

/// Creates a conversation; answers its id.
pub async fn new_conversation(client: &reqwest::Client, api: &str, token: &str) -> String {
    let r: serde_json::Value = client
        .post(format!("{api}/conversations"))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["id"].as_str().unwrap().to_string()
}

/// Waits until the server reports no open WebSocket (the last phase's
/// sockets are gone), for up to a minute; panics if they are not, as the
/// next phase's numbers would count them.
pub async fn await_no_sockets(client: &reqwest::Client, base: &str) {
    let mut last = String::from("no answer");
    for _ in 0..600 {
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.lines().any(|l| l == "chorus_ws_connections 0") {
            return;
        }
        if let Some(line) = metrics
            .lines()
            .find(|l| l.starts_with("chorus_ws_connections "))
        {
            last = line.to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server still has WebSockets open after 60 s ({last}): the next phase would count them"
    );
}
