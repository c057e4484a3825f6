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
    /// Kept so the data dir lives as long as the server.
    _dir: tempfile::TempDir,
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
        _dir: dir,
    }
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
