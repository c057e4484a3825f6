//! The edge against the hardware: chorus's release binary and a bare axum
//! server (`load/bare.rs`) side by side in one run, each loaded by
//! `wrk -t2 -c64`, two rounds alternating, server CPU per request read from
//! `/proc`. Targets (issue 15):
//! - chorus `GET /live` >= 0.7 x the bare `/live`;
//! - authenticated `GET /auth/me` and `GET /conversations/{id}` >= 0.6 x
//!   chorus `/live`;
//! - durable `POST /conversations/{id}/messages` >= 8,400/s and >= 0.5 x the
//!   bare group-commit append, at <= 120 µs server CPU per append.
//!
//! Needs `wrk` (Debian: `apt-get install wrk`). Run: `cargo bench --bench
//! edge` (CHORUS_BENCH_SECS sets each run, default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod load;

use std::path::Path;

use load::wrk;

const CONNECTIONS: usize = 64;
const MESSAGE: &str =
    "a message of a typical length, around a hundred bytes or so, as chat messages go";

fn main() {
    load::bare::serve_if_asked();
    if !wrk::available() {
        println!("wrk is not installed (Debian: apt-get install wrk); nothing measured");
        return;
    }
    load::raise_fd_limit();
    let secs = load::phase_secs(5);
    let bare = load::bare::Bare::start();
    let chorus = load::Process::start(&[
        ("CHORUS__RATE_LIMITS__DEFAULT", "1000000000".into()),
        ("CHORUS__RATE_LIMITS__AUTH", "1000000000".into()),
    ]);
    let pid = chorus.child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (token, convs) = rt.block_on(async {
        let client = load::client();
        let token = load::sign_up(&client, &chorus.base).await;
        let api = format!("{}/api/v1", chorus.base);
        let mut convs = Vec::new();
        for _ in 0..CONNECTIONS {
            convs.push(load::new_conversation(&client, &api, &token).await);
        }
        (token, convs)
    });
    let scripts = tempfile::tempdir().unwrap();
    let bare_append = scripts.path().join("bare.lua");
    std::fs::write(&bare_append, post_script(&["/append".into()], None)).unwrap();
    let paths: Vec<String> = convs
        .iter()
        .map(|c| format!("/api/v1/conversations/{c}/messages"))
        .collect();
    let chorus_append = scripts.path().join("chorus.lua");
    std::fs::write(&chorus_append, post_script(&paths, Some(&token))).unwrap();
    let auth = vec![format!("Authorization: Bearer {token}")];
    println!(
        "edge bench: bare pid {}, chorus pid {pid}, wrk -t2 -c{CONNECTIONS}, {} s per run",
        bare.pid(),
        secs.as_secs()
    );

    let mut rounds = Vec::new();
    for round in 1..=2 {
        println!("round {round}");
        let one =
            |name: &str, url: String, headers: &[String], script: Option<&Path>, server: u32| {
                let run = wrk::run(&url, CONNECTIONS, secs, headers, script, server);
                println!("  {}", run.line(name));
                run
            };
        let bare_live = one(
            "bare GET /live",
            format!("{}/live", bare.base),
            &[],
            None,
            bare.pid(),
        );
        let live = one(
            "chorus GET /live",
            format!("{}/live", chorus.base),
            &[],
            None,
            pid,
        );
        let me = one(
            "chorus GET /auth/me",
            format!("{}/api/v1/auth/me", chorus.base),
            &auth,
            None,
            pid,
        );
        let conv_url = format!("{}/api/v1/conversations/{}", chorus.base, convs[0]);
        let conv = one("chorus GET /conversations/{id}", conv_url, &auth, None, pid);
        let url = format!("{}/append", bare.base);
        let bare_append = one(
            "bare durable append",
            url,
            &[],
            Some(&bare_append),
            bare.pid(),
        );
        let append = one(
            "chorus POST .../messages",
            chorus.base.clone(),
            &[],
            Some(&chorus_append),
            pid,
        );
        rounds.push([bare_live, live, me, conv, bare_append, append]);
    }
    for (i, [bare_live, live, me, conv, bare_append, append]) in rounds.iter().enumerate() {
        println!("round {}:", i + 1);
        verdict(
            "chorus /live / bare /live",
            live.per_sec / bare_live.per_sec,
            0.7,
        );
        verdict("/auth/me / chorus /live", me.per_sec / live.per_sec, 0.6);
        verdict(
            "/conversations/{id} / chorus /live",
            conv.per_sec / live.per_sec,
            0.6,
        );
        verdict(
            "append / bare append",
            append.per_sec / bare_append.per_sec,
            0.5,
        );
        check("appends per second", append.per_sec, ">=", 8400.0);
        check("server CPU µs per append", append.cpu_us, "<=", 120.0);
    }
}

fn verdict(name: &str, ratio: f64, target: f64) {
    let pass = if ratio >= target { "PASS" } else { "FAIL" };
    println!("  {pass} {name:<38} {ratio:.2} (target >= {target})");
}

fn check(name: &str, value: f64, op: &str, target: f64) {
    let ok = if op == ">=" {
        value >= target
    } else {
        value <= target
    };
    let pass = if ok { "PASS" } else { "FAIL" };
    println!("  {pass} {name:<38} {value:.1} (target {op} {target})");
}

/// A wrk script that POSTs one JSON message to each of `paths` in turn.
fn post_script(paths: &[String], token: Option<&str>) -> String {
    let list: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
    let auth = token
        .map(|t| format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"))
        .unwrap_or_default();
    format!(
        "paths = {{ {} }}\ni = 0\nwrk.method = \"POST\"\nwrk.body = '{{\"role\":\"user\",\"content\":\"{MESSAGE}\"}}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n{auth}request = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
        list.join(", ")
    )
}
