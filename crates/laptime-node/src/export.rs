//! `exportParquet`: every event of a store passing a filter into a Parquet file, on the libuv pool.
//! The file appears whole or not at all (written beside it, then renamed).

// The free `#[napi]` function is referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use std::io::BufWriter;
use std::path::PathBuf;

use laptime_core::{export, filter::Filter, Reader};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors;
use crate::query::{now, parse};

/// The export task.
pub struct ExportTask {
    dir: String,
    filter: Filter,
    now_ns: u64,
    out: PathBuf,
}

impl Task for ExportTask {
    type Output = u64;
    type JsValue = f64;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<u64> {
        errors::guarded(|| {
            let reader = Reader::open(&self.dir, None).map_err(errors::from_core)?;
            let view = reader.view().map_err(errors::from_core)?;
            let mut tmp = self.out.clone().into_os_string();
            tmp.push(".partial");
            let tmp = PathBuf::from(tmp);
            let io = |e: std::io::Error, what: &'static str| {
                errors::from_core(laptime_core::Error::io(&self.out, what, e))
            };
            let file = std::fs::File::create(&tmp).map_err(|e| io(e, "cannot create"))?;
            // Guarded apart too, so that whatever stops the writing, a panic included, the
            // partial file does not stay behind next to the output.
            let written = errors::guarded(|| {
                export::write_parquet(
                    &view,
                    &self.filter,
                    self.now_ns,
                    BufWriter::new(file),
                    |_| {},
                )
                .map_err(errors::from_core)
            });
            match written {
                Ok(n) => {
                    std::fs::rename(&tmp, &self.out).map_err(|e| io(e, "cannot write"))?;
                    Ok(n)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e)
                }
            }
        })
    }

    fn resolve(&mut self, _env: Env, n: u64) -> napi::Result<f64> {
        Ok(n as f64)
    }
}

/// Write every event of the store in `dir` passing `filter` to the Parquet file `out`, oldest
/// first; resolves to the number of events.
#[napi(ts_return_type = "Promise<number>", catch_unwind)]
pub fn export_parquet(
    env: &Env,
    dir: String,
    filter: Option<String>,
    out: String,
    now_ms: Option<f64>,
) -> napi::Result<AsyncTask<ExportTask>> {
    let filter = parse(filter.as_deref()).map_err(|m| m.throw(env))?;
    let now_ns = now(now_ms).map_err(|m| m.throw(env))?;
    Ok(AsyncTask::new(ExportTask {
        dir,
        filter,
        now_ns,
        out: PathBuf::from(out),
    }))
}
