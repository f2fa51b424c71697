//! How failures reach JavaScript. Errors of the core become `Error`s whose message is the core's own
//! text (option names spelled as JS spells them); malformed input to a call becomes a `TypeError`
//! that names what is wrong.

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, JsTypeError, JsValue, Status};

use crate::options::js_option_name;

/// A core error as a JS `Error` carrying the core's message.
pub(crate) fn from_core(err: laptime_core::Error) -> napi::Error {
    let message = match err {
        laptime_core::Error::InvalidOption { option, reason } => {
            format!("invalid option `{}`: {reason}", js_option_name(option))
        }
        other => other.to_string(),
    };
    napi::Error::from_reason(message)
}

/// The stable `code` JS sees on an error of the engine's writer: a full disk (recording resumes once
/// space is freed) or another write/sync failure; `None` for other errors.
pub(crate) fn code_of(err: &laptime_core::Error) -> Option<&'static str> {
    match err {
        laptime_core::Error::DiskFull { .. } => Some("LAPTIME_DISK_FULL"),
        laptime_core::Error::WriterFailed { .. } => Some("LAPTIME_WRITE_FAILED"),
        _ => None,
    }
}

/// A rejection carrying `code` as the JS error's `code` property (napi would put its own status
/// there).
pub(crate) fn with_code(env: &Env, err: napi::Error, code: &str) -> napi::Error {
    let reason = err.reason.clone();
    let made = env.create_error(err).and_then(|mut obj| {
        obj.set_named_property("code", code)?;
        Ok(obj)
    });
    match made {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(_) => napi::Error::from_reason(reason),
    }
}

/// The error every call on a closed store gets: the core's "store is closed".
pub(crate) fn closed() -> napi::Error {
    from_core(laptime_core::Error::Closed)
}

/// Input a call cannot accept (wrong lengths, unknown codes, bad extras), described for the caller.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl Malformed {
    /// Throw this as a JS `TypeError`; the returned error tells napi the exception is pending.
    pub(crate) fn throw(self, env: &Env) -> napi::Error {
        let Malformed(message) = self;
        let error = napi::Error::new(Status::InvalidArg, message.clone());
        match env.throw(JsTypeError::from(error)) {
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
