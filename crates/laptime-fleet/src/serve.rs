//! The accept loop the fleet's HTTP servers share (ingest, indexer read server, coordinator):
//! HTTP/1 on each accepted connection with a header-read timeout, and a graceful end of every
//! connection once `stopped` changes. The servers differ only in how they answer a request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A server accepting on its own task: stopped by [`Serving::shutdown`] or when dropped.
pub(crate) struct Serving {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Serving {
    /// Serve `listener` (bound to `addr`) on the current runtime with [`accept_loop`].
    pub(crate) fn spawn<A, F>(
        listener: TcpListener,
        addr: SocketAddr,
        header_timeout: Duration,
        answer: A,
    ) -> Serving
    where
        A: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, header_timeout, stopped, answer));
        Serving {
            addr,
            stop,
            task: Some(task),
        }
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting; connections finish the request in progress and close.
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Accept connections on `listener` until `stopped` changes, answering each request with
/// `answer(peer, request)`.
pub(crate) async fn accept_loop<A, F>(
    listener: TcpListener,
    header_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
    answer: A,
) where
    A: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                // Out of descriptors and the like: wait rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let reply = answer(peer, req);
                async move { Ok::<_, Infallible>(reply.await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
