//! Runs `wrk` (Debian's `wrk` package) against a URL and reads its report:
//! the load generator of the edge bench, written in C so that on two cores
//! it takes less CPU from the servers than a Rust client would.

use std::process::Command;
use std::time::Duration;

/// What one wrk run measured, and the server CPU it cost.
pub struct Run {
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
    /// Server CPU (user + system) per request, in microseconds.
    pub cpu_us: f64,
    /// The system (kernel) part of `cpu_us`.
    pub sys_us: f64,
}

impl Run {
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  server CPU {:>6.1} µs/req ({:.1} system)  ({} requests, {} errors)",
            self.per_sec,
            self.p50_ms,
            self.p99_ms,
            self.cpu_us,
            self.sys_us,
            self.requests,
            self.errors
        )
    }
}

/// Whether wrk is installed.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// `wrk -t2 -c{connections} -d{secs}` on `url` with `headers`, and `script`
/// (Lua) when given; `server` is the pid whose CPU time is charged.
pub fn run(
    url: &str,
    connections: usize,
    duration: Duration,
    headers: &[String],
    script: Option<&std::path::Path>,
    server: u32,
) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}")])
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency");
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    settle(server);
    let before = super::cpu_secs(server);
    let out = cmd.output().expect("wrk did not run");
    let after = super::cpu_secs(server);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed: {text}");
    let requests = number_after(&text, "requests in").unwrap_or(0.0) as u64;
    let errors = number_after(&text, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64
        + socket_errors(&text);
    let cpu = (after.0 - before.0) + (after.1 - before.1);
    Run {
        per_sec: number_after(&text, "Requests/sec:").unwrap_or(0.0),
        p50_ms: latency(&text, "50%"),
        p99_ms: latency(&text, "99%"),
        requests,
        errors,
        cpu_us: cpu * 1e6 / requests.max(1) as f64,
        sys_us: (after.1 - before.1) * 1e6 / requests.max(1) as f64,
    }
}

/// The number on the line holding `label`: after it, or (for "N requests
/// in") before it.
fn number_after(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(label))?;
    let (before, after) = line.split_once(label)?;
    let word = if label == "requests in" {
        before.split_whitespace().last()?
    } else {
        after.split_whitespace().next()?
    };
    word.parse().ok()
}

fn socket_errors(text: &str) -> u64 {
    let Some(line) = text.lines().find(|l| l.contains("Socket errors:")) else {
        return 0;
    };
    line.split(',')
        .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// A percentile of wrk's latency distribution, in ms.
fn latency(text: &str, pct: &str) -> f64 {
    let Some(value) = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(pct))
        .and_then(|l| l.split_whitespace().nth(1))
    else {
        return f64::NAN;
    };
    let (num, unit) = value.split_at(
        value
            .find(|c: char| c.is_alphabetic())
            .unwrap_or(value.len()),
    );
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

/// Waits (up to 30 s) until `pid` is quiet: under 2 ms of CPU in 250 ms,
/// so work left over from the last run (sled writing out pages after the
/// appends) is not charged to the next one.
pub fn settle(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let total = |(u, s): (f64, f64)| u + s;
    let mut last = total(super::cpu_secs(pid));
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let now = total(super::cpu_secs(pid));
        if now - last < 0.002 {
            return;
        }
        last = now;
    }
}
