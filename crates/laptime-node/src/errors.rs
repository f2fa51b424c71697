//! How failures reach JavaScript. Every error thrown or rejected with carries `err.code`: the core's
//! stable code (`ENOSPC`, `EIO`, `EACCES`, `CORRUPT`, `INVALID_OPTION`, `CLOSED`, ... see
//! `laptime_core::ErrorCode`) and the core's own message (option names spelled as JS spells them);
//! malformed input to a call becomes a `TypeError` with code `INVALID_INPUT` that names what is
//! wrong.
//!
//! napi's `Error` has no room for a code of ours (napi writes its `Status` name into `code`), and a
//! task's `compute` runs on a pool thread with no `Env` to build a JS error. So a core error travels
//! as a napi error whose `cause` holds just the code ([`from_core`]), and the JS thread turns it into
//! a JS `Error` with that `code` ([`coded`]): sync calls before returning, tasks in `reject`.

// The free `#[napi]` function is referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use laptime_core::ErrorCode;
use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, JsValue, Status};
use napi_derive::napi;

/// The JS spelling of an option the core names in an `InvalidOption` error.
pub(crate) fn js_option_name(core_name: &str) -> &str {
    match core_name {
        // The core checks `sync` only for the interval's range, and `overflow` only for the block
        // timeout: in JS those values are their own options.
        "sync" => "syncIntervalMs",
        "overflow" => "blockTimeoutMs",
        "ring_batches" => "ringBatches",
        "ring_bytes" => "ringBytes",
        "page_rows" => "pageRows",
        "page_max_age" => "pageMaxAgeMs",
        "segment_max_bytes" => "segmentMaxBytes",
        "segment_max_age" => "segmentMaxAgeMs",
        "bufferpool_bytes" => "bufferpoolBytes",
        "retention.max_age" => "retentionMaxAgeMs",
        "retention.max_bytes" => "retentionMaxBytes",
        other => other,
    }
}

/// A core error on its way to JS: the core's message, its code riding in `cause` until [`coded`].
pub(crate) fn from_core(err: laptime_core::Error) -> napi::Error {
    let code = err.code();
    let message = match err {
        laptime_core::Error::InvalidOption { option, reason } => {
            format!("invalid option `{}`: {reason}", js_option_name(option))
        }
        other => other.to_string(),
    };
    with_code(code, message)
}

/// An error with `message` and `code`, to be finished by [`coded`] on the JS thread.
pub(crate) fn with_code(code: ErrorCode, message: String) -> napi::Error {
    let mut err = napi::Error::new(Status::GenericFailure, message);
    err.set_cause(napi::Error::new(
        Status::GenericFailure,
        code.as_str().to_owned(),
    ));
    err
}

/// An option of the binding itself (not of the core) with an unusable value.
pub(crate) fn invalid_option(option: &str, reason: impl std::fmt::Display) -> napi::Error {
    with_code(
        ErrorCode::InvalidOption,
        format!("invalid option `{option}`: {reason}"),
    )
}

/// `work` (the engine's part of a call), with a panic in it made an error with code `INTERNAL`.
/// A panic must not unwind out of a pool thread's task or a sync call: napi calls both from C,
/// where an unwinding panic ends the process, and one bad query would take the host service
/// with it. (A time zone offset with a non-ASCII character did, until the fuzzer found it.)
pub(crate) fn guarded<T>(work: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(with_code(
                ErrorCode::Internal,
                format!(
                    "internal error in laptime (a bug; please report it): {what}. Only this call \
                     failed; the process goes on"
                ),
            ))
        }
    }
}

/// The code [`from_core`] put on `err`, if any.
fn code_in(err: &napi::Error) -> Option<ErrorCode> {
    let cause = err.cause.as_deref()?;
    ErrorCode::from_name(&cause.reason)
}

/// The JS error for `err`: an `Error` whose `code` is the core's code when `err` carries one,
/// else `err` unchanged. Only on the JS thread (sync calls, a task's `reject`).
pub(crate) fn coded(env: &Env, err: napi::Error) -> napi::Error {
    let Some(code) = code_in(&err) else {
        return err;
    };
    let reason = err.reason.clone();
    let made = env
        .create_error(napi::Error::new(Status::GenericFailure, reason.clone()))
        .and_then(|mut obj| {
            obj.set_named_property("code", code.as_str())?;
            Ok(obj)
        });
    match made {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        // The env is tearing down: nobody is left to read the code.
        Err(_) => napi::Error::from_reason(reason),
    }
}

/// [`coded`] for the result of a sync call.
pub(crate) fn on_js<T>(env: &Env, result: napi::Result<T>) -> napi::Result<T> {
    result.map_err(|e| coded(env, e))
}

/// Every `err.code` the engine gives, in the core's order (the TypeScript list is checked
/// against it).
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<String> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// The error every call on a closed store gets: the core's "store is closed", code `CLOSED`.
pub(crate) fn closed() -> napi::Error {
    from_core(laptime_core::Error::Closed)
}

/// Input a call cannot accept (wrong lengths, unknown codes, bad field columns), described for the caller.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl Malformed {
    /// Throw this as a JS `TypeError` with code `INVALID_INPUT`; the returned error tells napi the
    /// exception is pending.
    pub(crate) fn throw(self, env: &Env) -> napi::Error {
        let Malformed(message) = self;
        match env.throw_type_error(&message, Some(ErrorCode::InvalidInput.as_str())) {
            Ok(()) => napi::Error::new(Status::PendingException, message),
            // Could not throw a TypeError (the env is tearing down): let napi throw a plain Error.
            Err(_) => napi::Error::new(Status::InvalidArg, message),
        }
    }
}

impl From<laptime_core::Error> for Malformed {
    fn from(err: laptime_core::Error) -> Malformed {
        Malformed(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_rides_with_the_error() {
        let err = from_core(laptime_core::Error::Closed);
        assert_eq!(code_in(&err), Some(ErrorCode::Closed));
        assert_eq!(err.reason, "store is closed");
        let option = from_core(laptime_core::Error::invalid_option(
            "page_rows",
            "must be > 0",
        ));
        assert_eq!(code_in(&option), Some(ErrorCode::InvalidOption));
        assert!(option.reason.contains("`pageRows`"), "{}", option.reason);
        assert_eq!(code_in(&napi::Error::from_reason("other")), None);
    }

    /// The binding's source files and their text, for the tests that check a rule in each.
    fn sources() -> Vec<(std::path::PathBuf, String)> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        std::fs::read_dir(&src)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                (path, text)
            })
            .collect()
    }

    #[test]
    fn a_panic_in_guarded_work_is_an_internal_error() {
        let err =
            guarded(|| -> napi::Result<()> { panic!("bucket {} out of range", 7) }).unwrap_err();
        assert_eq!(code_in(&err), Some(ErrorCode::Internal));
        assert!(
            err.reason.contains("bucket 7 out of range"),
            "{}",
            err.reason
        );
        let err = guarded(|| -> napi::Result<()> { std::panic::panic_any(3u8) }).unwrap_err();
        assert!(
            err.reason.contains("a panic without a message"),
            "{}",
            err.reason
        );
        // Work that does not panic is passed through, errors and all.
        assert_eq!(guarded(|| Ok(5)).unwrap(), 5);
        let closed = guarded(|| -> napi::Result<()> { Err(closed()) }).unwrap_err();
        assert_eq!(code_in(&closed), Some(ErrorCode::Closed));
    }

    /// napi calls a task's `compute` and every exported function from C, where a panic ends the
    /// process: each `compute` runs its work in [`guarded`], and each exported function or
    /// method is marked `catch_unwind` (napi then throws a JS error instead).
    #[test]
    fn no_panic_reaches_napi() {
        for (path, text) in sources() {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for (i, line) in lines.iter().enumerate() {
                // The whole body: its first statement is the guard.
                if line.starts_with("fn compute(&mut self)") {
                    let first = lines.get(i + 1).copied().unwrap_or_default();
                    assert!(
                        first.starts_with("errors::guarded(||"),
                        "{}:{}: compute's body is not guarded",
                        path.display(),
                        i + 2
                    );
                }
                let napi = *line == "#[napi]" || line.starts_with("#[napi(");
                let next = lines[i + 1..]
                    .iter()
                    .find(|l| !l.starts_with("#[") && !l.starts_with("///"));
                let on_fn = next.is_some_and(|l| l.contains("fn "));
                assert!(
                    !napi || !on_fn || line.contains("catch_unwind"),
                    "{}:{}: {line} without catch_unwind",
                    path.display(),
                    i + 1
                );
            }
        }
    }

    /// A task that does not override `reject` would hand JS napi's own status as `code`: every
    /// `impl Task` in this crate must pass the core's code on.
    #[test]
    fn every_task_passes_the_code_on() {
        for (path, text) in sources() {
            let tasks = text.matches("impl Task for").count();
            let rejects = text.matches("Err(errors::coded(&env, err))").count()
                + text.matches("Err(coded(&env, err))").count();
            assert!(
                rejects >= tasks,
                "{}: {tasks} tasks, {rejects} coded rejects",
                path.display()
            );
        }
    }
}
