//! OpenTelemetry traces: the `chorus` binary (the tracer provider is
//! process-wide, so each test runs its own server process) exports to a
//! local OTLP/HTTP receiver, which decodes `ExportTraceServiceRequest`s.

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

use crate::binary::{chorus, sigterm, start_logged, wait_exit};
use crate::fake_llm::{Behaviour, FakeLlm};
use crate::helpers::{eventually, spawn_app_with};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const CHAT_ROUTE: &str = "/api/v1/conversations/{id}/chat";
const CONTENT: &str = "hello traced world";

/// A local OTLP/HTTP receiver: every span it was sent, with its service name.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

impl Receiver {
    async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let app = Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .map(|r| attrs(&r.attributes)["service.name"].clone())
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            kept.lock().unwrap().push((service.clone(), span));
                        }
                    }
                }
                let answer = ExportTraceServiceResponse::default().encode_to_vec();
                ([("content-type", "application/x-protobuf")], answer)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, spans }
    }

    /// The spans of trace `trace_id` (hex) received so far.
    fn trace(&self, trace_id: &str) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| hex(&s.trace_id) == trace_id)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Waits until trace `trace_id` has a span of each name in `names`.
    async fn wait_for(&self, trace_id: &str, names: &[&str]) -> Vec<Span> {
        eventually("the spans at the receiver", || async {
            let spans = self.trace(trace_id);
            let all = names.iter().all(|n| spans.iter().any(|s| s.name == *n));
            all.then_some(spans)
        })
        .await
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A span's attributes as strings (ints and floats printed).
fn attrs(list: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// A `chorus` process exporting to `receiver`, with `envs` on top.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(receiver: &Receiver, envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = chorus(dir.path());
        cmd.env("CHORUS__TELEMETRY__OTLP_ENDPOINT", &receiver.url)
            .env("CHORUS__TELEMETRY__SERVICE_NAME", "chorus-under-test")
            // Export within 100 ms instead of the default 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let (child, addr, _) = start_logged(cmd);
        Self {
            child,
            base: format!("http://{addr}/api/v1"),
            _dir: dir,
        }
    }

    /// Stops the process with SIGTERM; it must exit 0.
    fn stop(mut self) {
        sigterm(&self.child);
        assert_eq!(wait_exit(&mut self.child).code(), Some(0));
    }
}

/// Signs `name` up on `server`: (user id, access token).
async fn sign_up(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let password = format!("password-{name}");
    let email = format!("{name}@example.com");
    let r = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"username": name, "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    (
        body["user"]["id"].as_str().unwrap().to_string(),
        body["access_token"].as_str().unwrap().to_string(),
    )
}

/// Creates a conversation and sends one unstreamed chat with `traceparent`;
/// asserts 200 and returns the response's `X-Request-ID`.
async fn chat(base: &str, token: &str, traceparent: &str, extra: serde_json::Value) -> String {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/conversations"))
        .bearer_auth(token)
        .json(&json!({"title": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut body = json!({"content": CONTENT, "stream": false});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = http
        .post(format!("{base}/conversations/{id}/chat"))
        .bearer_auth(token)
        .header("traceparent", traceparent)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

/// Whether `span` descends from the span with id `ancestor` in `spans`.
fn descends_from(span: &Span, ancestor: &[u8], spans: &[Span]) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..spans.len() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(next) => parent = next.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test]
async fn a_chat_is_one_trace_under_the_callers_span_with_actor_provider_and_store_spans() {
    let receiver = Receiver::start().await;
    let server = Server::start(&receiver, &[]);
    let http = reqwest::Client::new();
    let (user_id, token) = sign_up(&http, &server.base, "traced").await;
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let request_id = chat(&server.base, &token, &traceparent, json!({})).await;

    let request_name = format!("POST {CHAT_ROUTE}");
    let spans = receiver
        .wait_for(
            TRACE_ID,
            &[&request_name, "actor.call", "llm.call", "store.commit"],
        )
        .await;
    assert!(
        receiver
            .spans
            .lock()
            .unwrap()
            .iter()
            .all(|(service, _)| service == "chorus-under-test")
    );

    // The request span: a server span whose parent is the caller's span.
    let request = named(&spans, &request_name);
    assert_eq!(request.len(), 1, "one span for the chat request");
    let request = request[0];
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(request.kind, SpanKind::Server as i32);
    let a = attrs(&request.attributes);
    assert_eq!(a["route"], CHAT_ROUTE, "the template, never the raw path");
    assert_eq!(a["method"], "POST");
    assert_eq!(a["status"], "200");
    assert_eq!(a["user_id"], user_id);
    assert_eq!(a["request_id"], request_id);

    // Actor call, provider call and store commits hang under it.
    for name in ["actor.call", "llm.call", "store.commit"] {
        for span in named(&spans, name) {
            assert!(
                descends_from(span, &request.span_id, &spans),
                "{name} is not under the request span"
            );
        }
    }
    let chat_call = named(&spans, "actor.call")
        .into_iter()
        .map(|s| attrs(&s.attributes))
        .find(|a| a["actor.message"] == "chat")
        .expect("an actor.call span for the chat message");
    assert_eq!(chat_call["actor.kind"], "conversations");
    let llm = named(&spans, "llm.call");
    assert_eq!(llm.len(), 1);
    assert_eq!(llm[0].kind, SpanKind::Client as i32);
    let a = attrs(&llm[0].attributes);
    assert_eq!(a["llm.provider"], "echo");
    assert_eq!(a["llm.model"], "echo-1");
    // The echo model counts words: at least the three of the prompt, and
    // the three it answers.
    assert!(a["llm.input_tokens"].parse::<u64>().unwrap() >= 3);
    assert_eq!(a["llm.output_tokens"], "3");
    assert!(a["llm.time_to_first_token_ms"].parse::<f64>().unwrap() >= 0.0);

    // No span anywhere carries the token or what the user wrote.
    for (_, span) in receiver.spans.lock().unwrap().iter() {
        for (key, value) in attrs(&span.attributes) {
            assert!(
                !value.contains(&token),
                "{key} of {} holds the token",
                span.name
            );
            assert!(
                !value.contains(CONTENT),
                "{key} of {} holds the message",
                span.name
            );
        }
    }
    server.stop();
}

#[tokio::test]
async fn a_provider_call_carries_the_traceparent_of_its_span() {
    let receiver = Receiver::start().await;
    let fake = FakeLlm::start(Behaviour::Answer).await;
    let server = Server::start(
        &receiver,
        &[
            ("CHORUS__PROVIDERS__FAKE__KIND", "openai"),
            ("CHORUS__PROVIDERS__FAKE__BASE_URL", &fake.base_url),
            ("CHORUS__PROVIDERS__FAKE__DEFAULT_MODEL", "fake-1"),
            ("CHORUS__PROVIDERS__FAKE__MAX_RETRIES", "0"),
        ],
    );
    let http = reqwest::Client::new();
    let (_, token) = sign_up(&http, &server.base, "upstream").await;
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    chat(
        &server.base,
        &token,
        &traceparent,
        json!({"provider": "fake"}),
    )
    .await;

    let sent = fake.last_traceparent.lock().unwrap().clone();
    let sent = sent.expect("the provider call had no traceparent");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(
        parts[1], TRACE_ID,
        "the provider call joins the caller's trace"
    );
    // Its parent is the llm.call span, which the receiver has too.
    let spans = receiver.wait_for(TRACE_ID, &["llm.call"]).await;
    let llm = named(&spans, "llm.call")[0];
    assert_eq!(parts[2], hex(&llm.span_id));
    let a = attrs(&llm.attributes);
    assert_eq!(a["llm.provider"], "fake");
    assert_eq!(a["llm.output_tokens"], "2");
    server.stop();
}

// Two workers: the receiver must answer while `stop` blocks this thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_starts_a_new_trace_and_spans_are_flushed_at_shutdown() {
    let receiver = Receiver::start().await;
    // The batch would wait 10 minutes: only the flush at shutdown sends it.
    let server = Server::start(&receiver, &[("OTEL_BSP_SCHEDULE_DELAY", "600000")]);
    let http = reqwest::Client::new();
    let (_, token) = sign_up(&http, &server.base, "forged").await;
    // The all-zero trace id is invalid (W3C trace context, section 3.2.2.3).
    let forged = format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32));
    let r = http
        .get(format!("{}/conversations", server.base))
        .bearer_auth(&token)
        .header("traceparent", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        receiver.spans.lock().unwrap().is_empty(),
        "exported before the batch was due"
    );
    server.stop();

    let spans = receiver.spans.lock().unwrap().clone();
    let list = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "GET /api/v1/conversations")
        .expect("the request's span was flushed at shutdown");
    assert!(list.parent_span_id.is_empty(), "a root span");
    assert_ne!(hex(&list.trace_id), "0".repeat(32));
}

#[tokio::test]
async fn without_an_endpoint_no_traceparent_goes_to_the_provider() {
    let fake = FakeLlm::start(Behaviour::Answer).await;
    let app = spawn_app_with(|c| fake.configure(c), Router::new()).await;
    let session = app.sign_up("untraced").await;
    let id = app.conversation(&session.access, json!({})).await;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{id}/chat")))
        .bearer_auth(&session.access)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({"content": CONTENT, "stream": false, "provider": "fake"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fake.calls(), 1);
    assert_eq!(*fake.last_traceparent.lock().unwrap(), None);
    app.stop().await;
}
