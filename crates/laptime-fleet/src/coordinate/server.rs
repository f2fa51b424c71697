//! The coordinator's HTTP server: `POST /v1/query` takes a query ([`super::request`]), fans it out
//! ([`Coordinator::query`]) and answers 200 with the merged result and its coverage
//! ([`super::answer`]); `POST /v1/events`, `/v1/histogram`, `/v1/anomalies` and `/v1/compare`
//! do the same for the other reads ([`super::events`], [`super::analysis`]); `GET /healthz`. A
//! request that is not one is a 400 naming the part (for a filter, its byte position); when no
//! indexer answered, a 503 with the coverage saying why for each. An answer from some of the
//! indexers is a 200 whose `coverage.complete` is false.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;

use super::analysis;
use super::answer;
use super::error::Error;
use super::events;
use super::fanout::Coordinator;
use super::http::{self, Reply, Route, Running, ServeConfig};
use super::request::{self, BadRequest};

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
        let running =
            Running::start(
                "coordinator",
                config,
                vec![
                    route(
                        &coordinator,
                        "/v1/query",
                        request::decode,
                        |c, q| async move {
                            // Text written row by row (a result may have millions of groups).
                            Ok(Answer::Text(answer::to_json_text(&c.query(&q).await?)))
                        },
                    ),
                    route(
                        &coordinator,
                        "/v1/events",
                        events::decode_request,
                        |c, r| async move {
                            c.events(&r).await.map(|page| Answer::Json(page.to_json()))
                        },
                    ),
                    route(
                        &coordinator,
                        "/v1/histogram",
                        analysis::decode_histogram,
                        |c, r| async move {
                            let (h, coverage) = c.histogram(&r).await?;
                            Ok(Answer::Json(analysis::histogram_json(&h, &coverage)))
                        },
                    ),
                    route(
                        &coordinator,
                        "/v1/anomalies",
                        analysis::decode_anomalies,
                        |c, r| async move {
                            let (found, coverage) = c.anomalies(&r).await?;
                            Ok(Answer::Json(analysis::anomalies_json(&found, &coverage)))
                        },
                    ),
                    route(
                        &coordinator,
                        "/v1/compare",
                        analysis::decode_compare,
                        |c, r| async move {
                            let (functions, stats, coverage) = c.compare(&r).await?;
                            Ok(Answer::Json(analysis::compare_json(
                                &functions, &stats, &coverage,
                            )))
                        },
                    ),
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

/// An endpoint's answer: JSON to write, or JSON already written.
enum Answer {
    Json(serde_json::Value),
    Text(String),
}

/// `POST path`: the body decoded by `decode` (a 400 naming the bad part), answered by `run` on
/// the coordinator as JSON (200), or the fan-out's failure.
fn route<R, Fut>(
    coordinator: &Arc<Coordinator>,
    path: &'static str,
    decode: fn(&[u8], u64) -> Result<R, BadRequest>,
    run: fn(Arc<Coordinator>, R) -> Fut,
) -> Route
where
    R: Send + 'static,
    Fut: std::future::Future<Output = Result<Answer, Error>> + Send + 'static,
{
    let coordinator = Arc::clone(coordinator);
    Route::post(path, move |body: Bytes| {
        let coordinator = Arc::clone(&coordinator);
        async move {
            match decode(&body, laptime_storage::clock::now_ns()) {
                Err(bad) => http::json(StatusCode::BAD_REQUEST, bad.to_json().to_string()),
                Ok(req) => match run(coordinator, req).await {
                    Ok(Answer::Json(v)) => http::json(StatusCode::OK, v.to_string()),
                    Ok(Answer::Text(t)) => http::json(StatusCode::OK, t),
                    Err(e) => failure(e),
                },
            }
        }
    })
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
