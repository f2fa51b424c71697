//! How failures reach JavaScript. Errors of the core become `Error`s whose message is the core's own
//! text (option names spelled as JS spells them); malformed input to a call becomes a `TypeError`
//! that names what is wrong.

use napi::{Env, JsTypeError, Status};

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
