//! The listener: hyper-util serving the axum router with a header-read
//! timeout (slowloris), HTTP/2 keep-alive pings, a cap on concurrent
//! connections and graceful shutdown. `axum::serve` has no header timeout,
//! which is why chorus drives hyper itself.
//!
//! Past the cap a few more connections are taken for health checks only
//! ([`PROBE_SLOTS`]): `/live` and `/ready` must answer most when the
//! server is full. Those connections serve one request each; any other
//! path on them is 503.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Connections past `max_connections` kept for `/live` and `/ready`.
pub const PROBE_SLOTS: usize = 4;

/// The listener slot of the connection a request came on. A WebSocket
/// keeps it for its whole life: hyper lets go of a connection at the
/// upgrade, and without this an open socket would not count.
#[derive(Clone)]
pub struct ConnectionSlot {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// What the listener knows of the connection a request came on, given to
/// every request as one extension (each extension costs an allocation).
#[derive(Clone)]
pub struct Connection {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// `None` on a probe-only connection (the server is at its connection
    /// cap): only `/live` and `/ready` are served on it.
    slot: Option<ConnectionSlot>,
}

impl Connection {
    pub fn is_probe_only(&self) -> bool {
        self.slot.is_none()
    }

    /// The slot, for whatever outlives the request (a WebSocket).
    pub fn slot(&self) -> Option<ConnectionSlot> {
        self.slot.clone()
    }
}

/// The slot a connection was accepted into.
enum Slot {
    Full(OwnedSemaphorePermit),
    Probe(OwnedSemaphorePermit),
}

/// Connection limits and timeouts of the listener.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub header_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests get to finish once shutdown begins.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish for up to `options.grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let probes = Arc::new(Semaphore::new(PROBE_SLOTS));
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(builder(&options));
    let probe_builder = Arc::new(builder_for_probes(&options));
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => Slot::Full(permit),
                Err(_) => break,
            },
            permit = probes.clone().acquire_owned() => match permit {
                Ok(permit) => Slot::Probe(permit),
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // A full slot may have freed up while this one waited in accept.
        let slot = match slot {
            Slot::Probe(probe) => match permits.clone().try_acquire_owned() {
                Ok(full) => {
                    drop(probe);
                    Slot::Full(full)
                }
                Err(_) => Slot::Probe(probe),
            },
            full => full,
        };
        let (permit, held, builder) = match slot {
            Slot::Full(permit) => {
                let held = Arc::new(permit);
                let slot = ConnectionSlot {
                    _permit: held.clone(),
                };
                (held, Some(slot), builder.clone())
            }
            Slot::Probe(permit) => (Arc::new(permit), None, probe_builder.clone()),
        };
        let connection = Connection { peer, slot: held };
        let service = router
            .clone()
            .map_request(move |mut req: axum::extract::Request<_>| {
                req.extensions_mut().insert(connection.clone());
                req
            });
        let watcher = graceful.watcher();
        let header_timeout = options.header_timeout;
        tokio::spawn(async move {
            if !request_started(&stream, header_timeout).await {
                tracing::debug!(%peer, "no request within the header timeout");
                return;
            }
            let io = TokioIo::new(stream);
            let conn =
                builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!("connections still open after the shutdown grace period; closing them");
        }
    }
}

/// Waits until the client has sent enough to pick the protocol. hyper's
/// header timer only starts once the HTTP version is known, so without this
/// a client that connects and sends nothing (or half the HTTP/2 preface)
/// would hold a connection slot forever.
async fn request_started(stream: &TcpStream, timeout: Duration) -> bool {
    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 24];
    loop {
        let Ok(peeked) = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await else {
            return false;
        };
        match peeked {
            Ok(0) | Err(_) => return false,
            // Not (yet) distinguishable from an HTTP/2 preface: wait for more.
            Ok(n) if n < H2_PREFACE.len() && buf[..n] == H2_PREFACE[..n] => {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(_) => return true,
        }
    }
}

/// One request per connection: a probe slot is not held by keep-alive.
fn builder_for_probes(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = builder(options);
    builder.http1().keep_alive(false);
    builder
}

fn builder(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(options.keep_alive_timeout))
        .keep_alive_timeout(options.keep_alive_timeout);
    builder
}
