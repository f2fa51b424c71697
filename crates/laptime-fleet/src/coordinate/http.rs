//! What the indexer's read server and the coordinator's server share (hyper 1 on tokio, the
//! patterns of `ingest::server`): one `POST` endpoint plus `GET /healthz`, a bearer token
//! required off loopback, bounded bodies read within a time limit, a bound on requests handled
//! at once, and refusals as JSON `{"error": "...", "at": "..."}`.
//!
//! Checks, in order: route (404/405), bearer token (401), content type `application/json` (415),
//! declared size (413), a slot among `max_concurrent` (waits), body within size and time (413/408);
//! then the endpoint's handler.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::Error;
use crate::ingest::error::show_str;
use crate::ingest::limits::{bearer_refusal, content_type};
use crate::serve::Serving;

/// How to run a read server or a coordinator server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Bearer token clients must send; required unless `listen` is a loopback address.
    pub token: Option<String>,
    /// Request limits.
    pub limits: ServeLimits,
}

impl ServeConfig {
    /// Listen on `listen` with the default limits, no token.
    pub fn new(listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            token: None,
            limits: ServeLimits::default(),
        }
    }

    pub(crate) fn check(&self, role: &'static str) -> Result<(), Error> {
        match &self.token {
            None if !self.listen.ip().to_canonical().is_loopback() => {
                return Err(Error::TokenRequired {
                    role,
                    addr: self.listen,
                })
            }
            Some(t) => check_token(role, t)?,
            None => {}
        }
        let l = &self.limits;
        if l.max_request_bytes == 0 || l.max_concurrent == 0 {
            return Err(Error::BadConfig {
                role,
                reason: "max_request_bytes and max_concurrent must be at least 1".into(),
            });
        }
        Ok(())
    }
}

pub(crate) fn check_token(role: &'static str, token: &str) -> Result<(), Error> {
    if token.is_empty() || !token.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(Error::BadConfig {
            role,
            reason: "a token must be non-empty printable ASCII without spaces (it travels in an HTTP header)".into(),
        });
    }
    Ok(())
}

/// What one request may take.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeLimits {
    /// Largest request body, bytes (413 beyond). A query is small. Default 64 KiB.
    pub max_request_bytes: usize,
    /// Longest time to send the body (408 beyond). Default 10 s.
    pub body_timeout: Duration,
    /// Longest time to send the headers before the connection is closed; an idle kept-alive
    /// connection is closed after it too, so clients that pool connections should drop idle ones
    /// sooner. Default 10 s.
    pub header_timeout: Duration,
    /// Queries handled at once; more wait for a slot (queries are CPU-bound: more at once only
    /// share the cores and the memory of their groups). Default 4.
    pub max_concurrent: usize,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            max_request_bytes: 64 << 10,
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_concurrent: 4,
        }
    }
}

pub(crate) type Reply = Response<Full<Bytes>>;
type Handler = Arc<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// `POST path` answered by a handler of the request body.
pub(crate) struct Route {
    path: &'static str,
    handler: Handler,
}

impl Route {
    pub(crate) fn post<F, Fut>(path: &'static str, handler: F) -> Route
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        Route {
            path,
            handler: Arc::new(move |body| Box::pin(handler(body))),
        }
    }
}

struct State {
    role: &'static str,
    routes: Vec<Route>,
    token: Option<String>,
    limits: ServeLimits,
    in_flight: Semaphore,
}

/// A running server; dropped or [`Running::shutdown`], it stops accepting.
pub(crate) struct Running {
    serving: Serving,
}

impl Running {
    /// Check `config`, bind, and serve `routes` (and `GET /healthz`) on the current runtime.
    pub(crate) async fn start(
        role: &'static str,
        config: ServeConfig,
        routes: Vec<Route>,
    ) -> Result<Running, Error> {
        config.check(role)?;
        let bind = |source| Error::Bind {
            role,
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let state = Arc::new(State {
            role,
            routes,
            token: config.token,
            in_flight: Semaphore::new(config.limits.max_concurrent),
            limits: config.limits,
        });
        let header_timeout = state.limits.header_timeout;
        let serving = Serving::spawn(listener, addr, header_timeout, move |_peer, req| {
            let state = Arc::clone(&state);
            async move { handle(&state, req).await }
        });
        Ok(Running { serving })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    pub(crate) async fn shutdown(self) {
        self.serving.shutdown().await
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Reply {
    let path = req.uri().path();
    if path == "/healthz" {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            json(StatusCode::OK, r#"{"ok":true}"#.into())
        } else {
            not_allowed("GET")
        };
    }
    let Some(route) = state.routes.iter().find(|r| r.path == path) else {
        let known: Vec<String> = state
            .routes
            .iter()
            .map(|r| format!("POST {}", r.path))
            .collect();
        return refuse(
            StatusCode::NOT_FOUND,
            "path",
            format!(
                "no such endpoint {}: {}, GET /healthz",
                show_str(path),
                known.join(", ")
            ),
        );
    };
    if req.method() != Method::POST {
        return not_allowed("POST");
    }
    let handler = Arc::clone(&route.handler);
    match read_body(state, req).await {
        Ok((body, _permit)) => handler(body).await,
        Err(reply) => reply,
    }
}

/// The body of a request that passed the checks, with its slot among `max_concurrent`.
async fn read_body(
    state: &State,
    req: Request<Incoming>,
) -> Result<(Bytes, tokio::sync::SemaphorePermit<'_>), Reply> {
    if let Some(reason) = state
        .token
        .as_deref()
        .and_then(|t| bearer_refusal(req.headers(), t, state.role))
    {
        let mut r = refuse(StatusCode::UNAUTHORIZED, "header Authorization", reason);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(r);
    }
    let (raw, media) = content_type(req.headers());
    if media.as_deref() != Some("application/json") {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "header Content-Type",
            format!(
                "Content-Type {} is not accepted here: send application/json",
                raw.as_deref().map_or("none".to_owned(), show_str)
            ),
        ));
    }
    let max = state.limits.max_request_bytes;
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("the body is larger than the limit of {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let permit = state.in_flight.acquire().await.map_err(|_| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "",
            format!("the {} is shutting down", state.role),
        )
    })?;
    let timeout = state.limits.body_timeout;
    match tokio::time::timeout(timeout, Limited::new(req.into_body(), max).collect()).await {
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "body",
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "body",
            format!("the body could not be read: {e}"),
        )),
        Ok(Ok(body)) => Ok((body.to_bytes(), permit)),
    }
}

pub(crate) fn json(status: StatusCode, body: String) -> Reply {
    with_type(status, Bytes::from(body), "application/json")
}

pub(crate) fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A refusal: `{"error": message, "at": at}`.
pub(crate) fn refuse(status: StatusCode, at: &str, message: impl Into<String>) -> Reply {
    let body = serde_json::json!({"error": message.into(), "at": at}).to_string();
    json(status, body)
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut r = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
        format!("this endpoint takes {allow}"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}
