//! The client's address (issue 10, item 9): the TCP peer, or, when that peer
//! is a trusted reverse proxy (`server.trusted_proxies`), the rightmost
//! address of `X-Forwarded-For` that is not itself a trusted proxy. Any
//! client can write `X-Forwarded-For`, so from an untrusted peer it is
//! ignored: a client cannot pick the IP its rate limits are keyed by.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::server::Connection;

/// The address a request is attributed to (rate limits, sessions, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The parsed `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses CIDRs and bare addresses; the error is the entry at fault.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| entry.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(nets)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Hops are appended left to right; the rightmost ones were added by
        // our own proxies. The first hop (from the right) that is not a
        // trusted proxy is the client; a hop that does not parse ends the
        // walk at the last trusted one, which added it.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// Middleware: stores the request's [`ClientIp`] for every later layer.
pub async fn resolve(
    State(proxies): State<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(peer) = req.extensions().get::<Connection>().map(|c| c.peer) {
        let client = proxies.client(peer.ip(), req.headers());
        req.extensions_mut().insert(ClientIp(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn xff(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static(value));
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let client = proxies.client(ip("203.0.113.9"), &xff("198.51.100.1"));
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        // The client forged the first entry; our proxies added the rest.
        let headers = xff("1.2.3.4, 198.51.100.7, 10.0.0.5");
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &headers),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &xff("garbage, 10.0.0.2")),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &xff("192.0.2.1")),
            ip("192.0.2.1")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/8".into(), "ten".into()]).unwrap_err(),
            "ten"
        );
    }
}
