//! The coordinator's HTTP server: `POST /v1/query` takes a query ([`super::request`]), fans it out
//! ([`Coordinator::query`]) and answers 200 with the merged result and its coverage
//! ([`super::answer`]); `GET /healthz`. A query that is not one is a 400 naming the part (for a
//! filter, its byte position); when no indexer answered, a 503 with the coverage saying why for
//! each. An answer from some of the indexers is a 200 whose `coverage.complete` is false.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;

use super::analysis;
use super::answer;
use super::error::Error;
use super::events;
use super::fanout::Coordinator;
use super::http::{self, Reply, Route, Running, ServeConfig};
use super::request;

/// A running coordinator server; dropped or [`CoordinatorServer::shutdown`], it stops accepting.
pub struct CoordinatorServer {
    running: Running,
}

impl CoordinatorServer {
    /// Check `config`, bind, and answer queries through `coordinator` on the current runtime.
    pub async fn start(
        config: ServeConfig,
        coordinator: Arc<Coordinator>,
    ) -> Result<CoordinatorServer, Error> {
        let running = Running::start(
            "coordinator",
            config,
            vec![
                Route::post("/v1/query", {
                    let coordinator = Arc::clone(&coordinator);
                    move |body: Bytes| answer(coordinator.clone(), body)
                }),
                Route::post("/v1/events", {
                    let coordinator = Arc::clone(&coordinator);
                    move |body: Bytes| list_events(coordinator.clone(), body)
                }),
                Route::post("/v1/histogram", {
                    let coordinator = Arc::clone(&coordinator);
                    move |body: Bytes| histogram(coordinator.clone(), body)
                }),
                Route::post("/v1/anomalies", {
                    let coordinator = Arc::clone(&coordinator);
                    move |body: Bytes| anomalies(coordinator.clone(), body)
                }),
                Route::post("/v1/compare", move |body: Bytes| {
                    compare(coordinator.clone(), body)
                }),
            ],
        )
        .await?;
        Ok(CoordinatorServer { running })
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

async fn answer(coordinator: Arc<Coordinator>, body: Bytes) -> Reply {
    let query = match request::decode(&body, laptime_storage::clock::now_ns()) {
        Ok(q) => q,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    match coordinator.query(&query).await {
        Ok(a) => http::json(StatusCode::OK, answer::to_json(&a).to_string()),
        Err(e) => failure(e),
    }
}

async fn list_events(coordinator: Arc<Coordinator>, body: Bytes) -> Reply {
    let req = match events::decode_request(&body, laptime_storage::clock::now_ns()) {
        Ok(r) => r,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    match coordinator.events(&req).await {
        Ok(page) => http::json(StatusCode::OK, page.to_json().to_string()),
        Err(e) => failure(e),
    }
}

async fn histogram(coordinator: Arc<Coordinator>, body: Bytes) -> Reply {
    let req = match analysis::decode_histogram(&body, laptime_storage::clock::now_ns()) {
        Ok(r) => r,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    match coordinator.histogram(&req).await {
        Ok((h, coverage)) => http::json(
            StatusCode::OK,
            analysis::histogram_json(&h, &coverage).to_string(),
        ),
        Err(e) => failure(e),
    }
}

async fn anomalies(coordinator: Arc<Coordinator>, body: Bytes) -> Reply {
    let req = match analysis::decode_anomalies(&body, laptime_storage::clock::now_ns()) {
        Ok(r) => r,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    match coordinator.anomalies(&req).await {
        Ok((found, coverage)) => http::json(
            StatusCode::OK,
            analysis::anomalies_json(&found, &coverage).to_string(),
        ),
        Err(e) => failure(e),
    }
}

async fn compare(coordinator: Arc<Coordinator>, body: Bytes) -> Reply {
    let req = match analysis::decode_compare(&body, laptime_storage::clock::now_ns()) {
        Ok(r) => r,
        Err(bad) => return http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
    };
    match coordinator.compare(&req).await {
        Ok((functions, stats, coverage)) => http::json(
            StatusCode::OK,
            analysis::compare_json(&functions, &stats, &coverage).to_string(),
        ),
        Err(e) => failure(e),
    }
}

/// The reply when the fan-out itself failed.
fn failure(e: Error) -> Reply {
    match e {
        Error::BadQuery(bad) => http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
        Error::NoAnswer(coverage) => {
            let body = serde_json::json!({
                "error": format!("no answer: {coverage}"),
                "at": "",
                "coverage": answer::coverage_json(&coverage),
            });
            http::json(StatusCode::SERVICE_UNAVAILABLE, body.to_string())
        }
        e => http::refuse(StatusCode::INTERNAL_SERVER_ERROR, "", e.to_string()),
    }
}
