//! Providers against real local HTTP servers that speak each protocol:
//! OpenAI SSE chunks, Anthropic SSE events, Ollama NDJSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chorus_actors::llm::{
    ChatMessage, ChatRequest, Delta, Llm, LlmError, ProviderKind, ProviderSpec, TokenUsage,
};
use chorus_actors::model::MessageRole;
use futures::StreamExt;
use tokio::sync::oneshot;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn spec(name: &str, kind: ProviderKind, base_url: Option<String>) -> ProviderSpec {
    ProviderSpec {
        name: name.into(),
        kind,
        base_url,
        api_key: Some("sk-test".into()),
        models: vec!["m1".into()],
        default_model: Some("m1".into()),
        tokens_per_s: 0.0,
        fallback: None,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        max_retries: 2,
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        model: String::new(),
        messages: vec![
            ChatMessage::new(MessageRole::System, "be kind"),
            ChatMessage::new(MessageRole::User, "hi there"),
        ],
        ..Default::default()
    }
}

/// Collects a whole answer: its text, and the final item (Done or an error).
async fn collect(llm: &Llm, provider: &str) -> (String, Result<Delta, LlmError>) {
    let opened = llm
        .open(provider, request())
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let mut text = String::new();
    let mut stream = opened.stream;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Delta::Token(t)) => text.push_str(&t),
            other => return (text, other),
        }
    }
    panic!("the stream ended without Done or an error");
}

fn sse(body: String) -> Response {
    ([("content-type", "text/event-stream")], body).into_response()
}

const OPENAI_STREAM: &str = concat!(
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn openai_sse_chunks_stream_tokens_and_usage() {
    let seen = Arc::new(std::sync::Mutex::new(None::<(String, serde_json::Value)>));
    let kept = seen.clone();
    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(
            move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                let kept = kept.clone();
                async move {
                    let auth = headers["authorization"].to_str().unwrap().to_string();
                    *kept.lock().unwrap() = Some((auth, body.0));
                    sse(OPENAI_STREAM.into())
                }
            },
        ),
    ))
    .await;
    let llm = Llm::new(
        vec![spec("oa", ProviderKind::Openai, Some(format!("{url}/v1")))],
        "oa",
    )
    .unwrap();
    let (text, end) = collect(&llm, "oa").await;
    assert_eq!(text, "Hello world");
    assert_eq!(
        end.unwrap(),
        Delta::Done {
            usage: Some(TokenUsage {
                prompt_tokens: 7,
                completion_tokens: 2
            }),
            finish_reason: "stop".into()
        }
    );
    let (auth, body) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(auth, "Bearer sk-test");
    assert_eq!(body["model"], "m1");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][1]["content"], "hi there");
}

#[tokio::test]
async fn anthropic_sse_events_stream_tokens_and_usage() {
    let url = serve(Router::new().route(
        "/v1/messages",
        post(|headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| async move {
            assert_eq!(headers["x-api-key"], "sk-test");
            assert_eq!(headers["anthropic-version"], "2023-06-01");
            assert_eq!(body["system"], "be kind");
            assert_eq!(body["messages"].as_array().unwrap().len(), 1, "system goes apart");
            sse([
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" monde\"}}\n\n",
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ].concat())
        }),
    ))
    .await;
    let llm = Llm::new(vec![spec("an", ProviderKind::Anthropic, Some(url))], "an").unwrap();
    let (text, end) = collect(&llm, "an").await;
    assert_eq!(text, "Bonjour monde");
    assert_eq!(
        end.unwrap(),
        Delta::Done {
            usage: Some(TokenUsage {
                prompt_tokens: 11,
                completion_tokens: 3
            }),
            finish_reason: "stop".into()
        }
    );
}

#[tokio::test]
async fn ollama_ndjson_lines_stream_tokens_and_usage() {
    let url = serve(Router::new().route(
        "/api/chat",
        post(|| async {
            // Lines split across chunks, as a real socket may deliver them.
            let parts = [
                "{\"message\":{\"role\":\"assistant\",\"content\":\"Hal\"},\"done\":false}\n{\"message\":{\"role\":\"as",
                "sistant\",\"content\":\"lo\"},\"done\":false}\n",
                "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":2}\n",
            ];
            let stream = futures::stream::iter(parts.map(|p| Ok::<_, Infallible>(p.to_string())));
            ([("content-type", "application/x-ndjson")], Body::from_stream(stream))
        }),
    ))
    .await;
    let llm = Llm::new(vec![spec("ol", ProviderKind::Ollama, Some(url))], "ol").unwrap();
    let (text, end) = collect(&llm, "ol").await;
    assert_eq!(text, "Hallo");
    assert_eq!(
        end.unwrap(),
        Delta::Done {
            usage: Some(TokenUsage {
                prompt_tokens: 5,
                completion_tokens: 2
            }),
            finish_reason: "stop".into()
        }
    );
}

/// Serves each protocol's chat path with a one-word answer "ok".
async fn every_protocol() -> String {
    let ndjson = "{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"done\":true}\n";
    serve(
        Router::new()
            .route("/v1/chat/completions", post(|| async { sse(OPENAI_STREAM.into()) }))
            .route(
                "/v1/messages",
                post(|| async {
                    sse(concat!(
                        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"ok\"}}\n\n",
                        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                    )
                    .into())
                }),
            )
            .route("/api/chat", post(move || async move { ndjson })),
    )
    .await
}

#[tokio::test]
async fn each_providers_documented_root_works_with_or_without_its_version_suffix() {
    let url = every_protocol().await;
    let cases = [
        // OpenAI documents https://api.openai.com/v1; the bare host works too.
        (ProviderKind::Openai, url.clone()),
        // vLLM, LM Studio, llama.cpp: http://host:port/v1.
        (ProviderKind::Openai, format!("{url}/v1/")),
        // Anthropic documents https://api.anthropic.com; `/v1` must not double.
        (ProviderKind::Anthropic, format!("{url}/v1")),
        // Ollama documents http://localhost:11434; `/api` must not double.
        (ProviderKind::Ollama, format!("{url}/api")),
    ];
    for (kind, base_url) in cases {
        let llm = Llm::new(vec![spec("p", kind, Some(base_url.clone()))], "p").unwrap();
        let opened = llm.open("p", request()).await;
        assert!(opened.is_ok(), "{kind:?} at {base_url}: {:?}", opened.err());
        let (text, end) = collect(&llm, "p").await;
        assert!(!text.is_empty() && end.is_ok(), "{kind:?} at {base_url}");
    }
}

#[tokio::test]
async fn a_500_is_retried_and_the_next_attempt_answers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    sse(OPENAI_STREAM.into())
                }
            }
        }),
    ))
    .await;
    let llm = Llm::new(vec![spec("oa", ProviderKind::Openai, Some(url))], "oa").unwrap();
    let (text, end) = collect(&llm, "oa").await;
    assert_eq!(text, "Hello world");
    assert!(end.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_provider_that_is_down_falls_back_and_a_4xx_is_not_retried() {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut primary = spec("primary", ProviderKind::Openai, Some(dead));
    primary.fallback = Some("backup".into());
    let mut backup = spec("backup", ProviderKind::Echo, None);
    backup.models = vec!["echo-1".into()];
    backup.default_model = Some("echo-1".into());
    let llm = Llm::new(vec![primary, backup], "primary").unwrap();
    let opened = llm.open("primary", request()).await.unwrap();
    assert_eq!(opened.provider, "backup");
    assert_eq!(opened.model, "echo-1");
    let infos = llm.infos();
    let primary = infos.iter().find(|i| i.name == "primary").unwrap();
    assert!(!primary.healthy && primary.last_error.is_some());

    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(|| async { StatusCode::UNAUTHORIZED }),
    ))
    .await;
    let llm = Llm::new(vec![spec("oa", ProviderKind::Openai, Some(url))], "oa").unwrap();
    let err = llm.open("oa", request()).await.err().unwrap();
    assert_eq!(err.upstream_status(), Some(401));
}

#[tokio::test]
async fn an_upstream_that_hangs_times_out() {
    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            std::future::pending::<()>().await;
            StatusCode::OK
        }),
    ))
    .await;
    let mut s = spec("slow", ProviderKind::Openai, Some(url));
    s.read_timeout = Duration::from_millis(300);
    s.max_retries = 0;
    let llm = Llm::new(vec![s], "slow").unwrap();
    let err = llm.open("slow", request()).await.err().unwrap();
    assert!(matches!(err, LlmError::Timeout), "{err:?}");
}

#[tokio::test]
async fn a_stream_cut_off_mid_answer_ends_in_an_error() {
    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let first =
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n";
            let stream = futures::stream::iter([Ok::<_, std::io::Error>(first.to_string())]).chain(
                futures::stream::once(async {
                    // The upstream dies a moment after its first token.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(std::io::Error::other("upstream crashed"))
                }),
            );
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
        }),
    ))
    .await;
    let llm = Llm::new(vec![spec("oa", ProviderKind::Openai, Some(url))], "oa").unwrap();
    let (text, end) = collect(&llm, "oa").await;
    assert_eq!(text, "partial");
    assert!(
        end.is_err(),
        "a cut-off stream must end in an error, got {end:?}"
    );
}

/// Sends on drop: tells the test the server's response stream was dropped,
/// which is what happens when the client closes the connection.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let (closed_tx, closed_rx) = oneshot::channel();
    let signal = Arc::new(std::sync::Mutex::new(Some(closed_tx)));
    let url = serve(Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let guard = DropSignal(signal.lock().unwrap().take());
            async move {
                // An endless answer, one token every 20 ms.
                let stream = futures::stream::unfold(guard, |guard| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let chunk =
                        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"la \"}}]}\n\n";
                    Some((Ok::<_, Infallible>(chunk.to_string()), guard))
                });
                (
                    [("content-type", "text/event-stream")],
                    Body::from_stream(stream),
                )
            }
        }),
    ))
    .await;
    let llm = Llm::new(vec![spec("oa", ProviderKind::Openai, Some(url))], "oa").unwrap();
    let mut stream = llm.open("oa", request()).await.unwrap().stream;
    assert!(matches!(stream.next().await, Some(Ok(Delta::Token(_)))));
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .expect("the upstream never saw its connection close")
        .unwrap();
}
