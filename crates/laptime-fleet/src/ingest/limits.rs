//! Limits of the ingest: body size, events per request, time to send a body, requests in flight,
//! a token-bucket rate per client address, and the bearer-token check.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What one request may take.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest body, bytes (413 beyond). Default 8 MiB.
    pub max_body_bytes: usize,
    /// Most events (or spans) in one request (413 beyond). Default 100,000.
    pub max_events: usize,
    /// Longest time a client may take to send its body (408 beyond). Default 30 s.
    pub body_timeout: Duration,
    /// Longest time to send a request's headers before the connection is closed. Default 10 s.
    pub header_timeout: Duration,
    /// Longest wait for the sink's acknowledgement (503 beyond). Default 30 s.
    pub sink_timeout: Duration,
    /// Requests read and sent at once; more wait (bounds the memory of bodies). Default 32.
    pub max_concurrent: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 8 << 20,
            max_events: 100_000,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            sink_timeout: Duration::from_secs(30),
            max_concurrent: 32,
        }
    }
}

/// A token bucket per client address: `per_second` requests on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Size of the bucket (a new client starts with it full).
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            per_second: 100.0,
            burst: 200.0,
        }
    }
}

/// Buckets kept before the full (idle) ones are forgotten: bounds memory under many addresses.
const MAX_TRACKED: usize = 1 << 16;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-address buckets of a [`RateLimit`].
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `ip` at `now`; `Err(wait)` when there is none, `wait` being the time
    /// until the next one.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_second, burst } = self.limit;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        let b = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
        }
    }
}

/// Why a request's `Authorization` does not carry the bearer token `expected`, if it does not;
/// `role` names the server in the reason ("this ingest requires ...").
pub(crate) fn bearer_refusal(
    headers: &hyper::HeaderMap,
    expected: &str,
    role: &str,
) -> Option<String> {
    let given = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        None => Some(format!(
            "this {role} requires `Authorization: Bearer <token>`"
        )),
        Some(given) if !token_matches(expected.as_bytes(), given) => Some(format!(
            "the bearer token is not the one this {role} accepts"
        )),
        Some(_) => None,
    }
}

/// A request's Content-Type as sent (for messages) and its media type: lowercased, without
/// parameters (`application/json; charset=utf-8` is `application/json`).
pub(crate) fn content_type(headers: &hyper::HeaderMap) -> (Option<String>, Option<String>) {
    let raw = headers
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let media = raw.as_deref().map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    (raw, media)
}

/// `given == expected`, in time that does not depend on where they differ (only on the length
/// of `given`), so the token cannot be guessed byte by byte from response times.
pub(crate) fn token_matches(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, g) in given.iter().enumerate() {
        let e = expected
            .get(i % expected.len().max(1))
            .copied()
            .unwrap_or(0);
        diff |= e ^ g;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let r = RateLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 2.0,
        });
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        assert!(r.take(ip, t0).is_ok());
        assert!(r.take(ip, t0).is_ok());
        let wait = r.take(ip, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(r.take(other, t0).is_ok(), "each address has its own bucket");
        assert!(r.take(ip, t0 + Duration::from_millis(100)).is_ok());
        assert!(r.take(ip, t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secret", b"secreT"));
        assert!(!token_matches(b"secret", b"secre"));
        assert!(!token_matches(b"secret", b"secrets"));
        assert!(!token_matches(b"secret", b""));
    }
}
