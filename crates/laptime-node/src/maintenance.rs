//! Store upkeep for tools: checking every checksum (file by file, so callers can show progress)
//! and compacting or applying retention to idle partitions. Results as plain JS objects.

// The free `#[napi]` functions are referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;

use laptime_core::verify::{self, CheckedKind, FileCheck, PlannedCheck};
use laptime_core::{Maintained, Maintenance, Store};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::{self, Malformed};
use crate::options::{self, NativeOptions};

/// A file to check.
#[napi(object)]
pub struct NativePlannedCheck {
    /// The file.
    pub path: String,
    /// What it is.
    #[napi(ts_type = "'names' | 'manifest' | 'segment' | 'wal' | 'quarantined'")]
    pub kind: String,
    /// Bytes.
    pub bytes: f64,
    /// An unsealed segment a writer appends to.
    pub active: bool,
}

/// One file's check.
#[napi(object)]
pub struct NativeFileCheck {
    /// The file.
    pub path: String,
    /// What it is.
    #[napi(ts_type = "'names' | 'manifest' | 'segment' | 'wal' | 'quarantined'")]
    pub kind: String,
    /// Bytes.
    pub bytes: f64,
    /// Pages or records found sound.
    pub items: f64,
    /// `damage` (fails its checks), `note` (e.g. a torn tail a live writer leaves), or absent.
    #[napi(ts_type = "'damage' | 'note'")]
    pub finding: Option<String>,
    /// Byte offset of the finding, when known.
    pub offset: Option<f64>,
    /// What was found.
    pub reason: Option<String>,
}

fn kind_name(k: CheckedKind) -> String {
    k.as_str().to_string()
}

fn kind_of(name: &str) -> Option<CheckedKind> {
    [
        CheckedKind::Names,
        CheckedKind::Manifest,
        CheckedKind::Segment,
        CheckedKind::Wal,
        CheckedKind::Quarantined,
        CheckedKind::Partition,
    ]
    .into_iter()
    .find(|k| k.as_str() == name)
}

/// `verifyPlan(dir)`: list the files to check.
pub struct PlanTask {
    dir: String,
}

impl Task for PlanTask {
    type Output = Vec<PlannedCheck>;
    type JsValue = Vec<NativePlannedCheck>;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Vec<PlannedCheck>> {
        errors::guarded(|| verify::plan(std::path::Path::new(&self.dir)).map_err(errors::from_core))
    }

    fn resolve(
        &mut self,
        _env: Env,
        plan: Vec<PlannedCheck>,
    ) -> napi::Result<Vec<NativePlannedCheck>> {
        Ok(plan
            .into_iter()
            .map(|p| NativePlannedCheck {
                path: p.path.to_string_lossy().into_owned(),
                kind: kind_name(p.kind),
                bytes: p.bytes as f64,
                active: p.active,
            })
            .collect())
    }
}

/// The files of the store in `dir` that `verifyFile` checks; rejects when `dir` holds no store.
#[napi(ts_return_type = "Promise<Array<NativePlannedCheck>>", catch_unwind)]
pub fn verify_plan(dir: String) -> AsyncTask<PlanTask> {
    AsyncTask::new(PlanTask { dir })
}

/// `verifyFile(planned)`: check one file.
pub struct CheckTask {
    planned: PlannedCheck,
}

impl Task for CheckTask {
    type Output = FileCheck;
    type JsValue = NativeFileCheck;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<FileCheck> {
        errors::guarded(|| Ok(verify::check(&self.planned)))
    }

    fn resolve(&mut self, _env: Env, c: FileCheck) -> napi::Result<NativeFileCheck> {
        Ok(NativeFileCheck {
            path: c.path.to_string_lossy().into_owned(),
            kind: kind_name(c.kind),
            bytes: c.bytes as f64,
            items: c.items as f64,
            finding: c
                .finding
                .as_ref()
                .map(|f| if f.damage { "damage" } else { "note" }.to_string()),
            offset: c.finding.as_ref().and_then(|f| f.offset).map(|o| o as f64),
            reason: c.finding.map(|f| f.reason),
        })
    }
}

/// Check every checksum of one file from `verifyPlan`; never rejects for damage (it is the result).
#[napi(ts_return_type = "Promise<NativeFileCheck>", catch_unwind)]
pub fn verify_file(env: &Env, planned: NativePlannedCheck) -> napi::Result<AsyncTask<CheckTask>> {
    let kind = kind_of(&planned.kind)
        .ok_or_else(|| Malformed(format!("unknown file kind {:?}", planned.kind)).throw(env))?;
    Ok(AsyncTask::new(CheckTask {
        planned: PlannedCheck {
            path: PathBuf::from(planned.path),
            kind,
            bytes: planned.bytes.max(0.0) as u64,
            active: planned.active,
        },
    }))
}

/// What `maintain` did to one partition.
#[napi(object)]
pub struct NativeMaintained {
    /// The partition directory.
    pub partition: String,
    /// `busy` (a running writer holds it), `compacted`, `retained` or `repaired`.
    #[napi(ts_type = "'busy' | 'compacted' | 'retained' | 'repaired'")]
    pub outcome: String,
    /// Segments merged (compacted) or dropped (retained).
    pub segments: f64,
    /// Events moved or dropped.
    pub events: f64,
    /// Bytes freed.
    pub bytes_freed: f64,
    /// What repair (or the recovery it runs) found and did, one line per file: rebuilt manifest,
    /// files quarantined or salvaged with what was kept and lost, torn tails cut.
    pub notes: Vec<String>,
}

/// One line per thing a recovery report records.
fn repair_notes(r: &laptime_core::RecoveryReport) -> Vec<String> {
    let path = |p: &std::path::Path| p.display().to_string();
    let mut out = Vec::new();
    if let Some(why) = &r.manifest_rebuilt {
        out.push(format!("MANIFEST: {why}"));
    }
    if let Some(what) = &r.names_rebuilt {
        out.push(format!("names: {what}"));
    }
    for (p, why) in &r.quarantined {
        out.push(format!("{}: quarantined: {why}", path(p)));
    }
    for (p, why) in &r.salvaged {
        out.push(format!("{}: rewritten: {why}", path(p)));
    }
    for p in &r.adopted_segments {
        out.push(format!(
            "{}: taken in (the MANIFEST did not name it)",
            path(p)
        ));
    }
    for p in &r.removed {
        out.push(format!("{}: removed (held no intact page)", path(p)));
    }
    for c in &r.cuts {
        out.push(format!(
            "{}: {} bytes cut at {}: {}",
            path(&c.file),
            c.bytes,
            c.offset,
            c.reason
        ));
    }
    out
}

/// `maintain(dir, what, options)`.
pub struct MaintainTask {
    dir: String,
    what: Maintenance,
    options: laptime_core::Options,
}

impl Task for MaintainTask {
    type Output = Vec<(PathBuf, Maintained)>;
    type JsValue = Vec<NativeMaintained>;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Self::Output> {
        errors::guarded(|| {
            Store::maintain(&self.dir, self.options.clone(), self.what).map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, done: Self::Output) -> napi::Result<Vec<NativeMaintained>> {
        Ok(done
            .into_iter()
            .map(|(dir, m)| {
                let partition = dir.to_string_lossy().into_owned();
                let mut notes = Vec::new();
                let (outcome, segments, events, bytes_freed) = match m {
                    Maintained::Busy => ("busy", 0, 0, 0),
                    Maintained::Repaired(r) => {
                        notes = repair_notes(&r);
                        ("repaired", r.segments, r.active_segment_events, 0)
                    }
                    Maintained::Compacted(r) => (
                        "compacted",
                        r.inputs,
                        r.events,
                        r.bytes_before.saturating_sub(r.bytes_after),
                    ),
                    Maintained::Retained(r) => ("retained", r.segments, r.events, r.bytes),
                };
                NativeMaintained {
                    partition,
                    outcome: outcome.into(),
                    segments: segments as f64,
                    events: events as f64,
                    bytes_freed: bytes_freed as f64,
                    notes,
                }
            })
            .collect())
    }
}

/// Compact (`what: 'compact'`) or apply the retention limits in `options` (`'retention'`) to every
/// partition of the store in `dir` that no process is writing.
#[napi(ts_return_type = "Promise<Array<NativeMaintained>>", catch_unwind)]
pub fn maintain(
    env: &Env,
    dir: String,
    what: String,
    options: Option<NativeOptions>,
) -> napi::Result<AsyncTask<MaintainTask>> {
    let what = match what.as_str() {
        "compact" => Maintenance::Compact,
        "retention" => Maintenance::Retention,
        "repair" => Maintenance::Repair,
        other => {
            return Err(Malformed(format!(
                "what must be 'compact', 'retention' or 'repair', got {other:?}"
            ))
            .throw(env))
        }
    };
    let options = options::to_core(&options.unwrap_or_default())?;
    Ok(AsyncTask::new(MaintainTask { dir, what, options }))
}
