//! The metric names of API.md 12 that the edge owns or can see from here:
//! their `# HELP` lines, and one series of each at start-up (counters and
//! gauges at 0, histograms empty), so a dashboard of a quiet server shows
//! zeros instead of "no data". The actor gauges and restart counters are
//! registered by each supervisor as it starts.
//!
//! Every registration adds 0: the recorder is process-wide (tests start
//! many servers in one process), so setting a gauge here would wipe what
//! another server counted.

use chorus_actors::Core;
use metrics::{describe_counter, describe_gauge, describe_histogram};

use crate::rate_limit::RateClass;

/// Describes the names and registers their first series.
pub fn export_at_start(core: &Core) {
    describe();
    // The series the first scrape itself increments.
    let (method, route, status) = ("GET", "/metrics", "200");
    metrics::counter!("chorus_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(0);
    let _ = metrics::histogram!("chorus_http_request_duration_seconds", "route" => route);
    metrics::gauge!("chorus_ws_connections").increment(0.0);
    metrics::gauge!("chorus_sse_streams").increment(0.0);
    metrics::gauge!("chorus_store_bytes").set(core.store().size_on_disk() as f64);
    for class in [
        RateClass::Default,
        RateClass::Ai,
        RateClass::Auth,
        RateClass::Contact,
    ] {
        metrics::counter!("chorus_rate_limited_total", "class" => class.as_str()).increment(0);
    }
    for provider in core.llm().infos() {
        let model = core
            .llm()
            .model_label(&provider.name, &provider.default_model);
        let (p, m) = (provider.name.clone(), model.clone());
        metrics::counter!("chorus_llm_requests_total", "provider" => p, "model" => m, "outcome" => "complete")
            .increment(0);
        for direction in ["input", "output"] {
            let (p, m) = (provider.name.clone(), model.clone());
            metrics::counter!("chorus_llm_tokens_total", "provider" => p, "model" => m, "direction" => direction)
                .increment(0);
        }
        let _ = metrics::histogram!("chorus_llm_time_to_first_token_seconds", "provider" => provider.name);
    }
}

fn describe() {
    describe_counter!(
        "chorus_http_requests_total",
        "HTTP requests answered, by method, matched route template and status"
    );
    describe_histogram!(
        "chorus_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (to its headers for streams), by route template"
    );
    describe_gauge!("chorus_ws_connections", "Open WebSocket connections");
    describe_gauge!(
        "chorus_sse_streams",
        "Open server-sent event streams (API and /v1)"
    );
    describe_gauge!("chorus_actors", "Live actors, by kind");
    describe_counter!(
        "chorus_actor_restarts_total",
        "Actors restarted after a failure, by kind"
    );
    describe_counter!(
        "chorus_llm_requests_total",
        "Model calls, by provider, model label and outcome (complete, cancelled, failed)"
    );
    describe_counter!(
        "chorus_llm_tokens_total",
        "Tokens of model calls, by provider, model label and direction (input, output)"
    );
    describe_histogram!(
        "chorus_llm_time_to_first_token_seconds",
        metrics::Unit::Seconds,
        "Time from a model call's start to its first streamed item, by provider"
    );
    describe_gauge!(
        "chorus_store_bytes",
        metrics::Unit::Bytes,
        "Size of the store on disk"
    );
    describe_counter!(
        "chorus_rate_limited_total",
        "Requests refused by a rate limit, by class"
    );
}
