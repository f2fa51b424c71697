//! The panic hook: a panicking thread leaves a post-mortem of the store, written on a thread of
//! its own and waited for at most a timeout.

use std::sync::atomic::Ordering;

use super::{take, PostMortemOptions};

/// Write a post-mortem of `store` when a thread panics (reason `panic: <message> at <file:line>`), then run the
/// hook that was installed before. The post-mortem includes the events still buffered by every
/// thread's [`mod@crate::capture`] (and so the tracing layer). It runs on its own thread and is waited
/// for at most `timeout`, so a panic inside laptime (holding one of its locks) can never hang the
/// process.
pub fn install_panic_hook(
    store: crate::Store,
    opts: PostMortemOptions,
    timeout: std::time::Duration,
) {
    use std::sync::atomic::AtomicBool;
    static TAKING: AtomicBool = AtomicBool::new(false);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // One post-mortem at a time; a panic while writing one (or in another thread meanwhile) skips.
        if !TAKING.swap(true, Ordering::AcqRel) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let reason = format!("panic: {message}{at}");
            let (store, opts) = (store.clone(), opts.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("laptime-postmortem".into())
                .spawn(move || {
                    // Events still in threads' capture buffers (and so the tracing layer's)
                    // belong in the post-mortem; a buffer in use past half the budget is skipped.
                    crate::capture::hand_over_all(timeout / 2);
                    let _ = tx.send(take(&store, &reason, &opts));
                });
            if spawned.is_ok() {
                let _ = rx.recv_timeout(timeout);
            }
            TAKING.store(false, Ordering::Release);
        }
        previous(info);
    }));
}
