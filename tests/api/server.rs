//! The listener's own protections.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{envelope, spawn_app_with};

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
    // Hold the only slot with an idle connection.
    let mut holders = vec![TcpStream::connect(app.addr).await.unwrap()];
    // The server has taken it when the next connection lands in a slot kept
    // for health checks, where anything but /live and /ready is refused.
    let refused = reqwest::get(app.url("/api/v1/auth/me")).await.unwrap();
    assert_eq!(refused.status(), 503, "the only slot was not taken");
    assert_eq!(
        envelope(refused).await["error"]["code"],
        "SERVICE_UNAVAILABLE"
    );
    // Hold the health-check slots too. Connections are accepted in the
    // order they arrive, so these are taken before the waiting client.
    for _ in 0..chorus::server::PROBE_SLOTS {
        holders.push(TcpStream::connect(app.addr).await.unwrap());
    }
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
    // The slot was freed by the server closing the idle holder.
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), holders[0].read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the idle connection holding the slot is still open: {closed:?}"
    );
}
