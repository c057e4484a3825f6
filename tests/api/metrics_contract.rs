//! The metric names of API.md 12 are a contract: a fresh `chorus` binary
//! exports every one before anything happened, and after each feature was
//! used every series carries exactly its documented labels. Both run the
//! real binary, so no other test's server shares the process-wide
//! recorder and the gauges can be checked exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Child;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::binary::{chorus, sigterm, start_logged, wait_exit};

/// One sample line of the exposition.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` answer: `# TYPE` of each family and every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The samples of family `name` (a histogram's `_bucket`, `_sum` and
    /// `_count` lines included).
    pub fn family(&self, name: &str) -> Vec<&Sample> {
        let histogram = self.types.get(name).is_some_and(|t| t == "histogram");
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    || (histogram
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|x| s.name.strip_suffix(x) == Some(name)))
            })
            .collect()
    }

    /// The value of `name` with exactly `labels`, if exported.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = self
            .samples
            .iter()
            .find(|s| s.name == name && s.labels == want)?;
        Some(s.value)
    }

    /// Every sample name (histogram lines with their suffixes).
    pub fn names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }
}

/// Parses the Prometheus text format (0.0.4): comments, `# TYPE`, and
/// `name{label="value",...} value [timestamp]` with escaped label values.
pub fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let ["TYPE", name, kind] = words.as_slice() {
                out.types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        out.samples.push(parse_sample(line));
    }
    out
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = line[..name_end].to_string();
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name in {line}"
    );
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            if let Some(&(i, '}')) = chars.peek() {
                end = i;
                break;
            }
            let key: String = chars
                .by_ref()
                .map(|(_, c)| c)
                .take_while(|c| *c != '=')
                .collect();
            assert_eq!(
                chars.next().map(|(_, c)| c),
                Some('"'),
                "unquoted label in {line}"
            );
            let mut value = String::new();
            loop {
                match chars
                    .next()
                    .unwrap_or_else(|| panic!("open label in {line}"))
                    .1
                {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => panic!("bad escape in {line}"),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(key.trim().to_string(), value).is_none(),
                "repeated label in {line}"
            );
        }
        rest = &body[end + 1..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// API.md 12: each name, its type and its labels (a histogram's `le` aside).
pub const CONTRACT: &[(&str, &str, &[&str])] = &[
    (
        "chorus_http_requests_total",
        "counter",
        &["method", "route", "status"],
    ),
    (
        "chorus_http_request_duration_seconds",
        "histogram",
        &["route"],
    ),
    ("chorus_ws_connections", "gauge", &[]),
    ("chorus_sse_streams", "gauge", &[]),
    ("chorus_actors", "gauge", &["kind"]),
    ("chorus_actor_restarts_total", "counter", &["kind"]),
    ("chorus_jobs", "gauge", &["status"]),
    ("chorus_job_duration_seconds", "histogram", &["job_type"]),
    (
        "chorus_llm_requests_total",
        "counter",
        &["provider", "model", "outcome"],
    ),
    (
        "chorus_llm_tokens_total",
        "counter",
        &["provider", "model", "direction"],
    ),
    (
        "chorus_llm_time_to_first_token_seconds",
        "histogram",
        &["provider"],
    ),
    ("chorus_store_bytes", "gauge", &[]),
    ("chorus_rate_limited_total", "counter", &["class"]),
];

/// What is wrong with `m` against the contract: one line per problem.
pub fn contract_problems(m: &Exposition) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, kind, labels) in CONTRACT {
        let samples = m.family(name);
        if samples.is_empty() {
            problems.push(format!("{name} is not exported"));
            continue;
        }
        if m.types.get(*name).map(String::as_str) != Some(*kind) {
            problems.push(format!(
                "{name} is a {:?}, not a {kind}",
                m.types.get(*name)
            ));
        }
        let want: BTreeSet<&str> = labels.iter().copied().collect();
        for s in samples {
            let mut have: BTreeSet<&str> = s.labels.keys().map(String::as_str).collect();
            if s.name.ends_with("_bucket") {
                have.remove("le");
            }
            if have != want {
                problems.push(format!("{} has labels {have:?}, not {want:?}", s.name));
                break;
            }
        }
    }
    problems
}

/// A running `chorus` binary on a fresh data dir (stopped on drop).
pub struct Binary {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Binary {
    pub fn start(env: &[(&str, &str)]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = chorus(dir.path());
        cmd.envs(env.iter().copied());
        let (child, addr, _) = start_logged(cmd);
        Binary {
            child,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub async fn scrape(&self) -> Exposition {
        let r = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        parse(&r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    /// Registers and logs in `name`; answers the access token.
    pub async fn sign_up(&self, name: &str) -> String {
        let email = format!("{name}@example.com");
        let password = format!("password-{name}");
        let r = self
            .post(
                "/auth/register",
                None,
                json!({"username": name, "email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let r = self
            .post(
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Scrapes until `check` holds (the gauges follow events a moment later).
    pub async fn scrape_until(
        &self,
        what: &str,
        check: impl Fn(&Exposition) -> bool,
    ) -> Exposition {
        crate::helpers::eventually(what, || async {
            let m = self.scrape().await;
            check(&m).then_some(m)
        })
        .await
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        sigterm(&self.child);
        wait_exit(&mut self.child);
    }
}

#[tokio::test]
async fn a_quiet_server_exports_every_contract_name_from_its_first_scrape() {
    let server = Binary::start(&[]);
    let m = server.scrape().await;
    let problems = contract_problems(&m);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(m.value("chorus_ws_connections", &[]), Some(0.0));
    assert_eq!(m.value("chorus_sse_streams", &[]), Some(0.0));
    assert_eq!(
        m.value("chorus_rate_limited_total", &[("class", "ai")]),
        Some(0.0)
    );
    for kind in ["sessions", "conversations", "jobs", "connections"] {
        assert!(
            m.value("chorus_actors", &[("kind", kind)]).is_some(),
            "chorus_actors{{kind={kind}}}"
        );
        assert_eq!(
            m.value("chorus_actor_restarts_total", &[("kind", kind)]),
            Some(0.0)
        );
    }
    assert!(m.value("chorus_store_bytes", &[]).is_some_and(|b| b > 0.0));
}

#[tokio::test]
async fn after_every_feature_is_used_each_series_carries_its_contract_labels() {
    // 20 tokens a second: a streamed answer of twenty words stays open ~1 s.
    let server = Binary::start(&[("CHORUS__PROVIDERS__ECHO__TOKENS_PER_S", "20")]);
    let token = server.sign_up("ada").await;
    // A WebSocket, counted while it is open.
    let url = format!(
        "{}/api/v1/ws?token={token}",
        server.base.replace("http", "ws")
    );
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    server
        .scrape_until("one socket", |m| {
            m.value("chorus_ws_connections", &[]) == Some(1.0)
        })
        .await;
    // An OpenAI-style stream (`/v1`), counted while it is open.
    let body = json!({"model": "echo-1", "stream": true, "messages": [{"role": "user", "content": crate::helpers::LONG}]});
    let stream = server
        .client
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut chunks = stream.bytes_stream();
    chunks.next().await.unwrap().unwrap();
    server
        .scrape_until("one SSE stream", |m| {
            m.value("chorus_sse_streams", &[]) == Some(1.0)
        })
        .await;
    while chunks.next().await.is_some() {}
    drop(socket);
    // A chat through the echo provider in a conversation, not streamed.
    let r = server
        .post("/conversations", Some(&token), json!({"title": "t"}))
        .await;
    let conversation: Value = r.json().await.unwrap();
    let path = format!(
        "/conversations/{}/chat",
        conversation["id"].as_str().unwrap()
    );
    let r = server
        .post(
            &path,
            Some(&token),
            json!({"content": "hello there", "stream": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // A job, run to completion.
    let r = server
        .post(
            "/jobs",
            Some(&token),
            json!({"job_type": "delay", "payload": {"seconds": 0}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // The contact form's sixth submission in an hour is rate-limited.
    let form = json!({"name": "Grace", "email": "grace@example.com", "message": "hello"});
    let statuses = futures::future::join_all(
        (0..6).map(|_| server.post("/public/contact", None, form.clone())),
    )
    .await;
    assert!(statuses.iter().any(|r| r.status() == 429));
    let m = server
        .scrape_until("the streams to close", |m| {
            m.value("chorus_sse_streams", &[]) == Some(0.0)
                && m.value("chorus_ws_connections", &[]) == Some(0.0)
        })
        .await;
    let problems = contract_problems(&m);
    assert!(problems.is_empty(), "{problems:#?}");
    let chat_route = [
        ("method", "POST"),
        ("route", "/api/v1/conversations/{id}/chat"),
        ("status", "200"),
    ];
    assert_eq!(
        m.value("chorus_http_requests_total", &chat_route),
        Some(1.0),
        "the matched template, not the path"
    );
    assert!(
        m.family("chorus_http_requests_total")
            .iter()
            .all(|s| !s.labels["route"].contains(conversation["id"].as_str().unwrap()))
    );
    let echo = |k: &str, v: &str| {
        m.samples
            .iter()
            .filter(|s| {
                s.name == "chorus_llm_tokens_total"
                    && s.labels["provider"] == "echo"
                    && s.labels[k] == v
            })
            .map(|s| s.value)
            .sum::<f64>()
    };
    assert!(echo("direction", "input") > 0.0 && echo("direction", "output") > 0.0);
    let complete: f64 = m
        .samples
        .iter()
        .filter(|s| s.name == "chorus_llm_requests_total" && s.labels["outcome"] == "complete")
        .map(|s| s.value)
        .sum();
    assert_eq!(complete, 2.0, "the /v1 stream and the chat");
    assert!(
        m.value(
            "chorus_llm_time_to_first_token_seconds_count",
            &[("provider", "echo")]
        )
        .is_some_and(|n| n >= 2.0)
    );
    assert_eq!(
        m.value("chorus_rate_limited_total", &[("class", "contact")]),
        Some(1.0)
    );
    assert!(
        m.value("chorus_actors", &[("kind", "conversations")])
            .is_some_and(|n| n >= 1.0)
    );
}
