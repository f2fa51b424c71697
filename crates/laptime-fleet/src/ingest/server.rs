//! The HTTP server (hyper 1 on tokio): routes, the order of the checks, and the responses.
//!
//! Each request passes, in this order: route (404/405), rate limit per client address (429 with
//! `Retry-After`), bearer token (401), content type (415), declared body size (413), body read
//! within the size and time limits (413/408), parsing and validation of every event (400, or 413
//! for too many), then the sink. The client gets its 2xx only after the sink acknowledged the
//! whole batch; a sink failure or timeout is a 503 with `Retry-After`. Nothing of a refused request
//! reaches the sink. Every refusal is JSON `{"error": "...", "at": "..."}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::{BadInput, Error};
use super::limits::{bearer_refusal, content_type, Limits, RateLimit, RateLimiter};
use super::sink::Sink;
use super::{json, otlp, IngestBatch};
use crate::serve::Serving;

/// How to run the ingest server.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Address to listen on (port 0: any free port, see [`IngestServer::local_addr`]).
    pub listen: SocketAddr,
    /// Bearer token clients must send; required unless `listen` is a loopback address.
    pub token: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// Rate limit per client address; `None` for none.
    pub rate_limit: Option<RateLimit>,
}

impl IngestConfig {
    /// Listen on `listen` with the default limits and rate, no token.
    pub fn new(listen: SocketAddr) -> IngestConfig {
        IngestConfig {
            listen,
            token: None,
            limits: Limits::default(),
            rate_limit: Some(RateLimit::default()),
        }
    }

    /// Refuse a configuration the server must not run with.
    pub fn check(&self) -> Result<(), Error> {
        match &self.token {
            None if !self.listen.ip().to_canonical().is_loopback() => {
                return Err(Error::TokenRequired { addr: self.listen })
            }
            Some(t) if t.is_empty() || !t.bytes().all(|c| c.is_ascii_graphic()) => {
                return Err(Error::BadToken {
                    reason: "a token must be non-empty printable ASCII without spaces (it travels in an HTTP header)".into(),
                })
            }
            _ => {}
        }
        let l = &self.limits;
        if l.max_body_bytes == 0 || l.max_events == 0 || l.max_concurrent == 0 {
            return Err(Error::BadConfig {
                reason: "max_body_bytes, max_events and max_concurrent must be at least 1".into(),
            });
        }
        if let Some(r) = self.rate_limit {
            if !(r.per_second > 0.0
                && r.per_second.is_finite()
                && r.burst >= 1.0
                && r.burst.is_finite())
            {
                return Err(Error::BadConfig {
                    reason: format!(
                        "the rate limit needs per_second > 0 and burst >= 1, got {} and {}",
                        r.per_second, r.burst
                    ),
                });
            }
        }
        Ok(())
    }
}

struct State<S> {
    sink: Arc<S>,
    token: Option<String>,
    limits: Limits,
    rate: Option<RateLimiter>,
    in_flight: Semaphore,
}

/// A running ingest server; dropped or [`IngestServer::shutdown`], it stops accepting.
pub struct IngestServer {
    serving: Serving,
}

impl IngestServer {
    /// Check `config`, bind, and serve on the current tokio runtime.
    pub async fn start<S: Sink>(config: IngestConfig, sink: Arc<S>) -> Result<IngestServer, Error> {
        config.check()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let state = Arc::new(State {
            sink,
            token: config.token,
            in_flight: Semaphore::new(config.limits.max_concurrent),
            limits: config.limits,
            rate: config.rate_limit.map(RateLimiter::new),
        });
        let header_timeout = state.limits.header_timeout;
        let serving = Serving::spawn(listener, addr, header_timeout, move |peer, req| {
            let state = Arc::clone(&state);
            async move { handle(&state, peer, req).await }
        });
        Ok(IngestServer { serving })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// Stop accepting; connections finish the request in progress and close.
    pub async fn shutdown(self) {
        self.serving.shutdown().await
    }
}

async fn handle<S: Sink>(
    state: &State<S>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let route = match path {
        "/v1/events" => Route::Events,
        "/v1/traces" => Route::Traces,
        "/healthz" => {
            return if req.method() == Method::GET || req.method() == Method::HEAD {
                json_response(StatusCode::OK, r#"{"ok":true}"#.into())
            } else {
                not_allowed("GET")
            };
        }
        _ => {
            return refuse(BadInput::status(
                404,
                "path",
                format!(
                    "no such endpoint {}: POST /v1/events, POST /v1/traces, GET /healthz",
                    super::error::show_str(path)
                ),
            ));
        }
    };
    if req.method() != Method::POST {
        return not_allowed("POST");
    }
    match accept_request(state, peer, route, req).await {
        Ok(response) => response,
        Err(bad) => refuse(bad),
    }
}

#[derive(Clone, Copy)]
enum Route {
    Events,
    Traces,
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Ndjson,
    Protobuf,
}

async fn accept_request<S: Sink>(
    state: &State<S>,
    peer: SocketAddr,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BadInput> {
    if let Some(rate) = &state.rate {
        if let Err(wait) = rate.take(peer.ip(), Instant::now()) {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(BadInput::status(
                429,
                "",
                format!("too many requests from {}: retry after {secs} s", peer.ip()),
            )
            .retry_after(secs));
        }
    }
    if let Some(reason) = state
        .token
        .as_deref()
        .and_then(|t| bearer_refusal(req.headers(), t, "ingest"))
    {
        return Err(BadInput::status(401, "header Authorization", reason));
    }
    let format = content_format(route, &req)?;
    if let Some(encoding) = req.headers().get(header::CONTENT_ENCODING) {
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(BadInput::status(
                415,
                "header Content-Encoding",
                format!(
                    "Content-Encoding {} is not supported: send the body uncompressed",
                    super::error::show_str(&String::from_utf8_lossy(encoding.as_bytes()))
                ),
            ));
        }
    }
    let max = state.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    // Bodies are read a bounded number at a time: memory stays within max_concurrent bodies.
    let _permit = state
        .in_flight
        .acquire()
        .await
        .map_err(|_| BadInput::status(503, "", "the ingest is shutting down"))?;
    let body = match tokio::time::timeout(
        state.limits.body_timeout,
        Limited::new(req.into_body(), max).collect(),
    )
    .await
    {
        Err(_) => {
            return Err(BadInput::status(
                408,
                "body",
                format!(
                    "the body did not arrive within {} s",
                    state.limits.body_timeout.as_secs_f64()
                ),
            ))
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large(max)),
        Ok(Err(e)) => {
            return Err(BadInput::status(
                400,
                "body",
                format!("the body could not be read: {e}"),
            ))
        }
        Ok(Ok(body)) => body.to_bytes(),
    };
    let max_events = state.limits.max_events;
    let (batch, left_out) = match format {
        Format::Ndjson => (json::parse_ndjson(&body, max_events)?, None),
        Format::Json if matches!(route, Route::Events) => {
            (json::parse_json(&body, max_events)?, None)
        }
        Format::Json => {
            let spans = otlp::parse_json(&body, max_events)?;
            (spans.batch, Some(spans.left_out))
        }
        Format::Protobuf => {
            let spans = otlp::parse_protobuf(&body, max_events)?;
            (spans.batch, Some(spans.left_out))
        }
    };
    drop(body);
    let accepted = batch.len();
    send(state, batch).await?;
    let mut response = match (route, left_out) {
        (Route::Traces, Some(left_out)) => {
            // OTLP/HTTP: 200 with an ExportTraceServiceResponse in the request's encoding.
            let json = matches!(format, Format::Json);
            let mut r = Response::new(Full::new(Bytes::from(otlp::response(left_out, json))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(if json {
                    "application/json"
                } else {
                    "application/x-protobuf"
                }),
            );
            r.headers_mut()
                .insert("x-laptime-left-out", HeaderValue::from(left_out));
            r
        }
        _ => json_response(
            StatusCode::ACCEPTED,
            format!(r#"{{"accepted":{accepted}}}"#),
        ),
    };
    response
        .headers_mut()
        .insert("x-laptime-accepted", HeaderValue::from(accepted));
    Ok(response)
}

/// Hand the batch to the sink and wait for its acknowledgement (an empty batch needs none).
async fn send<S: Sink>(state: &State<S>, batch: IngestBatch) -> Result<(), BadInput> {
    if batch.is_empty() {
        return Ok(());
    }
    let timeout = state.limits.sink_timeout;
    match tokio::time::timeout(timeout, state.sink.send(batch)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unavailable(
            format!("downstream did not acknowledge the events: {}", e.message),
            e.retry_after,
        )),
        Err(_) => Err(unavailable(
            format!(
                "downstream did not acknowledge the events within {} s",
                timeout.as_secs_f64()
            ),
            Duration::from_secs(1),
        )),
    }
}

fn unavailable(message: String, retry_after: Duration) -> BadInput {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    BadInput::status(
        503,
        "",
        format!("{message}; the request was not accepted, retry after {secs} s"),
    )
    .retry_after(secs)
}

fn too_large(max: usize) -> BadInput {
    BadInput::status(
        413,
        "body",
        format!("the body is larger than the limit of {max} bytes: send smaller requests"),
    )
}

/// The body format of a request from its Content-Type.
fn content_format(route: Route, req: &Request<Incoming>) -> Result<Format, BadInput> {
    let (raw, media) = content_type(req.headers());
    let (format, accepted) = match route {
        Route::Events => (
            match media.as_deref() {
                Some("application/json") => Some(Format::Json),
                Some(
                    "application/x-ndjson"
                    | "application/ndjson"
                    | "application/jsonl"
                    | "application/x-jsonlines",
                ) => Some(Format::Ndjson),
                _ => None,
            },
            "application/json or application/x-ndjson",
        ),
        Route::Traces => (
            match media.as_deref() {
                Some("application/json") => Some(Format::Json),
                Some("application/x-protobuf" | "application/protobuf") => Some(Format::Protobuf),
                _ => None,
            },
            "application/x-protobuf or application/json (OTLP/HTTP)",
        ),
    };
    format.ok_or_else(|| {
        let got = raw
            .as_deref()
            .map_or("none".to_owned(), super::error::show_str);
        BadInput::status(
            415,
            "header Content-Type",
            format!("Content-Type {got} is not accepted here: send {accepted}"),
        )
    })
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut r = refuse(BadInput::status(
        405,
        "method",
        format!("this endpoint takes {allow}"),
    ));
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The JSON response of a refusal, with the headers its status calls for.
fn refuse(bad: BadInput) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(bad.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({"error": bad.message, "at": bad.at}).to_string();
    let mut r = json_response(status, body);
    let h = r.headers_mut();
    if bad.status == 401 {
        h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(secs) = bad.retry_after_s {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}
