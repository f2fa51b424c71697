//! Post-mortems: JS options to core `PostMortemOptions`, the async and the synchronous (for a dying
//! process) ways to write one, and reading and importing post-mortem files.

// The free `#[napi]` functions are referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use std::collections::HashMap;
use std::path::PathBuf;

use laptime_core::postmortem::{self, PostMortem, PostMortemOptions};
use laptime_core::Store;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::{self, Malformed};
use crate::query::NativeEvent;

/// What a post-mortem covers and where it goes; absent fields take the core's defaults.
#[napi(object, js_name = "NativePostMortemOptions")]
#[derive(Default)]
pub struct NativePostMortemOptions {
    /// Directory for post-mortem files (default `<store>/postmortems`).
    pub dir: Option<String>,
    /// Only events of the last this many seconds (default 60).
    pub last_seconds: Option<f64>,
    /// At most this many of the newest events (default 10000, at most 100000).
    pub last_events: Option<f64>,
    /// Service name (default `$LAPTIME_SERVICE`, else the executable's name).
    pub service: Option<String>,
    /// Runtime description, e.g. `node v20.20.2`.
    pub runtime: Option<String>,
    /// More facts to record.
    pub meta: Option<HashMap<String, String>>,
}

pub(crate) fn to_core(js: NativePostMortemOptions) -> Result<PostMortemOptions, Malformed> {
    let defaults = PostMortemOptions::default();
    let whole = |v: Option<f64>, what: &str| -> Result<Option<u64>, Malformed> {
        v.map(|x| {
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9e15 {
                Ok(x as u64)
            } else {
                Err(Malformed(format!(
                    "post-mortem option {what} must be a whole number >= 0, got {x}"
                )))
            }
        })
        .transpose()
    };
    let mut meta: Vec<(String, String)> = js.meta.unwrap_or_default().into_iter().collect();
    meta.sort();
    Ok(PostMortemOptions {
        dir: js.dir.map(PathBuf::from),
        last_seconds: whole(js.last_seconds, "lastSeconds")?.unwrap_or(defaults.last_seconds),
        last_events: whole(js.last_events, "lastEvents")?
            .map_or(defaults.last_events, |n| n as usize),
        service: js.service,
        runtime: js.runtime.unwrap_or(defaults.runtime),
        meta,
    })
}

/// `postMortem()` on the libuv pool.
pub struct PostMortemTask {
    pub(crate) store: Option<Store>,
    pub(crate) reason: String,
    pub(crate) options: PostMortemOptions,
}

impl Task for PostMortemTask {
    type Output = String;
    type JsValue = String;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<String> {
        errors::guarded(|| {
            let store = self.store.take().ok_or_else(errors::closed)?;
            take(&store, &self.reason, &self.options)
        })
    }

    fn resolve(&mut self, _env: Env, path: String) -> napi::Result<String> {
        Ok(path)
    }
}

/// Write a post-mortem; its path as a string.
pub(crate) fn take(
    store: &Store,
    reason: &str,
    options: &PostMortemOptions,
) -> napi::Result<String> {
    laptime_core::postmortem::take(store, reason, options)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(errors::from_core)
}

/// A post-mortem file's facts and events.
#[napi(object, js_name = "NativePostMortemFile")]
pub struct NativeSnapshotFile {
    /// Facts: reason, service, host, pid, time, laptime, runtime, window...
    pub meta: HashMap<String, String>,
    /// The events, oldest first (`partition` is `post-mortem`, `seq` the position in the file).
    pub events: Vec<NativeEvent>,
}

fn file_of(pm: PostMortem) -> NativeSnapshotFile {
    NativeSnapshotFile {
        meta: pm.meta.into_iter().collect(),
        events: pm
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| NativeEvent::new(e, "post-mortem".into(), i as u64))
            .collect(),
    }
}

/// `readPostMortem(path)`.
pub struct ReadTask {
    path: PathBuf,
    import_into: Option<PathBuf>,
}

impl Task for ReadTask {
    type Output = PostMortem;
    type JsValue = NativeSnapshotFile;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<PostMortem> {
        errors::guarded(|| {
            let pm = postmortem::read(&self.path).map_err(errors::from_core)?;
            if let Some(dir) = &self.import_into {
                postmortem::import(&pm, dir).map_err(errors::from_core)?;
            }
            Ok(pm)
        })
    }

    fn resolve(&mut self, _env: Env, pm: PostMortem) -> napi::Result<NativeSnapshotFile> {
        Ok(file_of(pm))
    }
}

/// Read a post-mortem file's facts (rejects with the reason when the file is damaged).
#[napi(ts_return_type = "Promise<NativePostMortemFile>", catch_unwind)]
pub fn read_post_mortem(path: String) -> AsyncTask<ReadTask> {
    AsyncTask::new(ReadTask {
        path: PathBuf::from(path),
        import_into: None,
    })
}

/// Read a post-mortem file and load its events into a new store at `dir`, for the query engine.
#[napi(ts_return_type = "Promise<NativePostMortemFile>", catch_unwind)]
pub fn import_post_mortem(path: String, dir: String) -> AsyncTask<ReadTask> {
    AsyncTask::new(ReadTask {
        path: PathBuf::from(path),
        import_into: Some(PathBuf::from(dir)),
    })
}

/// What a listing of post-mortem files shows: the facts and how many events, without the events
/// (turning thousands of events into JS objects per file is what made listings slow).
#[napi(object, js_name = "NativePostMortemSummary")]
pub struct NativeSnapshotSummary {
    /// Facts, as in `NativePostMortemFile.meta`.
    pub meta: HashMap<String, String>,
    /// Number of events in the file.
    pub events: u32,
}

/// `postMortemSummary(path)`: the whole file is still read and checked, the events not decoded.
pub struct SummaryTask {
    path: PathBuf,
}

impl Task for SummaryTask {
    type Output = (Vec<(String, String)>, u64);
    type JsValue = NativeSnapshotSummary;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Self::Output> {
        errors::guarded(|| postmortem::read_summary(&self.path).map_err(errors::from_core))
    }

    fn resolve(
        &mut self,
        _env: Env,
        (meta, events): Self::Output,
    ) -> napi::Result<NativeSnapshotSummary> {
        Ok(NativeSnapshotSummary {
            events: u32::try_from(events).unwrap_or(u32::MAX),
            meta: meta.into_iter().collect(),
        })
    }
}

/// A post-mortem file's facts and event count (rejects with the reason when the file is damaged).
#[napi(ts_return_type = "Promise<NativePostMortemSummary>", catch_unwind)]
pub fn post_mortem_summary(path: String) -> AsyncTask<SummaryTask> {
    AsyncTask::new(SummaryTask {
        path: PathBuf::from(path),
    })
}
