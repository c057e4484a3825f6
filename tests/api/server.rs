//! The listener's own protections.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_client_that_stalls_mid_header_is_disconnected_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.server.header_timeout_s = 1, axum::Router::new()).await;
    let mut stalled = TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(b"GET /live HTTP/1.1\r\nHost: localhost\r\nX-Half: ")
        .await
        .unwrap();
    let started = Instant::now();

    // Meanwhile the server serves everyone else.
    assert_eq!(app.get("/live").await.status(), 200);

    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // a 408 or similar before the close is fine
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stalled connection was never closed");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_frees() {
    let app = spawn_app_with(
        |c| {
            c.server.max_connections = 1;
            c.server.header_timeout_s = 2;
        },
        axum::Router::new(),
    )
    .await;
    // Hold the only slot, and the few kept past it for health checks,
    // with idle connections.
    let mut holders = Vec::new();
    for _ in 0..=chorus::server::PROBE_SLOTS {
        holders.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::task::yield_now().await;
    let started = Instant::now();
    let waiting = tokio::spawn({
        let url = app.url("/live");
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    // The held connections are closed by the header timeout (they never
    // send a request); then the waiting client is served.
    let status = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the waiting client was never served")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "served at once: the connection cap did not hold ({:?})",
        started.elapsed()
    );
    drop(holders);
}
