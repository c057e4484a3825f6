//! `Server-Timing` on AI and `/v1` answers (API.md 12): `total` (from the
//! moment the request reached the edge to the moment its answer's head
//! leaves it), `upstream` (the provider call) and `queue` (the time before
//! the provider call was made: auth, checks, quota, the generation's
//! start), in milliseconds. `total - upstream` is chorus's own share of one
//! answer. A streamed answer's head leaves once the provider has started
//! answering, so there `upstream` is the provider's time to open the stream.
//! `server.server_timing = false` leaves the header out.

use std::time::Instant;

use axum::http::HeaderValue;
use axum::response::Response;
use chorus_actors::replay::{Generation, Upstream};

/// A response extension: the provider call behind this answer. The
/// envelope (which knows when the request arrived, and whether the header
/// is on) turns it into the header.
#[derive(Debug, Clone, Copy)]
pub struct Timed(pub Upstream);

/// Marks `response` as answered by `generation`.
pub fn mark(response: &mut Response, generation: &Generation) {
    response
        .extensions_mut()
        .insert(Timed(generation.upstream()));
}

/// The header's value for a request that arrived at `arrived`, whose
/// answer leaves `now`.
pub fn value(arrived: Instant, Timed(upstream): Timed, now: Instant) -> Option<HeaderValue> {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let total = now.saturating_duration_since(arrived);
    let (queue, upstream) = match upstream.started {
        Some(started) => (
            started.saturating_duration_since(arrived),
            upstream
                .ended
                .unwrap_or(now)
                .saturating_duration_since(started),
        ),
        None => (total, std::time::Duration::ZERO),
    };
    let text = format!(
        "total;dur={:.3}, upstream;dur={:.3}, queue;dur={:.3}",
        ms(total),
        ms(upstream),
        ms(queue)
    );
    HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_parts_add_up_from_the_arrival() {
        let arrived = Instant::now();
        let started = arrived + Duration::from_micros(250);
        let ended = started + Duration::from_millis(40);
        let now = ended + Duration::from_micros(500);
        let timed = Timed(Upstream {
            started: Some(started),
            ended: Some(ended),
        });
        let v = value(arrived, timed, now).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "total;dur=40.750, upstream;dur=40.000, queue;dur=0.250"
        );
    }

    #[test]
    fn a_streamed_answer_counts_the_provider_until_its_head_leaves() {
        let arrived = Instant::now();
        let started = arrived + Duration::from_millis(1);
        let now = started + Duration::from_millis(9);
        let timed = Timed(Upstream {
            started: Some(started),
            ended: None,
        });
        let v = value(arrived, timed, now).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "total;dur=10.000, upstream;dur=9.000, queue;dur=1.000"
        );
    }
}
