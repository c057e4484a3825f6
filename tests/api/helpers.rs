//! `spawn_app()` and friends: one real server per test.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use chorus::Application;
use chorus::config::{Config, Overrides};
use chorus::state::AppState;
use figment::providers::Env;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// Kept so the data dir lives as long as the server (`None`: the
    /// caller owns the data dir).
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Stops the server the way SIGTERM would and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .expect("server did not stop")
                .unwrap();
        }
    }
}

/// The default configuration, on port 0 and a fresh data dir, with no
/// environment layer (tests run in parallel).
pub fn test_config(dir: &std::path::Path) -> Config {
    let overrides = Overrides {
        bind: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    Config::load_from(&overrides, Env::prefixed("CHORUS_TEST_UNSET__")).unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, Router::new()).await
}

/// Starts a server after `tweak` adjusted its configuration, with `extra`
/// routes mounted under the same layers as the real ones.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config), extra: Router<AppState>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let app = Application::build_with(config, extra).await.unwrap();
    let mut app = TestApp::serve(app);
    app._dir = Some(dir);
    app
}

impl TestApp {
    /// Serves an application built by the caller, whose data dir the caller owns.
    pub fn serve(app: Application) -> TestApp {
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
            _dir: None,
        }
    }
}

/// `method` on `/api/v1{path}` as `token`: the status and the JSON body
/// (`null` for a 204).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let r = app.send(method, path, Some(token), body).await;
    let status = r.status().as_u16();
    let body = if status == 204 {
        serde_json::Value::Null
    } else {
        r.json().await.unwrap()
    };
    (status, body)
}

/// The parsed error envelope of a response, asserting its shape.
pub async fn envelope(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "no error.code in {body}");
    assert!(
        body["error"]["message"].is_string(),
        "no error.message in {body}"
    );
    assert_eq!(
        body["request_id"],
        header_id.as_str(),
        "request_id matches the header"
    );
    body
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    /// POSTs `body` as JSON to `/api/v1{path}`, with `token` as bearer if given.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Any method on `/api/v1{path}`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(&format!("/api/v1{path}")));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// GET `/api/v1{path}` as `token`.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// GET `/api/v1{path}` as `token`, asserting 200; the JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        let r = self.get_as(path, token).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// Registers `name` (email `name@example.com`, password `password-{name}`).
    pub async fn register(&self, name: &str) -> serde_json::Value {
        let r = self
            .post_json(
                "/auth/register",
                None,
                serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": format!("password-{name}")}),
            )
            .await;
        assert_eq!(r.status(), 201, "register {name}");
        r.json().await.unwrap()
    }

    pub async fn login(&self, name: &str) -> Session {
        let email = format!("{name}@example.com");
        let r = self
            .post_json(
                "/auth/login",
                None,
                serde_json::json!({"email": email, "password": format!("password-{name}")}),
            )
            .await;
        assert_eq!(r.status(), 200, "login {name}");
        let body: serde_json::Value = r.json().await.unwrap();
        Session {
            user_id: body["user"]["id"].as_str().unwrap().to_string(),
            email,
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// Registers and logs in `name`.
    pub async fn sign_up(&self, name: &str) -> Session {
        self.register(name).await;
        self.login(name).await
    }
}

/// Asserts a 401 with `X-Auth-Reason: reason`.
pub async fn assert_401(response: reqwest::Response, reason: &str) {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-auth-reason"], reason);
    assert_eq!(
        envelope(response).await["error"]["code"],
        "AUTHENTICATION_ERROR"
    );
}

/// One server-sent event as a client sees it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub id: u64,
    pub data: serde_json::Value,
}

/// The events of an SSE response, parsed by a real SSE parser.
pub fn sse_events(response: reqwest::Response) -> impl futures::Stream<Item = Sse> + Unpin {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .filter_map(|e| async move {
                let e = e.ok()?;
                Some(Sse {
                    event: e.event,
                    id: e.id.parse().unwrap_or(0),
                    data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
                })
            }),
    )
}

/// Reads events until the terminal one (`done` or `error`), within 20 s.
pub async fn until_done(events: &mut (impl futures::Stream<Item = Sse> + Unpin)) -> Vec<Sse> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let read = async {
        while let Some(e) = events.next().await {
            let end = e.event == "done" || e.event == "error";
            out.push(e);
            if end {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("stream did not finish");
    out
}

/// Polls `check` every 10 ms until it answers `Some`, for up to 10 s.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl TestApp {
    /// Creates a conversation for `token` and returns its id.
    pub async fn conversation(&self, token: &str, body: serde_json::Value) -> String {
        let r = self.post_json("/conversations", Some(token), body).await;
        assert_eq!(r.status(), 201);
        r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Starts a streamed chat and returns the response (headers received).
    pub async fn chat(&self, token: &str, conversation: &str, content: &str) -> reqwest::Response {
        self.post_json(
            &format!("/conversations/{conversation}/chat"),
            Some(token),
            serde_json::json!({ "content": content }),
        )
        .await
    }
}

/// Twenty words: at 20 tokens/s the answer takes about a second.
pub const LONG: &str = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";

pub fn slow_echo(c: &mut chorus::config::Config) {
    c.providers.get_mut("echo").unwrap().tokens_per_s = Some(20.0);
}
