//! The indexer's read server: `POST /v1/partial` takes a query ([`super::request`]) and answers
//! with the store's [`Partial`](laptime_query::query::Partial) in its checksummed byte form
//! (`Partial::to_bytes`, `application/x-laptime-partial`); `GET /healthz`. Refusals are JSON
//! (see [`super::http`]): a query that is not one is a 400 naming the part, a store that cannot
//! be read a 500 with the error's code.
//!
//! Each request takes a fresh read [`View`] from a [`ViewSource`], so it sees everything the store
//! acknowledged before the request (invariant 10) and a long query never holds back what is
//! written meanwhile. The source is the indexer's own [`Store`] when the server runs in the
//! indexer process (the writer's published view, unsealed tail included, no files re-read), or
//! a read-only [`Reader`] when it runs beside the indexer as its own process (it claims no
//! partition and writes nothing). The query runs on tokio's blocking pool, never on the runtime's
//! worker threads, so `/healthz` and other connections stay served during a long scan.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use laptime_query::Queries;
use laptime_storage::{Reader, Store, View};

use super::error::Error;
use super::events;
use super::http::{self, Reply, Route, Running, ServeConfig};
use super::request;

/// Content type of a partial result's bytes.
pub const PARTIAL_CONTENT_TYPE: &str = "application/x-laptime-partial";

/// Where a read server takes a view per request from.
pub trait ViewSource: Send + Sync + 'static {
    /// A consistent view of the store now.
    fn view(&self) -> laptime_storage::Result<View>;
}

impl ViewSource for Store {
    fn view(&self) -> laptime_storage::Result<View> {
        Store::view(self)
    }
}

impl ViewSource for Reader {
    fn view(&self) -> laptime_storage::Result<View> {
        Reader::view(self)
    }
}

/// A running read server; dropped or [`ReadServer::shutdown`], it stops accepting.
pub struct ReadServer {
    running: Running,
}

impl ReadServer {
    /// Check `config`, bind, and answer partial queries over `source` on the current runtime.
    pub async fn start<V: ViewSource>(
        config: ServeConfig,
        source: Arc<V>,
    ) -> Result<ReadServer, Error> {
        let running = Running::start(
            "indexer read server",
            config,
            vec![
                Route::post("/v1/partial", {
                    let source = Arc::clone(&source);
                    move |body: Bytes| answer(source.clone(), body)
                }),
                Route::post("/v1/events", move |body: Bytes| {
                    list_events(source.clone(), body)
                }),
            ],
        )
        .await?;
        Ok(ReadServer { running })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.running.local_addr()
    }

    /// Stop accepting; connections finish the request in progress and close.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

async fn answer<V: ViewSource>(source: Arc<V>, body: Bytes) -> Reply {
    let query = match request::decode(&body, laptime_storage::clock::now_ns()) {
        Ok(q) => q,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    let run = tokio::task::spawn_blocking(move || {
        let view = source.view()?;
        Ok::<_, laptime_storage::Error>(view.query_partial(&query)?.to_bytes())
    });
    match run.await {
        Ok(Ok(bytes)) => http::with_type(StatusCode::OK, Bytes::from(bytes), PARTIAL_CONTENT_TYPE),
        Ok(Err(e)) => store_failure(&e),
        Err(e) => http::refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            format!("the query task failed: {e}"),
        ),
    }
}

async fn list_events<V: ViewSource>(source: Arc<V>, body: Bytes) -> Reply {
    let req = match events::decode_request(&body, laptime_storage::clock::now_ns()) {
        Ok(r) => r,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    let run = tokio::task::spawn_blocking(move || {
        let view = source.view()?;
        let page = laptime_query::query::events(&view, &req)?;
        Ok::<_, laptime_storage::Error>(events::page_json(&page).to_string())
    });
    match run.await {
        Ok(Ok(json)) => http::json(StatusCode::OK, json),
        Ok(Err(e)) => store_failure(&e),
        Err(e) => http::refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            format!("the listing task failed: {e}"),
        ),
    }
}

/// A query or listing the store refused (bad input: 400) or failed (500), with its error code.
fn store_failure(e: &laptime_storage::Error) -> Reply {
    let status = match e.code() {
        laptime_storage::ErrorCode::InvalidOption | laptime_storage::ErrorCode::InvalidInput => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = serde_json::json!({
        "error": format!("the request failed on this indexer: {e}"),
        "at": "",
        "code": e.code().as_str(),
    });
    http::json(status, body.to_string())
}
