//! `--name value` command-line pairs.

use std::net::SocketAddr;

pub struct Args(Vec<(String, String)>);

impl Args {
    /// Parse `--name value` pairs; a name not in `known`, or one without a value, is an error
    /// naming it.
    pub fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .filter(|n| known.contains(n))
                .ok_or_else(|| format!("unknown argument {a:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            out.push((name.to_owned(), value.clone()));
        }
        Ok(Args(out))
    }

    /// The last value given for `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn addr(&self, name: &str) -> Result<Option<SocketAddr>, String> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|e| format!("--{name} {v:?}: {e} (ADDR:PORT, e.g. 127.0.0.1:7071)"))
            })
            .transpose()
    }

    pub fn number(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|e| format!("--{name} {v:?}: {e} (a whole number)"))
            })
            .transpose()
    }
}

/// A multi-threaded tokio runtime for the HTTP servers and clients.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

/// A flag set when the process gets SIGTERM or SIGINT (a deploy, Ctrl-C), so the command can
/// finish what it holds (an indexer commits what it stored) and exit 0. Further signals change
/// nothing; SIGKILL ends the process at once.
pub fn stop_on_signal() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::signal::unix::{signal, SignalKind};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let set = std::sync::Arc::clone(&stop);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the signal thread's runtime: {e}"))?;
    // Registered here, before the work starts: a signal from then on is caught.
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(|e| format!("listening for SIGTERM and SIGINT: {e}"))?;
    std::thread::Builder::new()
        .name("laptime-signals".into())
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            });
            set.store(true, Ordering::Relaxed);
        })
        .map_err(|e| format!("starting the signal thread: {e}"))?;
    Ok(stop)
}
