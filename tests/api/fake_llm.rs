//! A local OpenAI-compatible server for chat tests: it counts calls and
//! answers as told (a normal stream, a stream cut off mid-answer, an error).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use chorus::config::{Config, ProviderConfig, ProviderKind};
use futures::StreamExt;

#[derive(Clone, Copy)]
pub enum Behaviour {
    /// "Hello world" in two chunks, with usage.
    Answer,
    /// One chunk, then the connection dies.
    CutOff,
    /// HTTP 401 at once.
    Unauthorized,
}

pub struct FakeLlm {
    pub base_url: String,
    pub calls: Arc<AtomicUsize>,
    /// The body of the last request it received.
    pub last_body: Arc<std::sync::Mutex<Option<serde_json::Value>>>,
    /// The `traceparent` header of the last request, if it had one.
    pub last_traceparent: Arc<std::sync::Mutex<Option<String>>>,
}

impl FakeLlm {
    pub async fn start(behaviour: Behaviour) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let last_body = Arc::new(std::sync::Mutex::new(None));
        let last_traceparent = Arc::new(std::sync::Mutex::new(None));
        let (counter, kept) = (calls.clone(), last_body.clone());
        let traceparent = last_traceparent.clone();
        let app = Router::new().route(
            "/v1/chat/completions",
            post(
                move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    *traceparent.lock().unwrap() = headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    *kept.lock().unwrap() = Some(body.0);
                    async move { answer(behaviour) }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url,
            calls,
            last_body,
            last_traceparent,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Adds this server to `config` as provider `fake`.
    pub fn configure(&self, config: &mut Config) {
        config.providers.insert(
            "fake".into(),
            ProviderConfig {
                kind: ProviderKind::Openai,
                base_url: Some(self.base_url.clone()),
                api_key: None,
                models: vec!["fake-1".into()],
                default_model: Some("fake-1".into()),
                tokens_per_s: None,
                fallback: None,
                connect_timeout_ms: Some(1000),
                read_timeout_ms: Some(2000),
                max_retries: Some(0),
                prices: Default::default(),
            },
        );
    }
}

fn chunk(text: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
}

fn answer(behaviour: Behaviour) -> axum::response::Response {
    let sse = [("content-type", "text/event-stream")];
    match behaviour {
        Behaviour::Answer => {
            let body = [
                chunk("Hello"),
                chunk(" world"),
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n".into(),
                "data: [DONE]\n\n".into(),
            ]
            .concat();
            (sse, body).into_response()
        }
        Behaviour::CutOff => {
            let first = futures::stream::iter([Ok::<_, std::io::Error>(chunk("partial"))]);
            let death = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err(std::io::Error::other("upstream crashed"))
            });
            (sse, Body::from_stream(first.chain(death))).into_response()
        }
        Behaviour::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
    }
}
