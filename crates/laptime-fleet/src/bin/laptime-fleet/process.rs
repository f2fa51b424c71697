//! What every long-running command needs from the process: an async runtime for its HTTP parts,
//! and a clean stop on SIGTERM/SIGINT.

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
