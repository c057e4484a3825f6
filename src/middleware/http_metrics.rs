//! Request counters and latency histograms, labelled by the matched route
//! template (never the raw path) and a method from a fixed set: any label
//! a client can choose freely would grow the metrics without bound.
//!
//! The handles are made once per route, method and status and kept here,
//! so a request records into them without building labels or looking the
//! series up in the recorder's registry.

use std::time::Duration;

use axum::http::Method;
use dashmap::DashMap;
use metrics::{Counter, Histogram};

/// The edge's request metrics, one entry per route template seen.
#[derive(Default)]
pub struct RequestMetrics {
    routes: DashMap<Box<str>, RouteMetrics>,
}

struct RouteMetrics {
    duration: Histogram,
    requests: DashMap<(&'static str, u16), Counter>,
}

impl RequestMetrics {
    /// Counts one answered request of `route` and observes its duration.
    pub fn record(&self, route: &str, method: &Method, status: u16, took: Duration) {
        let method = method_label(method);
        if let Some(r) = self.routes.get(route) {
            r.record(route, method, status, took);
            return;
        }
        let r = self
            .routes
            .entry(route.into())
            .or_insert_with(|| RouteMetrics {
                duration: metrics::histogram!(
                    "chorus_http_request_duration_seconds",
                    "route" => route.to_owned()
                ),
                requests: DashMap::new(),
            });
        r.record(route, method, status, took);
    }
}

impl RouteMetrics {
    fn record(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        self.duration.record(took.as_secs_f64());
        if let Some(c) = self.requests.get(&(method, status)) {
            c.increment(1);
            return;
        }
        self.requests
            .entry((method, status))
            .or_insert_with(|| {
                metrics::counter!(
                    "chorus_http_requests_total",
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                )
            })
            .increment(1);
    }
}

/// The method as a label: one of the standard methods, or `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_are_labels_of_their_own() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::TRACE), "OTHER");
        let invented = Method::from_bytes(b"FOOBAR").unwrap();
        assert_eq!(method_label(&invented), "OTHER");
    }
}
