//! The coordinator's fan-out: one query to every indexer at once, each with its own time limit;
//! the partials that arrive whole, check out and answer this very query are merged
//! ([`Partial::merge_all`]) and finished into the [`QueryResult`] one store holding all their
//! events would give. Every indexer ends up in the [`Coverage`] with what happened to it:
//! answered, timed out, unreachable, answered with an HTTP error, or answered with something
//! that is not a partial of this query (truncated, failed checksum, undecodable, too large,
//! another query). Only answered ones are merged: a damaged partial is never half-used.
//!
//! The query's "now" is fixed once, before the fan-out, and travels as `nowNs`, so relative bounds
//! (`since:1h`) mean the same instant on every indexer; each partial's header repeats the query it
//! answers, and [`Partial::check_answers`] compares it with the one asked.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use laptime_query::query::{Partial, Query, QueryResult};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use tokio::task::JoinSet;

use super::coverage::{Coverage, IndexerReport, Outcome};
use super::error::Error;
use super::http::check_token;
use super::request;

const ROLE: &str = "coordinator";

/// How the coordinator reaches its indexers.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Base URLs of the indexers' read servers (`http://10.0.0.5:7071`); the coordinator posts to
    /// `<url>/v1/partial`. Plain HTTP (no TLS is built in).
    pub indexers: Vec<String>,
    /// Longest wait for one indexer's whole answer: connecting, sending, running, receiving.
    /// Default 5 s.
    pub timeout: Duration,
    /// Bearer token sent to the indexers.
    pub token: Option<String>,
    /// Largest partial accepted from one indexer, bytes. Exact percentiles carry every duration
    /// (about 1-3 bytes each). Default 1 GiB.
    pub max_partial_bytes: usize,
}

impl CoordinatorConfig {
    /// These indexers with the default timeout and limit, no token.
    pub fn new(indexers: impl IntoIterator<Item = impl Into<String>>) -> CoordinatorConfig {
        CoordinatorConfig {
            indexers: indexers.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(5),
            token: None,
            max_partial_bytes: 1 << 30,
        }
    }
}

/// Fans queries out to indexers and merges their partials.
#[derive(Debug, Clone)]
pub struct Coordinator {
    client: reqwest::Client,
    indexers: Vec<Indexer>,
    timeout: Duration,
    token: Option<String>,
    max_partial_bytes: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Indexer {
    /// As configured (reported in the coverage).
    url: String,
    /// Where its partials are asked for.
    partial: reqwest::Url,
    /// Where its events are listed.
    pub(super) events: reqwest::Url,
}

/// A coordinated query's answer: the merged result and which indexers it covers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The result over the indexers that answered.
    pub result: QueryResult,
    /// Who answered, who did not and why.
    pub coverage: Coverage,
}

impl Coordinator {
    /// A coordinator of `config.indexers`. Refuses an empty list, a URL that is not `http://`
    /// host and port, the same indexer twice, a zero timeout or limit, and a token that cannot
    /// travel in a header.
    pub fn new(config: CoordinatorConfig) -> Result<Coordinator, Error> {
        let bad = |reason: String| Error::BadConfig { role: ROLE, reason };
        if config.indexers.is_empty() {
            return Err(bad("no indexers given".into()));
        }
        if config.timeout.is_zero() || config.max_partial_bytes == 0 {
            return Err(bad(
                "the timeout and max_partial_bytes must be above 0".into()
            ));
        }
        if let Some(t) = &config.token {
            check_token(ROLE, t)?;
        }
        let mut indexers: Vec<Indexer> = Vec::with_capacity(config.indexers.len());
        for (i, url) in config.indexers.iter().enumerate() {
            let base = reqwest::Url::parse(url)
                .map_err(|e| bad(format!("indexer {i}: {url:?} is not a URL: {e}")))?;
            if base.scheme() != "http" || base.host_str().is_none() {
                return Err(bad(format!(
                    "indexer {i}: {url:?} must be http://host:port (no TLS is built in)"
                )));
            }
            if base.query().is_some() || base.fragment().is_some() {
                return Err(bad(format!(
                    "indexer {i}: {url:?} must not have a query or fragment"
                )));
            }
            let at = |path: &str| {
                reqwest::Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/')))
                    .map_err(|e| bad(format!("indexer {i}: {url:?}: {e}")))
            };
            let (partial, events) = (at("/v1/partial")?, at("/v1/events")?);
            if indexers.iter().any(|x| x.partial == partial) {
                return Err(bad(format!(
                    "indexer {url:?} is listed twice: its events would be counted twice"
                )));
            }
            indexers.push(Indexer {
                url: url.clone(),
                partial,
                events,
            });
        }
        let client = reqwest::Client::builder()
            // Indexers are reached directly: an HTTP_PROXY meant for the outside must not apply.
            .no_proxy()
            .tcp_nodelay(true)
            // Below the read servers' header timeout (10 s by default), which also closes idle
            // connections: a connection kept longer could be closed by the server just as a
            // query is sent on it (a failed answer for no reason, seen in tests/fleet_end_to_end.rs).
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| bad(format!("the HTTP client cannot be built: {e}")))?;
        Ok(Coordinator {
            client,
            indexers,
            timeout: config.timeout,
            token: config.token,
            max_partial_bytes: config.max_partial_bytes,
        })
    }

    /// Largest answer accepted from one indexer, bytes.
    pub(super) fn max_answer_bytes(&self) -> usize {
        self.max_partial_bytes
    }

    /// The indexers' URLs, as configured.
    pub fn indexers(&self) -> impl Iterator<Item = &str> {
        self.indexers.iter().map(|i| i.url.as_str())
    }

    /// Ask every indexer for its partial of `query` at once and merge what arrives in time. The
    /// answer comes within the timeout (plus merging); [`Error::NoAnswer`] when no indexer
    /// answered, [`Error::BadQuery`] when the query cannot be asked.
    pub async fn query(&self, query: &Query) -> Result<Answer, Error> {
        request::encode(query).map_err(Error::BadQuery)?;
        let (merged, coverage) = self.partial(query).await?;
        let query = query.clone();
        let result = blocking(move || merged.finish(&query)).await?;
        Ok(Answer { result, coverage })
    }

    /// Every indexer's partial of `query`, merged: the state one store holding every event of
    /// the indexers that answered would reach, and who answered. Order and limit are left out
    /// (they apply after merging: a group outside one store's top k may be in the merged one).
    pub async fn partial(&self, query: &Query) -> Result<(Partial, Coverage), Error> {
        let shape = Query {
            order_by: None,
            limit: None,
            ..query.clone()
        };
        let body = Bytes::from(request::encode(&shape).map_err(Error::BadQuery)?);
        // Each partial is merged as it arrives and then dropped: at most the merged state and
        // the partials being decoded are held, not every indexer's at once.
        let merged: Arc<Mutex<Option<Partial>>> = Arc::default();
        let into = Arc::clone(&merged);
        let (answered, coverage) = self
            .ask_all(
                |ix| ix.partial.clone(),
                body,
                self.max_partial_bytes,
                move |bytes| decode_into(bytes, shape.clone(), Arc::clone(&into)),
            )
            .await;
        let merged = merged.lock().unwrap_or_else(PoisonError::into_inner).take();
        let merged = match (answered.is_empty(), merged) {
            (false, Some(m)) => m,
            _ => return Err(Error::NoAnswer(coverage)),
        };
        Ok((merged, coverage))
    }
}

/// Run `work` (merging, finishing: CPU-bound) on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> laptime_storage::Result<T> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| {
            Error::Merge(laptime_storage::Error::InvalidInput {
                what: "partial results",
                reason: format!("the merging task failed: {e}"),
            })
        })?
        .map_err(Error::Merge)
}

impl Coordinator {
    /// Post `body` to every indexer at once (at the endpoint `endpoint` picks), each within the
    /// timeout, and decode each answer with `decode` (its value, items and bytes for the report).
    /// Returns the decoded answers, in no particular order, and every indexer's outcome.
    pub(super) async fn ask_all<T, D, Fut>(
        &self,
        endpoint: impl Fn(&Indexer) -> reqwest::Url,
        body: Bytes,
        max_bytes: usize,
        decode: D,
    ) -> (Vec<T>, Coverage)
    where
        T: Send + 'static,
        D: Fn(Bytes) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(T, usize, usize), Outcome>> + Send,
    {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for (i, indexer) in self.indexers.iter().enumerate() {
            let ask = Ask {
                client: self.client.clone(),
                endpoint: endpoint(indexer),
                token: self.token.clone(),
                body: body.clone(),
                max_bytes,
            };
            let timeout = self.timeout;
            let decode = decode.clone();
            tasks.spawn(async move {
                let outcome = match tokio::time::timeout(timeout, ask.fetch()).await {
                    Err(_) => Err(Outcome::Timeout { after: timeout }),
                    Ok(Err(o)) => Err(o),
                    Ok(Ok(bytes)) => decode(bytes).await,
                };
                (i, outcome, started.elapsed())
            });
        }
        // A task that panicked leaves its indexer with this outcome.
        let mut reports: Vec<IndexerReport> = self
            .indexers
            .iter()
            .map(|ix| IndexerReport {
                url: ix.url.clone(),
                outcome: Outcome::BadAnswer {
                    reason: "the task receiving its answer failed".into(),
                },
                elapsed: Duration::ZERO,
            })
            .collect();
        let mut answers = Vec::with_capacity(self.indexers.len());
        while let Some(done) = tasks.join_next().await {
            let Ok((i, outcome, elapsed)) = done else {
                continue;
            };
            let outcome = match outcome {
                Ok((answer, groups, bytes)) => {
                    answers.push(answer);
                    Outcome::Answered { groups, bytes }
                }
                Err(o) => o,
            };
            if let Some(r) = reports.get_mut(i) {
                r.outcome = outcome;
                r.elapsed = elapsed;
            }
        }
        (answers, Coverage { indexers: reports })
    }
}

/// One indexer's request.
struct Ask {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    token: Option<String>,
    body: Bytes,
    max_bytes: usize,
}

impl Ask {
    /// The answer's bytes (status 200, whole, within the size limit).
    async fn fetch(self) -> Result<Bytes, Outcome> {
        let mut req = self
            .client
            .post(self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .body(self.body);
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| Outcome::Unreachable { reason: chain(&e) })?;
        let status = resp.status();
        if !status.is_success() {
            // An error body is short JSON; read a bounded start of it for the report.
            let start = read_limited(&mut resp, 16 << 10).await.unwrap_or_default();
            let message = serde_json::from_slice::<serde_json::Value>(&start)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&start[..start.len().min(200)]).into());
            return Err(Outcome::Failed {
                status: status.as_u16(),
                message,
            });
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large(self.max_bytes));
        }
        match read_limited(&mut resp, self.max_bytes).await {
            Ok(body) if body.len() > self.max_bytes => Err(too_large(self.max_bytes)),
            Ok(body) => Ok(body),
            Err(e) => Err(Outcome::BadAnswer {
                reason: format!("the answer broke off: {}", chain(&e)),
            }),
        }
    }
}

fn too_large(max: usize) -> Outcome {
    Outcome::BadAnswer {
        reason: format!("the partial is larger than the limit of {max} bytes"),
    }
}

/// Up to `max + 1` bytes of the body (one more than allowed tells it is too large).
async fn read_limited(resp: &mut reqwest::Response, max: usize) -> Result<Bytes, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = (max + 1).saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() > max {
            break;
        }
    }
    Ok(Bytes::from(out))
}

/// Decode and check a partial off the runtime's worker threads (a large one takes a while).
async fn decode_into(
    bytes: Bytes,
    query: Query,
    merged: Arc<Mutex<Option<Partial>>>,
) -> Result<((), usize, usize), Outcome> {
    let n = bytes.len();
    let checked = tokio::task::spawn_blocking(move || {
        let partial = Partial::from_bytes(&bytes).map_err(|e| e.to_string())?;
        drop(bytes);
        partial.check_answers(&query).map_err(|e| e.to_string())?;
        let groups = partial.groups();
        let mut merged = merged.lock().unwrap_or_else(PoisonError::into_inner);
        match merged.as_mut() {
            None => *merged = Some(partial),
            Some(m) => m.merge(partial).map_err(|e| e.to_string())?,
        }
        Ok::<_, String>(groups)
    })
    .await;
    match checked {
        Ok(Ok(groups)) => Ok(((), groups, n)),
        Ok(Err(reason)) => Err(Outcome::BadAnswer { reason }),
        Err(e) => Err(Outcome::BadAnswer {
            reason: format!("decoding it failed: {e}"),
        }),
    }
}

/// An error and its causes: reqwest's own text names only the URL.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
