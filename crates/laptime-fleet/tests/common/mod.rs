//! Shared by the ingest tests: a server on 127.0.0.1 (any free port) and requests through a real
//! HTTP client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use laptime_fleet::ingest::{IngestBatch, IngestConfig, IngestServer, RateLimit, Sink, SinkError};

/// Start a server on 127.0.0.1 with `tweak` applied to the default configuration (no rate limit
/// unless the test sets one); returns it and its base URL.
pub async fn start<S: Sink>(
    sink: Arc<S>,
    tweak: impl FnOnce(&mut IngestConfig),
) -> (IngestServer, String) {
    let mut config = IngestConfig::new("127.0.0.1:0".parse().unwrap());
    config.rate_limit = None;
    tweak(&mut config);
    let server = IngestServer::start(config, sink)
        .await
        .expect("server starts");
    let url = format!("http://{}", server.local_addr());
    (server, url)
}

/// A response: status, headers, body bytes.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (every response of the events endpoint and every refusal is JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `error` of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {:?}", self.json()))
            .to_owned()
    }

    /// `at` of a refusal.
    pub fn at(&self) -> String {
        self.json()["at"]
            .as_str()
            .unwrap_or_else(|| panic!("no at in {:?}", self.json()))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub async fn post(
    url: &str,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("{url}{path}"))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("request sent");
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("body read").to_vec(),
    }
}

/// A sink that refuses every batch, as a Kafka producer with no broker would.
pub struct FailingSink;

impl Sink for FailingSink {
    async fn send(&self, _batch: IngestBatch) -> Result<(), SinkError> {
        Err(SinkError::new(
            "kafka: no broker answered (3 tried)",
            Duration::from_secs(7),
        ))
    }
}

/// A rate limit of `per_second` with bursts of `burst`.
pub fn rate(per_second: f64, burst: f64) -> Option<RateLimit> {
    Some(RateLimit { per_second, burst })
}
