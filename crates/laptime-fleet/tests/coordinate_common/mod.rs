//! Shared by the coordinator tests: R1-full events split at random over three real stores (plus
//! one store holding all of them and one holding the first two shards, the references), read
//! servers on 127.0.0.1, and fake indexers that misbehave in one way each.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use laptime_fleet::coordinate::{ReadServer, ServeConfig, ViewSource};
use laptime_query::query::QueryResult;
use laptime_storage::{Options, Overflow, Push, Reader, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Event, R1Interned, SplitMix64, R1};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// A store in its own directory.
pub struct Built {
    pub store: Arc<Store>,
    pub dir: TempDir,
}

/// Three shards and the two reference stores.
pub struct Fleet {
    pub shards: Vec<Built>,
    /// Every event.
    pub all: Built,
    /// The events of shards 0 and 1.
    pub first_two: Built,
    /// Start of the last event (queries' "now").
    pub last_ns: u64,
    pub events: usize,
}

fn options() -> Options {
    Options {
        // Small pages: many of them, some answered from meta, some decoded.
        page_rows: 2048,
        sync: SyncPolicy::None,
        overflow: Overflow::Block {
            timeout: Duration::from_secs(60),
        },
        ..Options::default()
    }
}

fn build_one(r1: &R1, events: &[&R1Event]) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options()).expect("open store");
    let interned = R1Interned::new(r1, |s| store.intern(s)).expect("intern");
    for chunk in events.chunks(4096) {
        let mut batch = laptime_storage::Batch::with_capacity(chunk.len());
        for e in chunk {
            interned.push(e, &mut batch);
        }
        assert_eq!(store.append(batch), Push::Accepted);
    }
    store.flush().expect("flush");
    Built {
        store: Arc::new(store),
        dir,
    }
}

/// `n` R1-full events split at random (seeded) over three stores.
pub fn build(n: usize, seed: u64) -> Fleet {
    let mut r1 = R1::new(R1Config {
        seed,
        full: true,
        ..R1Config::default()
    });
    let mut events = Vec::with_capacity(n);
    r1.fill(n, &mut events);
    let mut state = SplitMix64(seed);
    let shard_of: Vec<usize> = events
        .iter()
        .map(|_| (state.next_u64() % 3) as usize)
        .collect();
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<&R1Event> {
        events
            .iter()
            .zip(&shard_of)
            .filter(|(_, s)| keep(**s))
            .map(|(e, _)| e)
            .collect()
    };
    let shards = (0..3).map(|s| build_one(&r1, &pick(&|x| x == s))).collect();
    Fleet {
        shards,
        all: build_one(&r1, &pick(&|_| true)),
        first_two: build_one(&r1, &pick(&|x| x < 2)),
        last_ns: events.last().map_or(0, |e| e.start_ns),
        events: n,
    }
}

/// A read server on 127.0.0.1 over `source`, and its base URL.
pub async fn serve<V: ViewSource>(source: Arc<V>) -> (ReadServer, String) {
    let server = ReadServer::start(ServeConfig::new("127.0.0.1:0".parse().unwrap()), source)
        .await
        .expect("read server starts");
    let url = format!("http://{}", server.local_addr());
    (server, url)
}

/// Read servers for the three shards: 0 and 1 over the writing `Store`, 2 over a read-only
/// `Reader` of its directory (both sources a deployment may use).
pub async fn serve_shards(fleet: &Fleet) -> (Vec<ReadServer>, Vec<String>) {
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for (i, shard) in fleet.shards.iter().enumerate() {
        let (server, url) = if i == 2 {
            serve(Arc::new(
                Reader::open(shard.dir.path(), None).expect("reader"),
            ))
            .await
        } else {
            serve(shard.store.clone()).await
        };
        servers.push(server);
        urls.push(url);
    }
    (servers, urls)
}

/// A URL where nothing listens (the port was just closed).
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// An indexer that accepts connections and never answers (nor closes them).
pub async fn silent_indexer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

/// An indexer answering every request body with `f(body)`: status and bytes.
pub async fn fake_indexer<F, Fut>(f: F) -> String
where
    F: Fn(Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (u16, Vec<u8>)> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let f = f.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let f = f.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let (status, bytes) = f(body).await;
                        let mut r = Response::new(Full::new(Bytes::from(bytes)));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// POST `body` to `url` as JSON; status and body.
pub async fn post_json(url: &str, body: impl Into<reqwest::Body>) -> (u16, Vec<u8>) {
    post(url, "application/json", body, None).await
}

pub async fn post(
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    token: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(body)))
}

/// The parts of two results that must be equal: labels, rows (keys, values, order), span and
/// the events matched.
pub fn assert_same(got: &QueryResult, want: &QueryResult, what: &str) {
    assert_eq!(got.key_labels, want.key_labels, "{what}: key labels");
    assert_eq!(got.value_labels, want.value_labels, "{what}: value labels");
    assert_eq!(got.rows.len(), want.rows.len(), "{what}: row count");
    for (i, (g, w)) in got.rows.iter().zip(&want.rows).enumerate() {
        assert_eq!(g, w, "{what}: row {i}");
    }
    assert_eq!(got.span, want.span, "{what}: span");
    assert_eq!(
        got.stats.rows_matched, want.stats.rows_matched,
        "{what}: events matched"
    );
}
