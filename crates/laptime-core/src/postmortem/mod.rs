//! Post-mortem files: the last moments of a process in one self-contained file, to attach to a
//! bug report. Taking one copies events out of the store (nothing is removed); the file holds names
//! and fields resolved, so it reads with no store beside it.
//!
//! - `format`: the byte format (documented there), encoding and checked decoding;
//! - `file`: reading and crash-safe writing of files;
//! - `take` (here): what a post-mortem of a store holds;
//! - `panic_hook`: a post-mortem when a thread panics;
//! - `import`: events back into a store for the query tools;
//! - `host`: the host name recorded.

mod file;
mod format;
mod host;
mod import;
mod panic_hook;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use file::{read, read_summary, write};
#[cfg(feature = "fuzzing")]
pub(crate) use format::seal;
pub use format::{decode, decode_summary, encode};
pub use host::host_name;
pub use import::import;
pub use panic_hook::install_panic_hook;

use crate::{Error, Event, Result};

/// File name extension of post-mortem files.
pub const EXTENSION: &str = "ltpm";
/// Extension of post-mortem files written before they were called post-mortems; still read.
pub const LEGACY_EXTENSION: &str = "ltsnap";
/// Directory of a store's post-mortem files, inside the store's directory.
pub const DIR: &str = "postmortems";

/// The options' old name.
#[deprecated(note = "renamed PostMortemOptions")]
pub type SnapshotOptions = PostMortemOptions;

/// A post-mortem: who, when, why, and the events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostMortem {
    /// Key/value facts: `service`, `host`, `pid`, `reason`, `time_ns`, `laptime`, `runtime`,
    /// `window`, and whatever the writer adds.
    pub meta: Vec<(String, String)>,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

impl PostMortem {
    /// The value of meta key `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a post-mortem covers and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct PostMortemOptions {
    /// Directory of the post-mortem files (default: `postmortems/` in the store's directory).
    pub dir: Option<PathBuf>,
    /// Only events of the last this many seconds (default 60).
    pub last_seconds: u64,
    /// At most this many events, the newest (default 10,000; at most 100,000).
    pub last_events: usize,
    /// Name of the service (default: `$LAPTIME_SERVICE`, else the executable's name).
    pub service: Option<String>,
    /// What runs the process, e.g. `node v20.20.2` (default `rust`).
    pub runtime: String,
    /// More facts to record.
    pub meta: Vec<(String, String)>,
}

impl Default for PostMortemOptions {
    fn default() -> PostMortemOptions {
        PostMortemOptions {
            dir: None,
            last_seconds: 60,
            last_events: 10_000,
            service: None,
            runtime: "rust".into(),
            meta: Vec::new(),
        }
    }
}

/// Write a post-mortem of `store`: flush what was appended, copy the newest events of the window, and
/// write them with the facts of this process. The store keeps every event.
pub fn take(store: &crate::Store, reason: &str, opts: &PostMortemOptions) -> Result<PathBuf> {
    if opts.last_events == 0 || opts.last_events > crate::query::MAX_EVENTS_LIMIT {
        return Err(Error::InvalidOption {
            option: "last_events",
            reason: format!(
                "{} is outside 1..={}",
                opts.last_events,
                crate::query::MAX_EVENTS_LIMIT
            ),
        });
    }
    // Appended events must reach the writer's pages first; a failed writer still leaves what it
    // wrote readable, so a flush error does not stop the post-mortem.
    let flushed = store.flush();
    let now = crate::clock::now_ns();
    let since = now.saturating_sub(opts.last_seconds.saturating_mul(1_000_000_000));
    let view = store.view()?;
    let page = crate::query::events(
        &view,
        &crate::query::EventsRequest {
            filter: crate::filter::Filter {
                terms: vec![crate::filter::Term::Since(
                    crate::filter::TimeBound::EpochNs(since),
                )],
            },
            now_ns: now,
            limit: opts.last_events,
            cursor: None,
            order: crate::query::SortOrder::NewestFirst,
        },
    )?;
    let mut events: Vec<Event> = page.events.into_iter().map(|l| l.event).collect();
    events.reverse();
    let service = opts
        .service
        .clone()
        .or_else(|| std::env::var("LAPTIME_SERVICE").ok())
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let mut meta = vec![
        ("reason".to_string(), reason.to_string()),
        ("service".to_string(), service),
        ("host".to_string(), host_name()),
        ("pid".to_string(), std::process::id().to_string()),
        ("time_ns".to_string(), now.to_string()),
        ("time".to_string(), crate::filter::format_epoch_ns(now)),
        ("laptime".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("runtime".to_string(), opts.runtime.clone()),
        ("store".to_string(), store.path().display().to_string()),
        (
            "window".to_string(),
            format!(
                "last {} s, at most {} events",
                opts.last_seconds, opts.last_events
            ),
        ),
    ];
    if let Err(e) = flushed {
        meta.push(("flush_error".into(), e.to_string()));
    }
    meta.extend(opts.meta.iter().cloned());
    let dir = opts.dir.clone().unwrap_or_else(|| store.path().join(DIR));
    write(&dir, &PostMortem { meta, events })
}
