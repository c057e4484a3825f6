//! Real providers on the first try, through the binary: `chorus providers
//! check` against local servers speaking each protocol, the only real
//! provider becoming the default, and failures logged with their URL.

use std::process::{Command, Stdio};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use crate::binary::{chorus, sigterm, start_logged, wait_exit};
use crate::fake_llm::{Behaviour, FakeLlm};

const API_KEY: &str = "sk-under-test-never-logged";

/// One server speaking the Anthropic Messages API (`/v1/messages`) and
/// Ollama's native API (`/api/chat`), each answering "ok".
async fn anthropic_and_ollama() -> String {
    let anthropic = concat!(
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let ollama = "{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":true,\"prompt_eval_count\":1,\"eval_count\":1}\n";
    let app = Router::new()
        .route(
            "/v1/messages",
            post(move || async move {
                ([("content-type", "text/event-stream")], anthropic).into_response()
            }),
        )
        .route(
            "/api/chat",
            post(move || async move {
                ([("content-type", "application/x-ndjson")], ollama).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A URL nothing listens on.
fn refused_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", closed.local_addr().unwrap())
}

fn provider(name: &str, kind: &str, base_url: &str, model: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\ndefault_model = \"{model}\"\nmax_retries = 0\nconnect_timeout_ms = 2000\nread_timeout_ms = 5000\n"
    )
}

/// Runs `chorus providers check --config FILE` with `toml` in FILE: exit
/// code, stdout lines and stderr. (Off the runtime's thread: the protocol
/// servers run on it.)
async fn providers_check(toml: &str) -> (Option<i32>, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chorus.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.args(["providers", "check", "--config"])
        .arg(&path)
        .env("CHORUS__PROVIDERS__OPENAI__API_KEY", API_KEY)
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout.lines().map(str::to_string).collect();
    (
        out.status.code(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line<'a>(lines: &'a [String], provider: &str) -> &'a str {
    let prefix = format!("{provider}: ");
    lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {provider} in {lines:?}"))
}

#[tokio::test]
async fn providers_check_says_ok_or_exactly_why_not_for_each_provider() {
    let openai = FakeLlm::start(Behaviour::Answer).await;
    let other = anthropic_and_ollama().await;
    let refused = refused_url();
    let healthy = [
        provider("openai", "openai", &openai.base_url, "gpt-test"),
        provider("claude", "anthropic", &format!("{other}/v1"), "claude-test"),
        provider("local", "ollama", &other, "llama-test"),
        "[chat]\ndefault_provider = \"openai\"\n".to_string(),
    ]
    .concat();

    let (code, lines, stderr) = providers_check(&healthy).await;
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    for (name, model) in [
        ("openai", "gpt-test"),
        ("claude", "claude-test"),
        ("local", "llama-test"),
        ("echo", "echo-1"),
    ] {
        let said = line(&lines, name);
        let rest = said
            .strip_prefix(&format!("{name}: OK {model} "))
            .unwrap_or_else(|| panic!("{said}"));
        let ms = rest.strip_suffix(" ms").unwrap_or_else(|| panic!("{said}"));
        assert!(ms.parse::<u64>().is_ok(), "latency in ms: {said}");
    }
    assert_eq!(openai.calls(), 1, "one request per provider");

    let broken = [
        healthy,
        provider("misplaced", "openai", &format!("{other}/nothing-here"), "m"),
        provider("down", "ollama", &refused, "m"),
    ]
    .concat();
    let (code, lines, _) = providers_check(&broken).await;
    assert_eq!(
        code,
        Some(1),
        "a failed provider fails the check: {lines:?}"
    );
    assert!(line(&lines, "openai").starts_with("openai: OK "));
    let misplaced = line(&lines, "misplaced");
    assert!(
        misplaced.contains(&format!(
            "FAILED POST {other}/nothing-here/chat/completions (model m): HTTP 404 Not Found"
        )),
        "{misplaced}"
    );
    let down = line(&lines, "down");
    assert!(
        down.contains(&format!(
            "FAILED POST {refused}/api/chat (model m): connection refused"
        )),
        "{down}"
    );
    assert!(!lines.concat().contains(API_KEY));
}

async fn sign_in(addr: &str) -> String {
    crate::jobs_restart::sign_up(&reqwest::Client::new(), &format!("http://{addr}/api/v1")).await
}

async fn complete(addr: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/ai/completions"))
        .bearer_auth(token)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_only_real_provider_serves_chats_and_start_up_names_it() {
    let openai = FakeLlm::start(Behaviour::Answer).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chorus(dir.path());
    // Only what the README tells a newcomer to set: no default_provider.
    cmd.env("CHORUS__PROVIDERS__OPENAI__KIND", "openai")
        .env("CHORUS__PROVIDERS__OPENAI__BASE_URL", &openai.base_url)
        .env("CHORUS__PROVIDERS__OPENAI__DEFAULT_MODEL", "gpt-test")
        .env("CHORUS__PROVIDERS__OPENAI__API_KEY", API_KEY);
    let (mut child, addr, lines) = start_logged(cmd);
    let token = sign_in(&addr).await;
    let r = complete(&addr, &token).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        (answer["provider"].as_str(), answer["content"].as_str()),
        (Some("openai"), Some("Hello world")),
        "{answer}"
    );
    assert_eq!(openai.calls(), 1);
    sigterm(&child);
    wait_exit(&mut child);
    let lines = lines.lock().unwrap();
    let said: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("default provider"))
        .collect();
    assert_eq!(said.len(), 1, "one line: {lines:?}");
    assert!(
        said[0].contains("default provider openai, model gpt-test"),
        "{}",
        said[0]
    );
}

#[tokio::test]
async fn a_failed_provider_call_logs_the_provider_the_url_and_what_happened() {
    let other = anthropic_and_ollama().await;
    let refused = refused_url();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chorus(dir.path());
    cmd.env("CHORUS__PROVIDERS__OPENAI__KIND", "openai")
        .env(
            "CHORUS__PROVIDERS__OPENAI__BASE_URL",
            format!("{other}/nope"),
        )
        .env("CHORUS__PROVIDERS__OPENAI__DEFAULT_MODEL", "gpt-test")
        .env("CHORUS__PROVIDERS__OPENAI__API_KEY", API_KEY)
        .env("CHORUS__PROVIDERS__OPENAI__FALLBACK", "down")
        .env("CHORUS__PROVIDERS__DOWN__KIND", "anthropic")
        .env("CHORUS__PROVIDERS__DOWN__BASE_URL", &refused)
        .env("CHORUS__PROVIDERS__DOWN__DEFAULT_MODEL", "claude-test")
        .env("CHORUS__PROVIDERS__DOWN__MAX_RETRIES", "0")
        .env("CHORUS__CHAT__DEFAULT_PROVIDER", "openai");
    let (mut child, addr, lines) = start_logged(cmd);
    let token = sign_in(&addr).await;
    let r = complete(&addr, &token).await;
    assert_eq!(r.status(), 502);
    sigterm(&child);
    wait_exit(&mut child);
    let lines = lines.lock().unwrap();
    let failed = |provider: &str| -> String {
        lines
            .iter()
            .find(|l| l.contains("provider call failed") && l.contains(provider))
            .unwrap_or_else(|| panic!("no failure logged for {provider}: {lines:?}"))
            .clone()
    };
    let openai = failed("provider=openai");
    assert!(
        openai.contains(&format!("{other}/nope/chat/completions")) && openai.contains("HTTP 404"),
        "{openai}"
    );
    let down = failed("provider=down");
    assert!(
        down.contains(&format!("{refused}/v1/messages")) && down.contains("connection refused"),
        "{down}"
    );
    assert!(!lines.concat().contains(API_KEY), "the key is never logged");
}
