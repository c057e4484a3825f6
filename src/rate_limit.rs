//! Rate limits (API.md 0.3): token buckets per class, keyed by user id or
//! client IP, with the `X-RateLimit-*` headers on every answer.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;
use uuid::Uuid;

use crate::config::RateLimitsConfig;
use crate::error::{ApiError, ErrorKind};

/// Who a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    User(Uuid),
    Ip(IpAddr),
}

impl RateKey {
    /// The bucket of a client address. An IPv6 client is keyed by its /64:
    /// one host is usually given a whole /64, and keying single addresses
    /// would hand it 2^64 buckets.
    pub fn ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                RateKey::Ip(IpAddr::V6(prefix.into()))
            }
            v4 => RateKey::Ip(v4),
        }
    }
}

/// The classes of API.md 0.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    Default,
    Ai,
    Auth,
    Contact,
}

impl RateClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RateClass::Default => "default",
            RateClass::Ai => "ai",
            RateClass::Auth => "auth",
            RateClass::Contact => "contact",
        }
    }
}

type Limiter =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, DefaultClock, StateInformationMiddleware>;

struct Bucket {
    limiter: Limiter,
    limit: u32,
}

/// Every class's buckets. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    default: Arc<Bucket>,
    ai: Arc<Bucket>,
    auth: Arc<Bucket>,
    contact: Arc<Bucket>,
    clock: DefaultClock,
}

/// What a request used of its bucket: the values of the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket is full again.
    pub reset: u64,
}

// Made at compile time: a `&str` name is parsed again on every insert.
const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

impl RateInfo {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(self.reset));
    }
}

fn bucket(per: Duration, count: u32) -> Arc<Bucket> {
    let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(per / count.get())
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count);
    Arc::new(Bucket {
        limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        limit: count.get(),
    })
}

impl RateLimits {
    pub fn new(config: &RateLimitsConfig) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            default: bucket(minute, config.default),
            ai: bucket(minute, config.ai),
            auth: bucket(minute, config.auth),
            contact: bucket(Duration::from_secs(3600), config.contact),
            clock: DefaultClock::default(),
        }
    }

    fn bucket(&self, class: RateClass) -> &Bucket {
        match class {
            RateClass::Default => &self.default,
            RateClass::Ai => &self.ai,
            RateClass::Auth => &self.auth,
            RateClass::Contact => &self.contact,
        }
    }

    /// Takes one token from `key`'s bucket of `class`. Over the limit: 429
    /// with `Retry-After`, `details.retry_after` and the headers.
    pub fn check(&self, class: RateClass, key: RateKey) -> Result<RateInfo, ApiError> {
        let bucket = self.bucket(class);
        let now_unix = chrono::Utc::now().timestamp().max(0) as u64;
        match bucket.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = snapshot.quota().replenish_interval() * (bucket.limit - remaining);
                Ok(RateInfo {
                    limit: bucket.limit,
                    remaining,
                    reset: now_unix + refill.as_secs_f64().ceil() as u64,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
                let full = not_until.quota().replenish_interval() * bucket.limit;
                metrics::counter!("chorus_rate_limited_total", "class" => class.as_str())
                    .increment(1);
                let info = RateInfo {
                    limit: bucket.limit,
                    remaining: 0,
                    reset: now_unix + full.as_secs_f64().ceil() as u64,
                };
                let mut error = ApiError::new(ErrorKind::RateLimitExceeded, "rate limit exceeded")
                    .with_details(json!({ "retry_after": retry_after, "class": class.as_str() }))
                    .with_header(
                        axum::http::header::RETRY_AFTER,
                        HeaderValue::from(retry_after),
                    );
                let mut headers = HeaderMap::new();
                info.write_headers(&mut headers);
                for (name, value) in headers {
                    if let Some(name) = name {
                        error = error.with_header(name, value);
                    }
                }
                Err(error)
            }
        }
    }

    /// Forgets buckets that are full again, so memory follows active clients.
    pub fn prune(&self) {
        for bucket in [&self.default, &self.ai, &self.auth, &self.contact] {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }
}

/// The `ai` class as the core's gate for chats sent over a WebSocket.
pub fn chat_gate(limits: &RateLimits) -> chorus_actors::connections::ChatGate {
    let limits = limits.clone();
    Arc::new(move |user| {
        limits
            .check(RateClass::Ai, RateKey::User(user))
            .map(|_| ())
            .map_err(|refused| {
                refused
                    .details
                    .as_ref()
                    .and_then(|d| d["retry_after"].as_u64())
                    .unwrap_or(1)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_empties_then_refuses_with_retry_after() {
        let limits = RateLimits::new(&RateLimitsConfig {
            default: 3,
            ai: 1,
            auth: 1,
            contact: 1,
        });
        let key = RateKey::User(Uuid::now_v7());
        let remaining: Vec<u32> = (0..3)
            .map(|_| limits.check(RateClass::Default, key).unwrap().remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limits.check(RateClass::Default, key).unwrap_err();
        assert_eq!(refused.code, ErrorKind::RateLimitExceeded);
        assert!(refused.details.unwrap()["retry_after"].as_u64().unwrap() >= 1);
        // Other keys and other classes have their own buckets.
        assert!(
            limits
                .check(RateClass::Default, RateKey::User(Uuid::now_v7()))
                .is_ok()
        );
        assert!(limits.check(RateClass::Ai, key).is_ok());
    }

    #[test]
    fn an_ipv6_client_cannot_dodge_its_bucket_by_changing_address() {
        let limits = RateLimits::new(&RateLimitsConfig {
            default: 600,
            ai: 1,
            auth: 2,
            contact: 1,
        });
        let host = |n: u16| RateKey::ip(IpAddr::V6([0x2001, 0xdb8, 0, 7, 0, 0, 0, n].into()));
        assert!(limits.check(RateClass::Auth, host(1)).is_ok());
        assert!(limits.check(RateClass::Auth, host(2)).is_ok());
        assert!(limits.check(RateClass::Auth, host(3)).is_err());
        let other_net = RateKey::ip(IpAddr::V6([0x2001, 0xdb8, 0, 8, 0, 0, 0, 1].into()));
        assert!(limits.check(RateClass::Auth, other_net).is_ok());
        let mapped = RateKey::ip("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(mapped, RateKey::Ip("192.0.2.1".parse().unwrap()));
    }
}
