//! Tests that run the `chorus` binary itself: start-up, configuration
//! errors, SIGTERM and restarting on the same data dir.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn chorus(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.args(["serve", "--data-dir"])
        .arg(data_dir)
        .env("CHORUS__SERVER__BIND", "127.0.0.1:0")
        .env("CHORUS__LOG__FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts the binary and waits for its `listening on http://ADDR` line.
fn start(data_dir: &std::path::Path) -> (Child, String) {
    let (child, addr, _) = start_logged(chorus(data_dir));
    (child, addr)
}

/// Starts `cmd`, waits for `listening on http://ADDR`, and keeps every line
/// it logs (stdout) in the returned buffer.
pub fn start_logged(mut cmd: Command) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let _ = tx.send(addr.trim().to_string());
            }
            kept.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no `listening on` line within 30 s");
    (child, addr, lines)
}

pub fn sigterm(child: &Child) {
    // SAFETY: plain kill(2) on a pid this test spawned.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("chorus did not exit within 30 s of SIGTERM");
}

async fn ready(addr: &str) -> u16 {
    reqwest::get(format!("http://{addr}/ready"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sigterm_exits_0_and_the_server_restarts_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (mut child, addr) = start(dir.path());
        assert_eq!(ready(&addr).await, 200);
        sigterm(&child);
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(0), "SIGTERM must end in exit 0");
    }
}

fn config_error(envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chorus(dir.path());
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_invalid_configuration_exits_2_naming_the_key() {
    /// Environment, flags, and the key the error must name.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static str,
    );
    let cases: &[Case] = &[
        (
            &[("CHORUS__SERVER__MAX_CONNECTIONS", "lots")],
            &[],
            "server.max_connections",
        ),
        (
            &[("CHORUS__PROVIDERS__GPT__KIND", "skynet")],
            &[],
            "providers.gpt.kind",
        ),
        (
            &[("CHORUS__PROVIDERS__ECHO__FALLBACK", "nobody")],
            &[],
            "providers.echo.fallback",
        ),
        (
            &[("CHORUS__STORE__DURABILITY", "sometimes")],
            &[],
            "store.durability",
        ),
        (&[], &["--bind", "not-an-address"], "server.bind"),
        (
            &[
                ("CHORUS__PROVIDERS__GPT__KIND", "openai"),
                (
                    "CHORUS__PROVIDERS__GPT__BASE_URL",
                    "https://api.openai.com/v1",
                ),
            ],
            &[],
            "providers.gpt.default_model",
        ),
        (
            &[
                ("CHORUS__PROVIDERS__GPT__KIND", "openai"),
                ("CHORUS__PROVIDERS__GPT__BASE_URL", "api.openai.com"),
                ("CHORUS__PROVIDERS__GPT__DEFAULT_MODEL", "gpt-4o-mini"),
            ],
            &[],
            "providers.gpt.base_url",
        ),
    ];
    for (envs, args, key) in cases {
        let (code, stderr) = config_error(envs, args);
        assert_eq!(code, Some(2), "{key}: exit code; stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{key}: one line expected, got {stderr}");
        assert!(lines[0].contains(key), "{key} not named in: {stderr}");
    }
}
